"""Schemathesis against the app's own OpenAPI document: whatever a client sends, the API never answers 5xx,
and every documented JSON response matches its schema. Runs on each backend; writes roll back."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES_PER_OPERATION = 40


def test_the_api_never_answers_a_server_error(app, connection, api_token):
    # schemathesis' own pytest plugin does not run under pytest 9 yet, so each operation gets a hypothesis run
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/api/v1/solve", "/api/v1/pools"}
    for operation in operations:

        @given(case=operation.as_strategy())
        # derandomized in CI, exploring on a developer's machine: the profile decides (tests/conftest.py)
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case) -> None:
            headers = {"Authorization": f"Bearer {api_token}"}
            case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])

        call()
