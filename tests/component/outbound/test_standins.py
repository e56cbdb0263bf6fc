"""The stand-ins refuse what the real services refuse (otherwise a green test would prove nothing)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest
import requests

from perkflow.domain.outbound.security import code_challenge
from tests.component.outbound.conftest import StandIns, query_of

JSON_API = "application/vnd.api+json"


@pytest.fixture
def fresh(standins: StandIns) -> StandIns:
    for standin in standins.all():
        standin.reset()
    return standins


def klaviyo_event(unique_id: str = "u1", email: str = "a@example.com") -> dict[str, Any]:
    return {"data": {"type": "event", "attributes": {
        "properties": {}, "unique_id": unique_id, "time": "2026-11-24T09:00:00Z",
        "metric": {"data": {"type": "metric", "attributes": {"name": "Points Earned"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}}}}}  # fmt: skip


def klaviyo_post(fresh: StandIns, body: Any, **headers: str) -> requests.Response:
    sent = {"revision": "2026-07-15", "Content-Type": JSON_API,
            "Authorization": f"Klaviyo-API-Key {fresh.klaviyo.api_key}", **headers}  # fmt: skip
    sent = {name: value for name, value in sent.items() if value}
    return requests.post(fresh.klaviyo.url + "/api/events", data=json.dumps(body), headers=sent, timeout=5)


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"revision": ""}, 400, "missing_revision"),
        ({"revision": "2023-01-01"}, 400, "invalid_revision"),
        ({"Content-Type": "application/json"}, 415, "unsupported_media_type"),
        ({"Authorization": ""}, 401, "not_authenticated"),
        ({"Authorization": "Klaviyo-API-Key pk_nope"}, 401, "authentication_failed"),
        ({"Authorization": "Bearer not-a-token"}, 401, "authentication_failed"),
    ],
)
def test_klaviyo_refuses_bad_requests(fresh: StandIns, headers: dict[str, str], status: int, code: str) -> None:
    response = klaviyo_post(fresh, klaviyo_event(), **headers)

    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == code


def test_klaviyo_validates_bodies_against_its_openapi_document(fresh: StandIns) -> None:
    body = klaviyo_event()
    del body["data"]["attributes"]["metric"]

    response = klaviyo_post(fresh, body)

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["source"]["pointer"] == "/data/attributes"
    assert "'metric' is a required property" in error["detail"]


def test_klaviyo_keeps_the_first_of_a_repeated_unique_id(fresh: StandIns) -> None:
    assert klaviyo_post(fresh, klaviyo_event("same")).status_code == 202
    assert klaviyo_post(fresh, klaviyo_event("same")).status_code == 202

    state = fresh.klaviyo.state()
    assert (len(state["accepted"]), state["duplicates"]) == (1, 1)


def test_klaviyo_throttles_by_tier_with_retry_after(fresh: StandIns) -> None:
    requests.post(fresh.klaviyo.url + "/_standin/limits", json={"tiers": {"create_event": [2, 100]}}, timeout=5)

    answers = [klaviyo_post(fresh, klaviyo_event(f"u{n}")) for n in range(3)]

    assert [answer.status_code for answer in answers[:2]] == [202, 202]
    assert answers[0].headers["RateLimit-Limit"] == "100"
    assert answers[1].headers["RateLimit-Remaining"] == "98"
    assert answers[2].status_code == 429
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert "RateLimit-Remaining" not in answers[2].headers


def _authorize(fresh: StandIns, verifier: str, **overrides: str) -> requests.Response:
    query = {"response_type": "code", "client_id": fresh.klaviyo.client_id, "state": "s1",
             "redirect_uri": "http://127.0.0.1:9/v1/integrations/klaviyo/callback", "scope": "events:write",
             "code_challenge": code_challenge(verifier), "code_challenge_method": "S256", **overrides}  # fmt: skip
    return requests.get(fresh.klaviyo.url + "/oauth/authorize", params=query, allow_redirects=False, timeout=5)


def _token(fresh: StandIns, form: dict[str, str], client_secret: str | None = None) -> requests.Response:
    secret = client_secret or fresh.klaviyo.client_secret
    return requests.post(
        fresh.klaviyo.url + "/oauth/token", data=form, auth=(fresh.klaviyo.client_id, secret), timeout=5
    )


def test_the_oauth_server_verifies_pkce_and_rotates_refresh_tokens(fresh: StandIns) -> None:
    verifier = "v" * 64
    code = query_of(_authorize(fresh, verifier).headers["Location"])["code"]
    redirect = "http://127.0.0.1:9/v1/integrations/klaviyo/callback"
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}

    wrong = _token(fresh, {**exchange, "code_verifier": "w" * 64})
    assert (wrong.status_code, wrong.json()["error_description"]) == (400, "Code challenge failed.")
    code = query_of(_authorize(fresh, verifier).headers["Location"])["code"]  # a refused exchange used it up
    short = _token(fresh, {**exchange, "code": code, "code_verifier": "short"})
    assert short.json()["error_description"] == 'Invalid "code_verifier"'
    code = query_of(_authorize(fresh, verifier).headers["Location"])["code"]
    assert _token(fresh, {**exchange, "code": code, "code_verifier": verifier}, client_secret="nope").status_code == 401
    code = query_of(_authorize(fresh, verifier).headers["Location"])["code"]
    granted = _token(fresh, {**exchange, "code": code, "code_verifier": verifier}).json()
    assert granted["token_type"] == "Bearer"

    rotated = _token(fresh, {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]}).json()
    reused = _token(fresh, {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]})

    assert rotated["refresh_token"] != granted["refresh_token"]
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert klaviyo_post(fresh, klaviyo_event(), Authorization=f"Bearer {granted['access_token']}").status_code == 401
    assert klaviyo_post(fresh, klaviyo_event(), Authorization=f"Bearer {rotated['access_token']}").status_code == 202
    json_body = requests.post(
        fresh.klaviyo.url + "/oauth/token", json={"grant_type": "refresh_token"},
        auth=(fresh.klaviyo.client_id, fresh.klaviyo.client_secret), timeout=5,
    )  # fmt: skip
    assert json_body.json()["error"] == "invalid_grant_type"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "everything:write"}, "invalid_scope"),
        ({"state": ""}, "invalid_request"),
    ],
)
def test_the_authorize_endpoint_checks_its_parameters(fresh: StandIns, overrides: dict[str, str], error: str) -> None:
    location = _authorize(fresh, "v" * 64, **overrides).headers["Location"]

    assert query_of(location)["error"] == error


def test_a_token_without_the_scope_is_forbidden(fresh: StandIns) -> None:
    verifier = "v" * 64
    code = query_of(_authorize(fresh, verifier, scope="profiles:read").headers["Location"])["code"]
    granted = _token(fresh, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                             "redirect_uri": "http://127.0.0.1:9/v1/integrations/klaviyo/callback"}).json()  # fmt: skip

    response = klaviyo_post(fresh, klaviyo_event(), Authorization=f"Bearer {granted['access_token']}")

    assert (response.status_code, response.json()["errors"][0]["code"]) == (403, "permission_denied")


def _segment(fresh: StandIns, body: Any, key: str | None = None, **headers: str) -> requests.Response:
    token = base64.b64encode(f"{key or fresh.segment.write_key}:".encode()).decode()
    sent = {"Content-Type": "application/json", "Authorization": f"Basic {token}", **headers}
    return requests.post(fresh.segment.url + "/v1/batch", data=json.dumps(body), headers=sent, timeout=5)


def test_segment_checks_the_write_key_and_sizes(fresh: StandIns) -> None:
    track = {"type": "track", "userId": "u", "event": "E", "messageId": "m1"}

    assert _segment(fresh, {"batch": [track]}, key="wrong").status_code == 401
    assert _segment(fresh, {"batch": [{**track, "properties": {"x": "y" * 33_000}}]}).status_code == 400
    assert _segment(fresh, {"batch": [track] * 600, "pad": "z" * 500_000}).status_code == 400
    assert _segment(fresh, {"batch": [track]}, **{"Content-Type": "text/plain"}).status_code == 400
    assert _segment(fresh, {"batch": [track, track, {"type": "track", "userId": "u", "messageId": "m2"}]}).ok

    state = fresh.segment.state()
    assert (len(state["accepted"]), state["duplicates"]) == (1, 1)
    assert [drop["reason"] for drop in state["dropped"]] == ["missing_event"]


def test_segment_throttles_with_retry_after(fresh: StandIns) -> None:
    requests.post(fresh.segment.url + "/_standin/limits", json={"requests_per_second": 1}, timeout=5)

    first, second = _segment(fresh, {"batch": []}), _segment(fresh, {"batch": []})

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["Retry-After"] == second.headers["X-RateLimit-Reset"]


def test_the_webhook_receiver_checks_signature_and_compactness(fresh: StandIns) -> None:
    secret = fresh.webhook.secret.encode()
    envelope = {"id": "evt_1", "type": "t", "created_at": "x", "data": {}, "event": {"id": "evt_1"}}
    compact = json.dumps(envelope, separators=(",", ":")).encode()
    spaced = json.dumps(envelope).encode()

    def post(body: bytes, signature: str) -> int:
        headers = {"Content-Type": "application/json", "x-voucherify-signature": signature}
        return requests.post(fresh.webhook.url, data=body, headers=headers, timeout=5).status_code

    def sign(body: bytes) -> str:
        import hmac

        return hmac.new(secret, body, hashlib.sha256).hexdigest()

    assert post(compact, "0" * 64) == 401
    assert post(spaced, sign(spaced)) == 400
    assert post(compact, sign(compact)) == 200
    assert post(compact, sign(compact)) == 200
    assert (len(fresh.webhook.state()["accepted"]), fresh.webhook.state()["duplicates"]) == (1, 1)


def test_an_injected_timeout_accepts_first_and_answers_late(fresh: StandIns) -> None:
    fresh.segment.faults.configure({"every": 1, "kinds": ["timeout"], "stall_seconds": 1.5, "limit": 1})
    started = time.monotonic()

    with pytest.raises(requests.Timeout):
        _segment_with_timeout(fresh)

    assert time.monotonic() - started < 1.4
    assert len(fresh.segment.state()["accepted"]) == 1


def _segment_with_timeout(fresh: StandIns) -> None:
    token = base64.b64encode(f"{fresh.segment.write_key}:".encode()).decode()
    requests.post(
        fresh.segment.url + "/v1/batch",
        data=json.dumps({"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "t1"}]}),
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
        timeout=0.5,
    )
