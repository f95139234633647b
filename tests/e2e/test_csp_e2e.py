"""The CSP in real Chromium: no page breaks it (the console reports every refused script, style or handler),
the scripts that replaced inline code still work, and the public demand form cannot be framed by another site."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.conftest import login
from web.models import Demand

pytestmark = pytest.mark.e2e
CSP_VIOLATION = re.compile(r"Content Security Policy|Refused to (execute|apply|load)", re.IGNORECASE)


def _watch_console(page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text)
            if CSP_VIOLATION.search(message.text) else None)
    return messages


def test_staff_pages_break_no_policy_and_sliders_still_show_their_value(page, live_server):
    violations = _watch_console(page)
    login(page)
    for path in ("/", "/workspace/", "/workspace/demands/", "/workspace/craftsmen/", "/workspace/rounds/",
                 "/workspace/engagements/", "/workspace/outcomes/", "/workspace/reports/",
                 "/workspace/reports/period", "/demand/new"):
        page.goto(path)
        page.wait_for_load_state("load")
    page.goto("/workspace/rounds/new")
    slider = page.locator("input[type=range]").first
    slider_id = slider.get_attribute("id")
    slider.fill("0.9")
    slider.dispatch_event("input")
    expect(page.locator(f"#{slider_id}-out")).to_have_text("0.9")
    assert violations == []


def test_the_receipt_prints_through_the_static_script(page, live_server):
    violations = _watch_console(page)
    with live_server.session() as session:
        code, phone = session.execute(sa.select(Demand.tracking_code, Demand.contact_phone)
                                      .order_by(Demand.id).limit(1)).one()
    page.add_init_script("window.print = function () { window.__printed = true; };")
    page.goto("/demand/track")  # the receipt is shown to a session that found the demand
    page.fill("input[name=tracking_code]", code)
    page.fill("input[name=last4]", phone[-4:])
    page.click("form [type=submit]")
    page.wait_for_load_state()
    page.goto(f"/demand/receipt/{code}")
    page.click("[data-print]")
    assert page.evaluate("window.__printed === true")
    assert violations == []


@pytest.fixture(scope="module")
def other_site():
    """Another site on this machine (localhost, its own port): it serves a page that frames ours."""

    class FramingPage(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            target = self.path.removeprefix("/frame?")
            body = f'<!doctype html><iframe id="victim" src="{target}" width="800" height="600"></iframe>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), FramingPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.mark.parametrize("path", ["/demand/new", "/auth/login"])
def test_forms_cannot_be_framed_by_another_site(page, live_server, other_site, path):
    page.goto(f"{other_site}/frame?{live_server.url}{path}")
    page.wait_for_timeout(1000)
    victim = next(frame for frame in page.frames if frame != page.main_frame)
    assert "csrf_token" not in victim.content()  # Chromium shows its error page instead of the form
