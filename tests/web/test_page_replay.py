"""A visitor's fresh public form, replayed without Flask's request cycle (``web.views.page_replay``): the same
answer Flask gives, with each visitor's own CSRF token and a new one-time key; anything unusual goes to Flask."""

from __future__ import annotations

import gzip
import html
import re
from contextlib import contextmanager

import brotli
import pytest
from backports import zstd
from flask import Flask, request_started
from werkzeug.test import Client

from tests.browser import Browser
from tests.web.test_intake_service import valid_demand_data
from web.services import reference
from web.views import page_replay
from web.views.page_replay import VisitorPageReplay

NEW = "/demand/new"
GZIP = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what browsers (and bench_web's client) send
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_KEY = re.compile(r'name="submission_key" type="hidden" value="([^"]+)"')


@pytest.fixture()
def replay_app(app):
    """The app with the production reference cache and a replay that has seen nothing yet."""
    app.config["REFERENCE_CACHE_SECONDS"] = 3600
    reference.invalidate()
    app.wsgi_app.forget()
    yield app
    app.wsgi_app.forget()
    reference.invalidate()
    del app.config["REFERENCE_CACHE_SECONDS"]


@contextmanager
def flask_requests(app: Flask):
    """The requests Flask itself handled while inside (the replay sends no request_started)."""
    seen: list[str] = []
    with request_started.connected_to(lambda _app, **_extra: seen.append("flask"), app):
        yield seen


DECODERS = {"gzip": gzip.decompress, "br": brotli.decompress, "zstd": zstd.decompress, None: bytes}


def _page(response) -> str:
    """The page as the browser reads it (Flask-Compress picks zstd or brotli for a page rendered live)."""
    return DECODERS[response.headers.get("Content-Encoding")](response.data).decode()


def _without_tokens(page: str) -> str:
    return re.sub(r'value="[^"]{20,}"', 'value="…"', page)


def _warm(app: Flask, browser: Browser, *, first_visit: bool = True):
    """A visitor's first page sets its session; Flask answers the next two alike: the third is replayed."""
    flask_answers = 3 if first_visit else 2
    with flask_requests(app) as handled:
        answers = [browser.get(NEW, headers=GZIP) for _ in range(flask_answers + 1)]
    assert handled == ["flask"] * flask_answers
    return answers


def test_a_replayed_page_is_flasks_answer_with_its_own_token_and_key(replay_app, browser):
    *_, from_flask, replayed = _warm(replay_app, browser)
    assert replayed.status == from_flask.status == "200 OK"
    assert replayed.headers == from_flask.headers  # security, caching and encoding headers, length
    assert replayed.headers["Content-Encoding"] == "gzip" and replayed.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in replayed.headers and "Set-Cookie" not in replayed.headers
    pages = [_page(from_flask), _page(replayed)]
    assert _without_tokens(pages[0]) == _without_tokens(pages[1])
    assert len({_KEY.search(page).group(1) for page in pages}) == 2
    with flask_requests(replay_app) as handled:
        again = [_page(browser.get(NEW, headers=GZIP)) for _ in range(2)]
    assert handled == []
    assert len({_KEY.search(page).group(1) for page in pages + again}) == 4


def test_a_replayed_page_carries_this_visitors_token_never_anothers(replay_app, browser):
    _warm(replay_app, browser)
    other = Browser(replay_app.test_client())
    other.get(NEW, headers=GZIP)  # its session, with its own CSRF secret
    with flask_requests(replay_app) as handled:
        mine, theirs = _page(browser.get(NEW, headers=GZIP)), _page(other.get(NEW, headers=GZIP))
    assert handled == []  # both replayed: the answer is shared, the tokens are not
    my_token, their_token = (html.unescape(_TOKEN.search(page).group(1)) for page in (mine, theirs))
    assert my_token not in theirs and _KEY.search(mine).group(1) not in theirs

    def send(visitor: Browser, token: str, key: str) -> int:
        data = valid_demand_data(csrf_token=token, submission_key=key)
        return visitor.client.post(NEW, data=data).status_code

    assert send(other, my_token, "replay-test-key-1") == 400  # another session's token is refused
    assert send(browser, their_token, "replay-test-key-2") == 400
    assert send(browser, my_token, _KEY.search(mine).group(1)) == 303  # its own is accepted
    assert send(other, their_token, _KEY.search(theirs).group(1)) == 303


def test_each_locale_and_encoding_is_learnt_apart(replay_app, browser):
    *_, replayed = _warm(replay_app, browser)
    assert 'lang="zh' in _page(replayed)
    assert "Submit a demand" in browser.text(NEW + "?lang=en")  # remembered in the session: a new cookie
    *_, english = _warm(replay_app, browser, first_visit=False)
    assert "Submit a demand" in _page(english)
    for encoding in ("br", "identity"):  # Flask-Compress's brotli is never replayed; plain text is
        with flask_requests(replay_app) as handled:
            answers = [browser.get(NEW, headers={"Accept-Encoding": encoding}) for _ in range(3)]
        assert {response.headers.get("Content-Encoding") for response in answers} == {
            None if encoding == "identity" else encoding}
        assert handled == ["flask"] * (3 if encoding == "br" else 2)


def test_what_is_not_a_plain_visitors_fresh_form_goes_to_flask(replay_app, browser, coordinator_browser):
    visitor = Browser(replay_app.test_client())
    _warm(replay_app, visitor)
    with flask_requests(replay_app) as handled:
        visitor.get(NEW + "?x=1", headers=GZIP)
        visitor.get(NEW, headers={**GZIP, "Authorization": "Bearer something"})
        visitor.client.set_cookie("other", "1")
        visitor.get(NEW, headers=GZIP)
    assert handled == ["flask"] * 3
    visitor.client.delete_cookie("other")

    with flask_requests(replay_app) as handled:  # a logged-in user's session holds more than a CSRF secret
        for _ in range(4):
            assert "/auth/logout" in _page(coordinator_browser.get(NEW, headers=GZIP))
    assert handled == ["flask"] * 4

    with visitor.client.session_transaction() as session:
        session["_flashes"] = [("info", "A message for this visitor only")]
    with flask_requests(replay_app) as handled:
        assert "A message for this visitor only" in _page(visitor.get(NEW, headers=GZIP))
    assert handled == ["flask"]

    visitor.client.set_cookie("session", "forged.value.signature")
    with flask_requests(replay_app) as handled:
        response = visitor.get(NEW, headers=GZIP)
    assert handled == ["flask"] and "Set-Cookie" in response.headers  # Flask starts a new session


def test_stale_reference_data_or_an_expired_session_goes_to_flask(replay_app, browser, monkeypatch):
    _warm(replay_app, browser)
    replay_app.config["REFERENCE_CACHE_SECONDS"] = 0  # to be checked on every request: Flask checks it
    with flask_requests(replay_app) as handled:
        browser.get(NEW, headers=GZIP)
    assert handled == ["flask"]
    replay_app.config["REFERENCE_CACHE_SECONDS"] = 3600
    with flask_requests(replay_app) as handled:
        browser.get(NEW, headers=GZIP)
    assert handled == []

    lifetime = replay_app.permanent_session_lifetime.total_seconds()
    later = page_replay.time.time() + lifetime + 5
    monkeypatch.setattr(page_replay.time, "time", lambda: later)
    with flask_requests(replay_app) as handled:
        browser.get(NEW, headers=GZIP)
    assert handled == ["flask"]


def test_an_answer_whose_headers_change_is_never_replayed(replay_app, browser):
    """A hook whose header differs from one response to the next (here a counter) keeps every request in Flask."""
    numbers = iter(range(1000))

    def numbered(environ, start_response):
        def respond(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Number", str(next(numbers)))], exc_info)

        return Flask.wsgi_app(replay_app, environ, respond)

    client = Client(VisitorPageReplay(replay_app, numbered))
    with flask_requests(replay_app) as handled:
        answers = [client.get(NEW, headers=GZIP, base_url="http://localhost") for _ in range(5)]
    assert handled == ["flask"] * 5
    assert [response.headers["X-Number"] for response in answers] == ["0", "1", "2", "3", "4"]
