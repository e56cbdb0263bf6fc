"""``/v1/destinations/{segment|klaviyo|webhook}`` and the environment's overrides."""

from __future__ import annotations

import json

import pytest

from perkflow import wiring
from tests.component.outbound.conftest import Outbound


def test_a_destination_shows_its_effective_settings_and_never_its_credential(outbound: Outbound) -> None:
    status, body = outbound.api("GET", "/v1/destinations/segment")

    assert status == 200
    assert body["object"] == "destination"
    assert body["name"] == "segment"
    assert body["enabled"] is True
    assert body["paused"] is False
    assert body["status"] == "delivering"
    assert body["url"] == outbound.standins.segment.url
    assert body["write_key_set"] is True
    assert set(body["overridden_by_environment"]) == {"url", "write_key"}
    assert outbound.standins.segment.write_key not in json.dumps(body)


def test_the_list_names_all_three(outbound: Outbound) -> None:
    status, body = outbound.api("GET", "/v1/destinations")

    assert status == 200
    assert [item["name"] for item in body["data"]] == ["segment", "klaviyo", "webhook"]
    assert body["data"][1]["connection"] == "not_connected"


def test_put_stores_settings_and_a_write_only_credential(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERKFLOW_OUT_WEBHOOK_URL")
    monkeypatch.delenv("PERKFLOW_OUT_WEBHOOK_SECRET")
    wiring.reset()
    status, before = outbound.api("GET", "/v1/destinations/webhook")
    assert (status, before["enabled"], before["url"], before["secret_set"]) == (200, False, None, False)

    status, after = outbound.api(
        "PUT",
        "/v1/destinations/webhook",
        {"url": outbound.standins.webhook.url, "secret": outbound.standins.webhook.secret, "timeout_seconds": 2},
    )

    assert status == 200
    assert (after["enabled"], after["url"], after["secret_set"], after["timeout_seconds"]) == (
        True,
        outbound.standins.webhook.url,
        True,
        2,
    )
    assert after["overridden_by_environment"] == []
    assert outbound.standins.webhook.secret not in json.dumps(after)
    assert outbound.invoke("webhook") == {"batchItemFailures": []}
    assert len(outbound.standins.webhook.state()["accepted"]) == 4  # signed with the stored secret


def test_a_variable_overrides_what_is_stored(outbound: Outbound) -> None:
    status, body = outbound.api("PUT", "/v1/destinations/segment", {"url": "https://api.segment.example"})

    assert status == 200
    assert body["url"] == outbound.standins.segment.url
    assert "url" in body["overridden_by_environment"]


def test_delete_forgets_the_stored_settings(outbound: Outbound) -> None:
    outbound.api("PUT", "/v1/destinations/webhook", {"enabled": False, "timeout_seconds": 3})

    status, _ = outbound.api("DELETE", "/v1/destinations/webhook")
    _, body = outbound.api("GET", "/v1/destinations/webhook")

    assert status == 204
    assert (body["enabled"], body["timeout_seconds"]) == (True, 10)


@pytest.mark.parametrize(
    ("name", "body", "details"),
    [
        ("segment", {"api_key": "pk_x"}, "api_key do not apply to the segment destination"),
        ("webhook", {"property_names": "smile"}, "property_names do not apply"),
        ("klaviyo", {"property_names": "other"}, "property_names"),
        ("webhook", {"url": "ftp://example.com"}, "http(s) URL"),
        ("segment", {"paused": "sometimes"}, "paused"),
        ("klaviyo", {"rate_limits": {"events_per_minute": 0, "events_per_second": 5}}, "events_per_minute"),
        ("segment", {"colour": "blue"}, "colour"),
    ],
)
def test_bad_settings_are_400(outbound: Outbound, name: str, body: dict[str, object], details: str) -> None:
    status, error = outbound.api("PUT", f"/v1/destinations/{name}", body)

    assert status == 400
    assert error["key"] == "invalid_payload"
    assert details in error["message"] + error["details"]


def test_an_unknown_destination_is_404(outbound: Outbound) -> None:
    status, error = outbound.api("GET", "/v1/destinations/mailchimp")

    assert (status, error["key"]) == (404, "not_found")


def test_destinations_need_the_api_credentials(outbound: Outbound) -> None:
    status, error = outbound.api("GET", "/v1/destinations/segment", auth=False)

    assert (status, error["key"]) == (401, "unauthorized")


def test_the_callback_alone_needs_no_app_credentials(outbound: Outbound) -> None:
    assert outbound.api("GET", "/v1/integrations/klaviyo", auth=False)[0] == 401
    assert outbound.api("POST", "/v1/integrations/klaviyo/connect", auth=False)[0] == 401
    status, error = outbound.api("GET", "/v1/integrations/klaviyo/callback", auth=False, query="state=x&code=y")
    assert (status, error["key"]) == (400, "invalid_state")


def test_connect_without_an_oauth_client_is_refused(outbound: Outbound, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERKFLOW_KLAVIYO_CLIENT_SECRET")
    wiring.reset()

    status, error = outbound.api("POST", "/v1/integrations/klaviyo/connect")

    assert (status, error["key"]) == (400, "integration_not_configured")
