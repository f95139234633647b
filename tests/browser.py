"""A thin user-like wrapper over Flask's test client: reads the CSRF token from the page, as a browser does."""

from __future__ import annotations

import html
import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


class Browser:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.client.get(url, **kwargs)

    def csrf_token(self, page_url: str) -> str:
        page = self.client.get(page_url)
        match = _CSRF_INPUT.search(page.get_data(as_text=True))
        assert match, f"no CSRF token on {page_url} (status {page.status_code})"
        return html.unescape(match.group(1) or match.group(2))

    def submit(self, url: str, data: dict[str, Any] | None = None, *, form_url: str | None = None,
               follow_redirects: bool = False, **kwargs: Any) -> TestResponse:
        """POST ``data`` to ``url`` with the CSRF token of the page at ``form_url`` (default: ``url``)."""
        payload = dict(data or {})
        payload.setdefault("csrf_token", self.csrf_token(form_url or url))
        return self.client.post(url, data=payload, follow_redirects=follow_redirects, **kwargs)

    def login(self, username: str, password: str) -> TestResponse:
        return self.submit("/auth/login", {"username": username, "password": password})

    def text(self, url: str) -> str:
        response = self.get(url)
        assert response.status_code == 200, f"GET {url} → {response.status_code}"
        return response.get_data(as_text=True)
