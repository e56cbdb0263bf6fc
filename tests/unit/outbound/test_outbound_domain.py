"""The pure part of outbound sync: names, payloads, packing, signatures, PKCE, retry and rate arithmetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perkflow.domain import events as ev
from perkflow.domain.outbound import batching, payloads, ratelimit, retry, security, wire
from perkflow.domain.outbound.catalogue import outbound_name

WHEN = datetime(2026, 11, 24, 9, 30, 15, 123000, tzinfo=UTC)
MICHAEL = ev.CustomerRef(id="cust_m", source_id="michael.scott", email="michael@dundermifflin.com")
PROGRAM = ev.ProgramRef(id="camp_p", name="Points")


def earned(source: str = "order", customer: ev.CustomerRef = MICHAEL) -> ev.LoyaltyPointsEarned:
    return ev.LoyaltyPointsEarned(
        event_id="evt_1", occurred_at=WHEN, customer=customer, program=PROGRAM, points=5, balance=50,
        source=source, transaction_id="ltx_1",
    )  # fmt: skip


def reward(reason: str) -> ev.LoyaltyRewardIssued:
    return ev.LoyaltyRewardIssued(
        event_id="evt_2", occurred_at=WHEN, customer=MICHAEL, program=PROGRAM,
        reward=ev.RewardRef(id="rew_1", name="$5 off"), reason=reason, code="BDAY-1",
    )  # fmt: skip


def test_smiles_names_where_the_event_says_which_variant() -> None:
    assert outbound_name(earned("order")) == "Points Earned on Order"
    assert outbound_name(earned("referral")) == "Points Earned"
    assert outbound_name(reward("birthday")) == "Birthday Reward Issued"
    assert outbound_name(reward("points")) == "Reward Issued"


def test_an_anonymous_customer_goes_to_segment_by_anonymous_id_and_to_klaviyo_by_email_only() -> None:
    visitor = ev.CustomerRef(id="cust_v", source_id="anonymous:abc-123", email="v@example.com")

    track = payloads.segment_messages(earned(customer=visitor))[0]
    profile = payloads.klaviyo_event(earned(customer=visitor), "perkflow")

    assert track["anonymousId"] == "abc-123"
    assert "userId" not in track
    assert profile is not None
    assert profile["attributes"]["profile"]["data"]["attributes"] == {
        "email": "v@example.com",
        "properties": {"Loyalty Points Balance": 50, "Loyalty State": "member"},
    }


def test_events_without_a_customer_go_only_to_webhooks() -> None:
    redemption = ev.RedemptionSucceeded(event_id="evt_r", occurred_at=WHEN, redemption_id="r_1", amount=100)

    assert payloads.segment_messages(redemption) == []
    assert payloads.klaviyo_event(redemption, "perkflow") is None
    envelope = payloads.webhook_envelope(redemption, project_id="proj_x", target_url="https://hooks.example")
    assert (envelope["id"], envelope["type"], envelope["event"]["entity_id"]) == (
        "evt_r",
        "redemption.succeeded",
        "evt_r",
    )


def test_klaviyo_time_is_truncated_to_the_second_and_unique_id_is_the_event_id() -> None:
    resource = payloads.klaviyo_event(earned(), "smile")

    assert resource is not None
    attributes = resource["attributes"]
    assert attributes["time"] == "2026-11-24T09:30:15Z"
    assert attributes["unique_id"] == "evt_1"
    assert attributes["profile"]["data"]["attributes"]["properties"]["Smile Points Balance"] == 50
    assert attributes["properties"]["points_change"] == 5


def test_a_webhook_body_is_compact_and_signed_over_exactly_its_bytes() -> None:
    envelope = payloads.webhook_envelope(reward("birthday"), project_id="proj_x", target_url="https://h.example/x")

    request = wire.webhook("https://h.example/x", "s3cret", envelope)

    assert request.body == json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
    assert b": " not in request.body
    assert request.headers["x-voucherify-signature"] == security.webhook_signature("s3cret", request.body)
    assert security.webhook_signature_valid("s3cret", request.body, request.headers["x-voucherify-signature"])
    assert not security.webhook_signature_valid(
        "s3cret", request.body + b" ", request.headers["x-voucherify-signature"]
    )
    assert "s3cret" not in repr(request)


def test_pkce_follows_rfc_7636() -> None:
    # RFC 7636 appendix B
    assert security.code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    verifier = security.new_code_verifier()
    assert security.VERIFIER_PATTERN.match(verifier)
    assert verifier != security.new_code_verifier()


def test_segment_batches_stay_within_segments_limits() -> None:
    small = [{"messageId": str(n), "p": "x" * 900} for n in range(1200)]
    huge = {"messageId": "big", "p": "x" * 40_000}

    packed = batching.segment_batches([*small[:3], huge, *small[3:]])

    assert packed.oversize == [huge]
    assert sum(len(chunk) for chunk in packed.chunks) == 1200
    for chunk in packed.chunks:
        body = json.dumps({"batch": chunk, "sentAt": "2026-11-24T09:00:00.000Z"}, separators=(",", ":"))
        assert len(body.encode()) <= 500 * 1024
        assert len(chunk) <= 2500


def test_a_bulk_job_groups_events_by_profile_and_drops_repeated_unique_ids() -> None:
    a = payloads.klaviyo_event(earned(), "perkflow")
    other = ev.CustomerRef(id="cust_o", source_id="o", email="o@example.com")
    b = payloads.klaviyo_event(earned(customer=other), "perkflow")
    assert a is not None
    assert b is not None

    unique = batching.without_duplicate_unique_ids([a, b, a])
    body = batching.klaviyo_bulk_body(unique)

    elements = body["data"]["attributes"]["events-bulk-create"]["data"]
    assert len(unique) == 2
    assert [len(element["attributes"]["events"]["data"]) for element in elements] == [1, 1]
    assert "profile" not in elements[0]["attributes"]["events"]["data"][0]["attributes"]


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, retry.Outcome.DELIVERED), (202, retry.Outcome.DELIVERED), (None, retry.Outcome.TRANSIENT),
        (500, retry.Outcome.TRANSIENT), (503, retry.Outcome.TRANSIENT), (408, retry.Outcome.TRANSIENT),
        (429, retry.Outcome.THROTTLED), (401, retry.Outcome.UNAUTHORIZED), (400, retry.Outcome.PERMANENT),
        (403, retry.Outcome.PERMANENT), (409, retry.Outcome.PERMANENT), (413, retry.Outcome.PERMANENT),
    ],
)  # fmt: skip
def test_answers_are_classified(status: int | None, outcome: retry.Outcome) -> None:
    assert retry.classify(status) is outcome


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")

    assert retry.retry_after_seconds("7") == 7
    assert retry.retry_after_seconds(later, now) == 30
    assert retry.retry_after_seconds("soon") is None
    assert retry.retry_after_seconds(None) is None


@given(st.integers(min_value=0, max_value=12), st.floats(min_value=0, max_value=0.999))
def test_backoff_is_full_jitter_under_the_cap(attempt: int, draw: float) -> None:
    policy = retry.RetryPolicy()

    wait = policy.backoff(attempt, draw)

    assert 0 <= wait <= min(policy.cap_seconds, policy.base_seconds * 2**attempt)


def test_a_long_retry_after_goes_back_to_sqs() -> None:
    policy = retry.RetryPolicy(max_retry_after_seconds=10)

    assert policy.wait_for_retry_after(2, 0.5) == pytest.approx(2.1)
    assert policy.wait_for_retry_after(30, 0.5) is None


def _sent(rule: ratelimit.Pacing, demand: list[tuple[float, int]]) -> list[tuple[float, int]]:
    """Requests (time, cost) as GCRA lets them go when each wants to go at its time."""
    tat: float | None = None
    sent = []
    for wanted, cost in demand:
        booked = ratelimit.reserve(tat, wanted, cost, rule, horizon=10_000)
        assert booked is not None
        tat = booked.new_tat
        sent.append((booked.send_at, cost))
    return sent


def _most_in_any_window(sent: list[tuple[float, int]], length: float) -> int:
    most = 0
    for start, _ in sent:
        most = max(most, sum(cost for at, cost in sent if start <= at < start + length))
    return most


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(min_value=0, max_value=180), st.integers(min_value=1, max_value=10)), max_size=400),
)
def test_gcra_pacing_keeps_every_window_under_both_limits(demand: list[tuple[float, int]]) -> None:
    rule = ratelimit.pacing(ratelimit.Limit(50, 1), ratelimit.Limit(600, 60), max_cost=10)
    demand = sorted((at, min(cost, rule.max_cost)) for at, cost in demand)

    sent = _sent(rule, demand)

    assert _most_in_any_window(sent, 60.0) <= 600
    assert _most_in_any_window(sent, 1.0) <= 50


def test_gcra_pacing_uses_most_of_the_steady_limit() -> None:
    rule = ratelimit.pacing(ratelimit.Limit(50, 1), ratelimit.Limit(600, 60))

    sent = _sent(rule, [(0.0, 1)] * 1200)

    in_two_minutes = sum(cost for at, cost in sent if at < 120)
    assert in_two_minutes / 1200 >= 0.9


def test_the_spec_tiers_parse() -> None:
    for burst, steady in wire.KLAVIYO_RATE_LIMITS.values():
        rule = ratelimit.pacing(ratelimit.Limit.parse(burst), ratelimit.Limit.parse(steady))
        assert rule.interval > 0
    with pytest.raises(ValueError, match="not a rate"):
        ratelimit.Limit.parse("fast")


def test_a_referral_url_is_a_profile_property_only_of_its_owner() -> None:
    from perkflow.domain.outbound.profile import LoyaltyProfile, profile_update

    friend = ev.CustomerRef(id="cust_f", source_id="friend", email="f@example.com")
    url = "https://dundermifflin.com/r/MICHAEL1"
    started_for_friend = ev.LoyaltyReferralStarted(
        event_id="evt_rs", occurred_at=WHEN, customer=friend, program=PROGRAM, referral_code="MICHAEL1",
        referral_url=url, advocate=MICHAEL,
    )  # fmt: skip
    started_by_michael = started_for_friend.model_copy(update={"customer": MICHAEL, "advocate": None})
    earned_with_url = earned().model_copy(update={"referral_url": url})

    for_friend, by_michael, with_url = map(profile_update, (started_for_friend, started_by_michael, earned_with_url))

    assert for_friend == LoyaltyProfile(state="member")  # the link is the advocate's, not the friend's
    assert by_michael == LoyaltyProfile(referral_url=url, state="member")
    assert with_url is not None
    assert with_url.klaviyo_properties("smile")["Smile Referral URL"] == url
