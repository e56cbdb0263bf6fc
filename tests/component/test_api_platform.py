"""The api function's platform behaviour: health, auth, error shape, unknown routes."""

from __future__ import annotations

from datetime import UTC, datetime

from perkflow import clock
from perkflow.clock import LocalClock
from tests.component.conftest import Aws
from tests.support import http_event, invoke, json_body, sample_event


def test_health_needs_no_auth_and_reports_the_function_clock(aws: Aws) -> None:
    clock.set_local_clock(LocalClock(frozen_at=datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)))

    response = invoke("api", sample_event("api/health"))

    assert response["statusCode"] == 200
    assert json_body(response) == {"status": "ok", "now": "2030-01-02T03:04:05.678Z"}


def test_unknown_route_answers_404_not_found_in_the_error_shape(aws: Aws) -> None:
    response = invoke("api", sample_event("api/unknown_route"))

    assert response["statusCode"] == 404
    body = json_body(response)
    assert body["code"] == 404
    assert body["key"] == "not_found"
    assert body["request_id"] == "JKJaXmPLvHcESHB="
    assert set(body) == {"code", "key", "message", "details", "request_id"}


def test_missing_or_wrong_credentials_answer_401_unauthorized(aws: Aws) -> None:
    for headers in (
        {},
        {"x-app-id": "app_test", "x-app-token": "wrong-token-000000000"},
        {"x-app-id": "other"},
    ):
        response = invoke("api", http_event("GET", "/v1/customers/x", headers=headers))

        assert response["statusCode"] == 401, headers
        assert json_body(response)["key"] == "unauthorized"
        assert "token" not in response["body"].lower()


def test_unknown_route_is_404_even_without_credentials(aws: Aws) -> None:
    response = invoke("api", http_event("POST", "/v1/nothing-here"))

    assert response["statusCode"] == 404
    assert json_body(response)["key"] == "not_found"
