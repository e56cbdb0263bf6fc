"""Klaviyo over OAuth 2 (authorization code + PKCE S256) and with a private API key, against the stand-in's
OAuth server and API."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest
import requests

from perkflow.config import get_outbound_settings
from perkflow.domain.events import DomainEvent
from perkflow.outbound_wiring import OutboundWiring
from perkflow.services.outbound import klaviyo_auth
from perkflow.services.outbound.delivery import QueuedMessage
from perkflow.wiring import table
from tests.component.outbound.conftest import Outbound, envelope, query_of
from tests.component.outbound.test_delivery import MICHAEL, points

SCOPES = "accounts:read events:write profiles:read profiles:write lists:write"


def stored_tokens() -> dict[str, Any]:
    arn = str(get_outbound_settings().tokens_secret)
    return dict(json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]))


def klaviyo_status(outbound: Outbound) -> dict[str, Any]:
    status, body = outbound.api("GET", "/v1/integrations/klaviyo")
    assert status == 200
    return dict(body)


def test_connect_gives_an_authorize_url_with_pkce_and_a_single_use_state(outbound: Outbound) -> None:
    status, body = outbound.api("POST", "/v1/integrations/klaviyo/connect")

    assert status == 200
    query = query_of(body["authorize_url"])
    assert body["authorize_url"].startswith(outbound.standins.klaviyo.url + "/oauth/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == outbound.standins.klaviyo.client_id
    assert query["redirect_uri"] == "http://127.0.0.1:3000/v1/integrations/klaviyo/callback"
    assert query["scope"] == SCOPES
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32
    assert "code_verifier" not in query


def test_the_callback_exchanges_the_code_and_keeps_tokens_only_in_secrets_manager(outbound: Outbound) -> None:
    connected = outbound.connect_klaviyo()

    assert connected["status"] == "connected"
    assert connected["auth"] == "oauth"
    assert connected["scope"] == " ".join(sorted(SCOPES.split()))
    tokens = stored_tokens()
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    assert outbound.standins.klaviyo.state()["oauth"]["exchanges"] == 1
    everything = json.dumps(boto3.client("dynamodb").scan(TableName=outbound.aws.table_name)["Items"])
    assert tokens["access_token"] not in everything
    assert tokens["refresh_token"] not in everything
    assert "verifier" not in everything  # the pending authorisation was taken by the callback


def test_a_state_works_once_and_an_unknown_one_never(outbound: Outbound) -> None:
    _, body = outbound.api("POST", "/v1/integrations/klaviyo/connect")
    consent = requests.get(body["authorize_url"], allow_redirects=False, timeout=5)
    callback = consent.headers["Location"].split("?", 1)[1]

    first, _ = outbound.api("GET", "/v1/integrations/klaviyo/callback", auth=False, query=callback)
    again, refused = outbound.api("GET", "/v1/integrations/klaviyo/callback", auth=False, query=callback)
    forged, unknown = outbound.api(
        "GET", "/v1/integrations/klaviyo/callback", auth=False, query="code=abc&state=forged-state-value"
    )

    assert first == 200
    assert (again, refused["key"]) == (400, "invalid_state")
    assert (forged, unknown["key"]) == (400, "invalid_state")


def test_a_declined_consent_is_reported(outbound: Outbound) -> None:
    requests.post(outbound.standins.klaviyo.url + "/_standin/oauth", json={"deny": True}, timeout=5)
    _, body = outbound.api("POST", "/v1/integrations/klaviyo/connect")
    consent = requests.get(body["authorize_url"], allow_redirects=False, timeout=5)

    status, refused = outbound.api(
        "GET", "/v1/integrations/klaviyo/callback", auth=False, query=consent.headers["Location"].split("?", 1)[1]
    )

    assert (status, refused["key"]) == (400, "authorization_denied")
    assert klaviyo_status(outbound)["status"] == "not_connected"


def test_a_token_close_to_expiry_is_refreshed_before_the_call(
    outbound: Outbound, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbound.connect_klaviyo()
    before = stored_tokens()
    # The hour-long token is now "within the refresh margin" (2 minutes in production).
    monkeypatch.setattr(klaviyo_auth, "REFRESH_MARGIN_SECONDS", 3601)

    assert outbound.invoke("klaviyo", [points(1)]) == {"batchItemFailures": []}

    state = outbound.standins.klaviyo.state()
    assert state["oauth"]["refreshes"] == 1
    assert [event["unique_id"] for event in state["accepted"]] == ["evt_points_cust_michael_1"]
    after = stored_tokens()
    assert after["refresh_token"] != before["refresh_token"]  # the rotated one is what is kept
    assert after["version"] == before["version"] + 1


def test_a_401_is_answered_by_one_refresh(outbound: Outbound) -> None:
    outbound.connect_klaviyo()
    requests.post(outbound.standins.klaviyo.url + "/_standin/expire-tokens", timeout=5)

    assert outbound.invoke("klaviyo", [points(1), points(2)]) == {"batchItemFailures": []}

    state = outbound.standins.klaviyo.state()
    assert state["oauth"]["refreshes"] == 1
    assert len(state["accepted"]) == 2
    assert state["statuses"]["401"] == 1


def _container(outbound: Outbound) -> OutboundWiring:
    """A fresh set of outbound components: another Lambda container with its own caches."""
    return OutboundWiring(table(), get_outbound_settings())


def test_concurrent_containers_refresh_an_expired_token_once(outbound: Outbound) -> None:
    outbound.connect_klaviyo()
    outbound.invoke("klaviyo", [points(0)])  # warm: every container would hold this token
    requests.post(outbound.standins.klaviyo.url + "/_standin/expire-tokens", timeout=5)
    containers = [_container(outbound) for _ in range(6)]
    results: list[Any] = []
    start = threading.Barrier(len(containers))

    def run(index: int, container: OutboundWiring) -> None:
        event: DomainEvent = points(10 + index)
        message = QueuedMessage(f"m{index}", json.dumps(envelope(event)))
        start.wait()
        results.append(container.delivery.deliver("klaviyo", [message], deadline=container.timer.time() + 20))

    threads = [threading.Thread(target=run, args=item) for item in enumerate(containers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    state = outbound.standins.klaviyo.state()
    assert state["oauth"]["refreshes"] == 1
    assert state["oauth"]["refused_refreshes"] == 0  # nobody used a rotated refresh token
    assert all(report.retry == [] for report in results)
    assert len(state["accepted"]) == 7
    assert klaviyo_status(outbound)["status"] == "connected"


def test_a_refused_refresh_pauses_klaviyo_until_reconnected(outbound: Outbound) -> None:
    outbound.connect_klaviyo()
    klaviyo = outbound.standins.klaviyo
    requests.post(klaviyo.url + "/oauth/revoke", data={"token": stored_tokens()["refresh_token"]},
                  auth=(klaviyo.client_id, klaviyo.client_secret), timeout=5)  # fmt: skip
    requests.post(klaviyo.url + "/_standin/expire-tokens", timeout=5)

    assert outbound.invoke("klaviyo", [points(1), points(2)]) == {"batchItemFailures": []}
    assert outbound.invoke("segment", [points(1)]) == {"batchItemFailures": []}

    status = klaviyo_status(outbound)
    assert status["status"] == "authorization_lost"
    assert status["delivery"] == "paused"
    assert status["waiting"] == 2
    assert "invalid_grant" in status["reason"]
    assert len(outbound.standins.segment.state()["accepted"]) == 2  # Segment went on
    outbound.connect_klaviyo()
    outbound.run_queue("klaviyo")
    assert sorted(event["unique_id"] for event in klaviyo.state()["accepted"]) == [
        "evt_points_cust_michael_1",
        "evt_points_cust_michael_2",
    ]
    assert klaviyo_status(outbound)["waiting"] == 0


def test_disconnect_revokes_and_later_events_wait(outbound: Outbound) -> None:
    outbound.connect_klaviyo()

    status, body = outbound.api("DELETE", "/v1/integrations/klaviyo")

    assert status == 200
    assert body["status"] == "disconnected"
    assert outbound.standins.klaviyo.state()["oauth"]["revocations"] == 1
    assert stored_tokens() == {}
    outbound.invoke("klaviyo", [points(1)])
    assert klaviyo_status(outbound)["waiting"] == 1
    assert outbound.standins.klaviyo.state()["accepted"] == []


def test_a_private_api_key_works_and_a_refused_one_pauses(outbound: Outbound) -> None:
    klaviyo = outbound.standins.klaviyo
    outbound.api("PUT", "/v1/destinations/klaviyo", {"api_key": "pk_wrong"})

    outbound.invoke("klaviyo", [points(1)])
    status = klaviyo_status(outbound)
    assert (status["status"], status["reason"], status["waiting"]) == ("authorization_lost", "api_key_refused", 1)

    code, destination = outbound.api("PUT", "/v1/destinations/klaviyo", {"api_key": klaviyo.api_key})
    assert code == 200
    assert destination["api_key_set"] is True
    assert klaviyo.api_key not in json.dumps(destination)
    outbound.run_queue("klaviyo")
    outbound.invoke("klaviyo", [points(2, customer=MICHAEL)])
    assert sorted(event["unique_id"] for event in klaviyo.state()["accepted"]) == [
        "evt_points_cust_michael_1",
        "evt_points_cust_michael_2",
    ]
    keyed = [request for request in klaviyo.requests() if request["path"] == "/api/events"]
    assert {request["headers"]["authorization"] for request in keyed} == {"Klaviyo-API-Key ***"}


def test_no_credential_reaches_the_captured_logs(
    outbound: Outbound, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # Lambda's root logger sits at WARNING; the functions' own loggers at the stack's LogLevel, up to DEBUG.
    caplog.set_level("INFO")
    for name in ("api", "outbound", "ingest", "test"):
        caplog.set_level("DEBUG", logger=name)
    outbound.connect_klaviyo()
    requests.post(outbound.standins.klaviyo.url + "/_standin/expire-tokens", timeout=5)
    outbound.standins.webhook.faults.configure({"fail_matching": "evt_sample_tier", "status": 400})
    for destination in ("segment", "klaviyo", "webhook"):
        outbound.invoke(destination)
    outbound.api("PUT", "/v1/destinations/segment", {"write_key": "wk_a-new-write-key-for-this-test"})
    outbound.api("DELETE", "/v1/integrations/klaviyo")

    captured = capsys.readouterr()
    text = caplog.text + captured.out + captured.err
    secrets = {
        *outbound.standins.klaviyo.secrets(),
        outbound.standins.segment.write_key,
        outbound.standins.webhook.secret,
        "wk_a-new-write-key-for-this-test",
        outbound.app_headers["x-app-token"],
    }
    assert "outbound batch" in text  # the logs were captured
    leaks = [
        (secret[:4], text[max(0, text.find(secret) - 200) : text.find(secret)]) for secret in secrets if secret in text
    ]
    assert leaks == []
