"""The application as a visitor and a coordinator meet it: home page, language, login, errors, settings."""

from __future__ import annotations

import pytest

from tests.conftest import NOW, TEST_PASSWORD
from web.config import ConfigError, load_config
from web.services import seeding


def test_home_lists_pool_counts_in_chinese_and_switches_to_english(browser, session):
    seeding.load_demo(session, now=NOW)
    session.commit()

    chinese = browser.text("/")
    assert "劳模工匠资源库" in chinese and "企业需求库" in chinese and "创新成果库" in chinese
    assert "English" in chinese
    assert ">100<" in chinese.replace(" ", "")  # the demand pool

    english = browser.text("/?lang=en")
    assert "Craftsman resource pool" in english and "Enterprise demand pool" in english
    assert "中文" in english
    assert "Innovation outcome pool" in browser.text("/")  # the choice is remembered


def test_public_pages_show_no_phone_numbers(browser, session):
    seeding.load_demo(session, now=NOW)
    session.commit()
    page = browser.text("/")
    import re

    assert re.search(r"1[3-9]\d{9}", page) is None


def test_workspace_needs_login_and_login_works(browser, make_user):
    assert browser.get("/workspace/").status_code == 302
    make_user("coord", "coordinator")

    wrong = browser.login("coord", "not-the-password")
    assert wrong.status_code == 200 and "用户名或密码错误" in wrong.get_data(as_text=True)

    right = browser.login("coord", TEST_PASSWORD)
    assert right.status_code == 302 and right.headers["Location"].endswith("/workspace/")
    assert "工作台" in browser.text("/workspace/")


def test_login_refuses_a_post_without_csrf_token(browser, make_user):
    make_user("coord", "coordinator")
    response = browser.client.post("/auth/login", data={"username": "coord", "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    assert browser.get("/workspace/").status_code == 302  # not logged in


def test_login_does_not_redirect_off_site(browser, make_user):
    make_user("coord", "coordinator")
    token = browser.csrf_token("/auth/login")
    response = browser.client.post("/auth/login?next=https://evil.example/x",
                                   data={"username": "coord", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.headers["Location"].endswith("/workspace/")


def test_unknown_page_is_a_friendly_404_and_api_errors_are_json(browser):
    page = browser.get("/no-such-page")
    assert page.status_code == 404 and "页面不存在" in page.get_data(as_text=True)
    api = browser.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert set(api.json) == {"code", "status", "message", "errors"}


def test_api_reports_pool_counts(browser, session):
    seeding.load_demo(session, now=NOW)
    session.commit()
    counts = browser.get("/api/v1/pools").json
    assert counts["demands"] == 100 and counts["enterprises"] == 60


def test_production_refuses_the_development_secret(monkeypatch):
    monkeypatch.setenv("CRAFTMATCH_ENV", "production")
    monkeypatch.delenv("CRAFTMATCH_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="CRAFTMATCH_SECRET_KEY"):
        load_config()
    monkeypatch.setenv("CRAFTMATCH_SECRET_KEY", "x" * 48)
    config = load_config()
    assert config["SESSION_COOKIE_SECURE"] is True


def test_every_page_names_an_icon_that_is_served(browser):
    # Without one a browser asks for /favicon.ico on every page: a 404 in the log and the console each time.
    import re

    for url in ("/", "/demand/new", "/auth/login"):
        page = browser.text(url)
        icon = re.search(r'<link rel="icon"[^>]*href="([^"]+)"', page)
        assert icon, url
        with browser.get(icon.group(1)) as served:
            assert served.status_code == 200 and served.mimetype == "image/svg+xml"
