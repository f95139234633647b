"""POST /api/v1/solve: the craftmatch solve JSON over HTTP, with token auth, a size limit and clear 4xx."""

from __future__ import annotations

import json

import pytest

PROBLEM = {
    "craftsmen": [{"id": "c1", "capacity": 1}, {"id": "c2", "capacity": 1}],
    "demands": [{"id": "d1", "slots": 1}, {"id": "d2", "slots": 1, "priority": 2.0}],
    "scores": [{"craftsman": "c1", "demand": "d1", "score": 0.9}, {"craftsman": "c1", "demand": "d2", "score": 0.8},
               {"craftsman": "c2", "demand": "d1", "score": 0.5}],
}


@pytest.fixture()
def token(api_token):
    return api_token


def _post(browser, body, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return browser.client.post("/api/v1/solve", data=data, headers=headers,
                               content_type=kwargs.pop("content_type", "application/json"), **kwargs)


def test_solves_the_json_problem(browser, token):
    response = _post(browser, PROBLEM, token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "optimal"
    assert {(a["craftsman"], a["demand"]) for a in body["assignments"]} == {("c1", "d2"), ("c2", "d1")}
    assert body["objective"] == pytest.approx(2.0 * 0.8 + 0.5)


def test_needs_a_valid_token(browser, token):
    for header_token in (None, "cm_wrong"):
        response = _post(browser, PROBLEM, header_token)
        assert response.status_code == 401
        assert response.get_json()["status"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_malformed_problem_names_the_field(browser, token):
    bad = dict(PROBLEM, scores=[{"craftsman": "c1", "demand": "d9", "score": 0.5}])
    response = _post(browser, bad, token)
    assert response.status_code == 422
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == 422
    assert "scores[0]" in json.dumps(body["errors"])
    assert _post(browser, "{not json", token).status_code == 400  # unreadable body: 400 on every API route
    assert _post(browser, PROBLEM, token, content_type="text/plain").status_code == 415


def test_size_limit(app, browser, token):
    app.config["SOLVE_MAX_BYTES"] = 200
    try:
        response = _post(browser, PROBLEM, token)
    finally:
        app.config.pop("SOLVE_MAX_BYTES")
    assert response.status_code == 413 and response.get_json()["status"] == "too_large"
