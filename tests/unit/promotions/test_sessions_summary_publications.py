"""The domain pieces around checkout and publication: LOCK reservations, customer summary counters, publication
requests and answers, rollbacks, distributions, the request's customer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from perkflow.domain.errors import NotFound, PerkflowError
from perkflow.domain.events import CustomerCreated, CustomerUpdated
from perkflow.domain.promotions import rollbacks, sessions, summary
from perkflow.domain.promotions.customer_input import CustomerInput, upsert
from perkflow.domain.promotions.distributions import Distribution, DistributionRequest
from perkflow.domain.promotions.publications import PublicationRequest, listed, publish
from perkflow.domain.promotions.redemptions import RedemptionPlan, Refusal, SessionRequest, redeem
from tests.unit.promotions.factories import NOW, candidate, gift_card, michael, stack, story_campaign

# -- sessions ---------------------------------------------------------------------------------------------------


def test_session_expiry_follows_ttl_and_unit_with_a_seven_day_default() -> None:
    assert sessions.expiry(SessionRequest(), NOW) == NOW + timedelta(days=7)
    assert sessions.expiry(SessionRequest(ttl=90, ttl_unit="MINUTES"), NOW) == NOW + timedelta(minutes=90)
    assert sessions.expiry(SessionRequest(ttl=10_000, ttl_unit="DAYS"), NOW) == NOW + timedelta(days=365)


def test_other_active_sessions_are_reserved_for_this_request() -> None:
    held = [
        sessions.Reservation("ssn_mine", 500, NOW + timedelta(hours=1)),
        sessions.Reservation("ssn_other", 700, NOW + timedelta(hours=1)),
        sessions.Reservation("ssn_old", 900, NOW - timedelta(seconds=1)),
    ]
    limited = gift_card(2500, redemption_quantity=2, redeemed_quantity=1)

    mine = sessions.for_request(limited, held, "ssn_mine", NOW)
    anonymous = sessions.for_request(limited, held, None, NOW)

    assert (mine.reserved_quantity, mine.reserved_credits, mine.available_balance) == (1, 700, 1800)
    assert (anonymous.reserved_quantity, anonymous.reserved_credits) == (2, 1200)
    assert mine.unusable(NOW) is not None  # 1 redeemed + 1 held by another session = the limit of 2
    assert sessions.expired_keys(held, NOW) == ["ssn_old"]
    assert sessions.with_key(SessionRequest()).key.startswith("ssn_")  # type: ignore[union-attr]
    assert sessions.with_key(SessionRequest(key="given")).key == "given"


def test_reserved_credits_limit_what_a_gift_card_pays() -> None:
    card = gift_card(2500).model_copy(update={"reserved_credits": 2000})

    assert [outcome.applied for outcome in stack(candidate(card), amount=4000).outcomes] == [500]
    assert stack(candidate(card, credits=600)).outcomes[0].failure.key == "gift_amount_exceeded"  # type: ignore[union-attr]


# -- summary ----------------------------------------------------------------------------------------------------


def _plan(**changes: Any) -> RedemptionPlan:
    card = gift_card(2500, holder_id="cust_holder", **changes)
    plan = redeem(stack(candidate(card), amount=1800, customer=michael()), now=NOW, tracking_id=None)
    assert isinstance(plan, RedemptionPlan)
    return plan


def test_a_redemption_counts_for_the_redeemer_and_moves_the_holders_amount_to_go() -> None:
    changes = summary.for_redemption(_plan(), NOW)

    mine = changes[michael().id]
    assert mine.adds == {
        summary.TOTAL_REDEEMED: 1,
        summary.TOTAL_SUCCEEDED: 1,
        summary.GIFT_REDEEMED: 1800,
        summary.ORDERS_AMOUNT: 1800,
        summary.ORDERS_COUNT: 1,
    }
    assert mine.sets == {summary.LAST_ORDER_AMOUNT: 1800, summary.LAST_ORDER_DATE: "2026-11-24T12:00:00.000Z"}
    assert changes["cust_holder"].adds == {summary.GIFT_TO_GO: -1800}


def test_refusals_rollbacks_publications_and_balances_move_their_counters() -> None:
    refusal = redeem(stack(candidate(gift_card(0)), customer=michael()), now=NOW, tracking_id=None)
    assert isinstance(refusal, Refusal)
    card = gift_card(2500, holder_id="cust_holder")

    assert summary.for_refusal(refusal)[michael().id].adds == {summary.TOTAL_REDEEMED: 1, summary.TOTAL_FAILED: 1}
    rolled = summary.for_rollbacks(michael().id, [(card, 700)])
    assert rolled[michael().id].adds == {
        summary.TOTAL_ROLLED_BACK: 1,
        summary.TOTAL_ROLLBACK_SUCCEEDED: 1,
        summary.GIFT_REDEEMED: -700,
    }
    assert rolled["cust_holder"].adds == {summary.GIFT_TO_GO: 700}
    assert summary.for_publication([card])["cust_holder"].adds == {summary.GIFT_TO_GO: 2500}
    assert summary.for_balance(card, -300)["cust_holder"].adds == {summary.GIFT_TO_GO: -300}
    assert summary.for_publication([gift_card(2500)]) == {}  # nobody holds it


# -- publications -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"campaign": "C"}, "missing_customer"),
        ({"customer": {"source_id": "pam"}}, "missing_vouchers"),
        ({"customer": "pam", "campaign": {"name": "C", "count": 51}}, "too_many_vouchers_requested"),
        ({"customer": "pam", "campaign": 7}, "invalid_payload"),
    ],
)
def test_malformed_publication_requests_are_refused_with_their_keys(body: dict[str, Any], key: str) -> None:
    with pytest.raises(PerkflowError) as refused:
        PublicationRequest.parse(body).order()
    assert refused.value.key == key


def test_a_publication_order_reads_join_once_from_body_or_query_and_source_id_fixes_the_id() -> None:
    plain = PublicationRequest.parse({"customer": "cust_1", "campaign": {"name": "C", "count": 3}}).order()
    queried = PublicationRequest.parse({"customer": {"source_id": "pam"}, "campaign": "C"}).order(True)
    sourced = PublicationRequest.parse({"customer": "pam", "campaign": {"name": "C", "count": 3}, "source_id": "s"})

    assert (plain.count, plain.join_once, plain.customer.id, plain.publication_id()) == (3, False, "cust_1", None)
    assert (queried.join_once, queried.customer.source_id, queried.channel) == (True, "pam", "API")
    assert sourced.order().count == 1
    assert sourced.order().publication_id() == sourced.order().publication_id()
    assert sourced.order().publication_id().startswith("pub_")  # type: ignore[union-attr]


def test_a_publication_answers_one_voucher_or_the_codes_and_starts_the_validity_window() -> None:
    campaign = story_campaign(activity_duration_after_publishing="P30D")
    cards = [campaign.new_voucher(code, NOW) for code in ("A-1", "A-2")]
    order = PublicationRequest.parse({"customer": {"source_id": "michael.scott"}, "campaign": "C"}).order()

    one, [published] = publish(
        order, publication_id="pub_1", customer=michael(), campaign=campaign, vouchers=cards[:1], now=NOW
    )
    many, _ = publish(order, publication_id="pub_2", customer=michael(), campaign=campaign, vouchers=cards, now=NOW)

    assert one.answer["voucher"]["holder_id"] == michael().id
    assert one.answer["voucher"]["expiration_date"] == "2026-12-24T12:00:00.000Z"
    assert published.publish_count == 1
    assert many.answer["vouchers"] == ["A-1", "A-2"]
    assert "voucher" not in many.answer
    assert set(listed(one.answer)["voucher"]) == {
        "code",
        "object",
        "campaign",
        "gift",
        "loyalty_card",
        "discount",
        "is_referral_code",
    }


# -- rollbacks --------------------------------------------------------------------------------------------------


def test_rollbacks_refuse_what_they_cannot_undo_and_give_credits_back() -> None:
    card = gift_card(2500)
    plan = redeem(stack(candidate(card), amount=1000, customer=michael()), now=NOW, tracking_id="t")
    assert isinstance(plan, RedemptionPlan)
    assert plan.parent is not None
    (child,) = plan.redemptions
    (after,) = plan.vouchers

    record, restored = rollbacks.roll_back(child, after, now=NOW, reason="r", tracking_id=None, metadata=None)

    assert rollbacks.refusal(child, stacked=False) is None
    assert rollbacks.refusal(plan.parent, stacked=False).key == "invalid_redemption"  # type: ignore[union-attr]
    assert rollbacks.refusal(child, stacked=True).key == "invalid_redemption_parent"  # type: ignore[union-attr]
    done = child.model_copy(update={"status": "ROLLED_BACK"})
    assert rollbacks.refusal(done, stacked=False).key == "already_rolled_back"  # type: ignore[union-attr]
    assert restored is not None
    assert restored.gift is not None
    assert (restored.gift.balance, restored.redeemed_quantity) == (2500, 0)
    assert (record.amount, record.redemption, record.as_voucherify()["gift"]) == (-1000, child.id, {"amount": -1000})
    assert record.order is not None
    assert record.order["status"] == "CANCELED"


# -- distributions and the request's customer ---------------------------------------------------------------------


def test_a_distribution_publishes_once_per_trigger_event() -> None:
    request = DistributionRequest.parse(
        {
            "name": "D",
            "trigger": {"type": "customer.segment.entered", "segment_id": "seg_1"},
            "action": {"type": "publish", "campaign": {"name": "C"}},
        }
    )
    distribution = Distribution.create(request, campaign_id="camp_1", campaign_name="C", now=NOW)

    assert request.action.campaign_key() == "C"
    assert distribution.source_id("evt_1") == distribution.source_id("evt_1") != distribution.source_id("evt_2")
    assert distribution.as_json()["action"] == {"type": "publish", "campaign": {"id": "camp_1", "name": "C"}}
    with pytest.raises(PerkflowError) as refused:
        DistributionRequest.parse({**request.model_dump(), "trigger": {"type": "customer.created", "segment_id": "s"}})
    assert refused.value.key == "invalid_payload"


def test_the_requests_customer_is_created_updated_or_left_alone() -> None:
    given = CustomerInput.of({"source_id": "michael.scott", "email": "m@d.com", "birthday": "1964-03-15"})
    assert given is not None

    created, create = upsert(None, given, NOW)
    same, nothing = upsert(created, CustomerInput(source_id="michael.scott"), NOW)
    changed, update = upsert(created, CustomerInput(source_id="michael.scott", name="Michael"), NOW)

    assert (created.profile.email, created.profile.birthdate, created.version) == ("m@d.com", "1964-03-15", 1)
    assert create is not None
    assert isinstance(create.events[0], CustomerCreated)
    assert (same, nothing) == (created, None)
    assert update is not None
    assert (update.expected_version, changed.version, changed.profile.name) == (1, 2, "Michael")
    assert isinstance(update.events[0], CustomerUpdated)
    assert CustomerInput.of("cust_1") == CustomerInput(id="cust_1")
    assert CustomerInput.of({}) is None
    with pytest.raises(NotFound):
        upsert(None, CustomerInput(id="cust_unknown"), NOW)
