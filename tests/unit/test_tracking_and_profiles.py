"""Segment messages, traits, signatures and recording: the pure rules behind ingest."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from perkflow.domain.customers import Customer, Profile, customer_id_for, profile_from_traits
from perkflow.domain.recording import customers_to_load, record
from perkflow.domain.signatures import segment_signature_valid, segment_signed_bytes
from perkflow.domain.tracking import Message, Rejection, parse_message

RECEIVED = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def parse(raw: object, **kwargs: object) -> Message:
    parsed = parse_message(raw, 0, received_at=RECEIVED, **kwargs)  # type: ignore[arg-type]
    assert isinstance(parsed, Message), parsed
    return parsed


def test_skew_is_corrected_from_the_envelope_sent_at() -> None:
    # The client clock runs 10 minutes fast: sentAt and timestamp are both 10 minutes ahead.
    message = parse(
        {"type": "track", "userId": "u", "event": "e", "timestamp": "2026-11-24T12:09:55Z"},
        envelope={"sentAt": "2026-11-24T12:10:00Z"},
    )
    assert message.timestamp == RECEIVED - timedelta(seconds=5)


def test_historical_import_keeps_its_past_timestamp() -> None:
    message = parse({"type": "track", "userId": "u", "event": "e", "timestamp": "2020-01-01T00:00:00Z"})
    assert message.timestamp == datetime(2020, 1, 1, tzinfo=UTC)


def test_without_timestamps_the_receipt_time_is_used_and_an_id_is_assigned() -> None:
    message = parse({"type": "identify", "anonymousId": "a"})
    assert message.timestamp == RECEIVED
    assert message.message_id.startswith("msg_")
    assert message.deduplicated is False


def test_numeric_user_ids_become_strings_and_nulls_count_as_absent() -> None:
    message = parse({"type": "track", "userId": 42, "anonymousId": None, "event": "e"})
    assert message.user_id == "42"
    assert message.anonymous_id is None


def test_envelope_context_applies_to_each_message_and_the_message_wins() -> None:
    message = parse(
        {"type": "track", "userId": "u", "event": "e", "context": {"ip": "2"}},
        envelope={"context": {"ip": "1", "locale": "en"}},
    )
    assert message.context == {"ip": "2", "locale": "en"}


def test_rejections_name_the_rule() -> None:
    cases = {
        "missing_identity": {"type": "alias", "userId": "u"},
        "invalid_message": {"type": "group", "userId": "u"},
        "invalid_type": {"type": "page", "userId": "u", "name": 5},
    }
    for key, raw in cases.items():
        parsed = parse_message(raw, 3, received_at=RECEIVED)
        assert isinstance(parsed, Rejection)
        assert (parsed.key, parsed.index) == (key, 3)
    too_long = parse_message({"type": "track", "userId": "u", "event": "e", "messageId": "m" * 101}, 0,
                             received_at=RECEIVED)  # fmt: skip
    assert isinstance(too_long, Rejection)
    assert too_long.key == "invalid_message"


def test_traits_map_onto_the_voucherify_profile() -> None:
    profile = profile_from_traits({
        "firstName": "Michael", "lastName": "Scott", "email": "m@dm.com", "phone": 5705550100,
        "birthday": "1964-03-15T00:00:00Z", "address": {"street": "1725 Slough Ave", "postalCode": "18503"},
        "plan": "gold", "metadata": {"team": "sales"},
    })  # fmt: skip
    assert profile.name == "Michael Scott"
    assert profile.phone == "5705550100"
    assert profile.birthdate == "1964-03-15"
    assert profile.address == {"line_1": "1725 Slough Ave", "postal_code": "18503"}
    assert profile.metadata == {"plan": "gold", "team": "sales"}


def test_profile_updates_merge_metadata_and_report_changed_paths() -> None:
    before = Profile(email="a@x.com", metadata={"plan": "silver", "seats": 1})
    after = before.merged_with(profile_from_traits({"plan": "gold", "email": "a@x.com"}))
    assert after.metadata == {"plan": "gold", "seats": 1}
    assert after.changed_paths(before) == ["metadata.plan"]
    assert before.merged_with(Profile()).changed_paths(before) == []


def test_segment_signs_the_raw_bytes_of_the_first_array_element() -> None:
    body = b' [ {"a": 1,  "b":"\\u00e9"} , {"c": 2}]'
    assert segment_signed_bytes(body) == b'{"a": 1,  "b":"\\u00e9"}'
    assert segment_signed_bytes(b'{"x":1}') == b'{"x":1}'
    signature = hmac.new(b"s3cret", b'{"a": 1,  "b":"\\u00e9"}', hashlib.sha1).hexdigest()
    assert segment_signature_valid(body, signature, "s3cret")
    assert segment_signature_valid(body, signature.upper(), "s3cret")
    assert not segment_signature_valid(body, signature, "other")
    assert not segment_signature_valid(b"[not json", signature, "s3cret")


def test_recording_a_track_for_a_new_customer_creates_it_once() -> None:
    message = parse({"type": "track", "userId": "u1", "event": "review_left", "messageId": "m1"})
    assert customers_to_load(message, {}) == {customer_id_for("u1")}
    known: dict[str, Customer | None] = {customer_id_for("u1"): None}

    recording = record(message, known, RECEIVED)

    [write] = recording.customer_writes
    assert write.expected_version is None
    assert [event.DETAIL_TYPE for event in write.events] == ["customer.created"]
    assert [event.DETAIL_TYPE for event in recording.events] == ["customer.event.recorded"]
    assert recording.activity is not None
    assert recording.activity.type == "customer.custom_event"


def test_identify_with_an_anonymous_id_merges_the_visitor_into_the_customer() -> None:
    anonymous = Customer.new("anonymous:a1", Profile(email="v@x.com", metadata={"utm": "ads"}), RECEIVED)
    known = Customer.new("u1", Profile(name="U"), RECEIVED).model_copy(update={"version": 3})
    message = parse({"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"plan": "gold"}})
    state: dict[str, Customer | None] = {known.id: known, anonymous.id: anonymous}

    recording = record(message, state, RECEIVED)

    target, pointer = recording.customer_writes
    assert target.expected_version == 3
    assert target.customer.profile.email == "v@x.com"
    assert target.customer.profile.metadata == {"utm": "ads", "plan": "gold"}
    assert target.customer.merged_from == ("anonymous:a1",)
    assert pointer.customer.merged_into == "u1"
    assert pointer.expected_version == 0
    [updated] = target.events
    assert updated.merged_from == ["anonymous:a1"]  # type: ignore[attr-defined]
