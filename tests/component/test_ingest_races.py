"""Ingest under concurrent writers: optimistic customer versions lose no update."""

from __future__ import annotations

from typing import Any

import pytest

from perkflow import wiring
from perkflow.domain.recording import Recording
from tests.component.conftest import Aws


def identify(user: str, message_id: str, traits: dict[str, Any]) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "messageId": message_id, "traits": traits}


def test_a_customer_changed_between_read_and_write_is_read_again_and_both_changes_survive(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = wiring.ingest_service()
    service.ingest([identify("angela", "m1", {"email": "a@dm.com"})])
    store = service.customers
    original_save = store.save
    raced: list[str] = []

    def save_after_a_competitor(recording: Recording) -> bool:
        if not raced:
            raced.append(recording.message.message_id)
            # Another request updates the same customer after this one read it.
            service.ingest([identify("angela", "m-other", {"cats": 4})])
        return original_save(recording)

    monkeypatch.setattr(store, "save", save_after_a_competitor)

    result = service.ingest([identify("angela", "m2", {"sprinkles": True})])

    assert raced == ["m2"]
    assert len(result.stored) == 1
    customer = wiring.customer_directory().get("angela")
    assert customer.profile.metadata == {"cats": 4, "sprinkles": True}
    assert customer.version == 3


def test_concurrent_creators_of_one_customer_both_land_on_it(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    service = wiring.ingest_service()
    store = service.customers
    original_save = store.save
    raced: list[str] = []

    def save_after_a_competitor(recording: Recording) -> bool:
        if not raced:
            raced.append(recording.message.message_id)
            service.ingest([{"type": "track", "userId": "phyllis", "event": "Knit", "messageId": "k-other"}])
        return original_save(recording)

    monkeypatch.setattr(store, "save", save_after_a_competitor)

    result = service.ingest([{"type": "track", "userId": "phyllis", "event": "Knit", "messageId": "k1"}])

    assert len(result.stored) == 1
    page = wiring.customer_directory().activities("phyllis", activity_type="customer.custom_event")
    assert sorted(activity.data["event"]["message_id"] for activity in page.activities) == ["k-other", "k1"]
