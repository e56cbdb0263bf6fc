"""Publications, the wallet and distributions: join once, source_id replays, specific codes, static pools,
AUTO_UPDATE minting, the distribution function on segment.entered."""

from __future__ import annotations

from tests.component.promotions.conftest import REVIEWERS, Promo, story_campaign


def _publish(promo: Promo, customer: str, **fields: object) -> dict[str, object]:
    body = {"campaign": {"name": "Review gift card"}, "customer": {"source_id": customer}, **fields}
    return promo.ok("POST", "/v1/publications", body)  # type: ignore[no-any-return]


def test_join_once_gives_one_code_per_customer_and_source_id_replays(promo: Promo) -> None:
    promo.ok("POST", "/v1/campaigns", story_campaign())

    first = _publish(promo, "pam", join_once=True)
    again = promo.ok(
        "POST",
        "/v1/publications",
        {"campaign": "Review gift card", "customer": {"source_id": "pam"}},
        query="join_once=true",
    )
    refused = promo.call("POST", "/v1/publications", {"campaign": "Review gift card", "customer": "pam"})
    sourced = _publish(promo, "jim", source_id="welcome-jim")
    replay = _publish(promo, "jim", source_id="welcome-jim")
    stolen = promo.call(
        "POST",
        "/v1/publications",
        {"campaign": "Review gift card", "customer": {"source_id": "kevin"}, "source_id": "welcome-jim"},
    )
    customer = promo.ok("GET", "/v1/customers/pam")

    assert first["voucher"]["code"] == again["voucher"]["code"]  # type: ignore[index]
    assert first["id"] == again["id"]
    assert (refused.status, refused.key) == (400, "voucher_cannot_be_published")
    assert sourced == replay
    assert sourced["source_id"] == "welcome-jim"
    assert (stolen.status, stolen.key) == (400, "duplicate_source_id")
    assert customer["source_id"] == "pam"  # the publication created the customer
    assert customer["summary"]["redemptions"]["gift"]["amount_to_go"] == 2500


def test_codes_of_a_static_campaign_run_out_and_auto_update_mints_more(promo: Promo) -> None:
    promo.ok("POST", "/v1/campaigns", story_campaign(name="Static", type="STATIC", vouchers_count=2, join_once=False))
    promo.ok("POST", "/v1/campaigns", story_campaign(name="Auto", vouchers_count=1, join_once=False))

    static_codes = {
        promo.ok("POST", "/v1/publications", {"campaign": "Static", "customer": f"c{n}"})["voucher"]["code"]
        for n in range(2)
    }
    exhausted = promo.call("POST", "/v1/publications", {"campaign": "Static", "customer": "c3"})
    auto = [promo.ok("POST", "/v1/publications", {"campaign": "Auto", "customer": f"a{n}"}) for n in range(3)]
    bulk = promo.ok("POST", "/v1/publications", {"campaign": {"name": "Auto", "count": 3}, "customer": "a9"})
    campaign = promo.ok("GET", "/v1/campaigns/Auto")

    assert len(static_codes) == 2
    assert (exhausted.status, exhausted.key) == (400, "no_voucher_suitable_for_publication")
    assert len({answer["voucher"]["code"] for answer in auto}) == 3
    assert len(bulk["vouchers"]) == 3
    assert "voucher" not in bulk
    assert campaign["vouchers_count"] == 6


def test_a_specific_voucher_is_published_once(promo: Promo) -> None:
    promo.ok("POST", "/v1/vouchers/ONE", {"type": "GIFT_VOUCHER", "gift": {"amount": 100}})

    published = promo.ok("POST", "/v1/publications", {"voucher": "ONE", "customer": {"source_id": "oscar"}})
    again = promo.call("POST", "/v1/publications", {"voucher": "ONE", "customer": {"source_id": "angela"}})
    nothing = promo.call("POST", "/v1/publications", {"customer": {"source_id": "angela"}})
    nobody = promo.call("POST", "/v1/publications", {"voucher": "ONE"})

    assert published["voucher"]["holder_id"] == published["customer_id"]
    assert (again.status, again.key) == (400, "voucher_already_published")
    assert nothing.key == "missing_vouchers"
    assert nobody.key == "missing_customer"


def test_the_wallet_shows_the_codes_a_customer_holds(promo: Promo) -> None:
    promo.ok("POST", "/v1/campaigns", story_campaign())
    publication = _publish(promo, "michael.scott")
    code = publication["voucher"]["code"]  # type: ignore[index]

    redeemables = promo.ok("GET", "/v1/customers/michael.scott/redeemables")
    listed = promo.ok("GET", "/v1/publications", query="customer=michael.scott")
    unfiltered = promo.call("GET", "/v1/publications")
    unknown = promo.call("GET", "/v1/customers/nobody/redeemables")

    assert [item["redeemable"]["voucher"]["code"] for item in redeemables["data"]] == [code]
    assert redeemables["data"][0]["redeemable"]["voucher"]["gift"]["balance"] == 2500
    assert [item["voucher"]["code"] for item in listed["publications"]] == [code]
    assert unfiltered.key == "invalid_query_params"
    assert unknown.status == 404


def test_distribution_publishes_once_per_event_and_once_per_join_once_customer(promo: Promo) -> None:
    promo.ok("POST", "/v1/campaigns", story_campaign())
    distribution = promo.ok(
        "POST",
        "/v1/distributions",
        {
            "name": "Reviewers get a card",
            "trigger": {"type": "customer.segment.entered", "segment_id": REVIEWERS},
            "action": {"type": "publish", "campaign": "Review gift card"},
        },
    )
    promo.customer("michael.scott")

    first = promo.segment_entered("michael.scott", REVIEWERS, "evt_1")
    duplicate = promo.segment_entered("michael.scott", REVIEWERS, "evt_1")
    reentry = promo.segment_entered("michael.scott", REVIEWERS, "evt_2")
    other_segment = promo.segment_entered("michael.scott", "seg_other", "evt_3")
    events = [event for event in promo.aws.relay_outbox() if event["detail-type"] == "publication.succeeded"]
    wallet = promo.ok("GET", "/v1/customers/michael.scott/redeemables")

    assert distribution["id"].startswith("dist_")
    assert distribution["action"]["campaign"]["name"] == "Review gift card"
    assert first == duplicate == reentry == other_segment == {"batchItemFailures": []}
    assert len(events) == 1
    assert events[0]["detail"]["distribution_id"] == distribution["id"]
    assert len(wallet["data"]) == 1


def test_distributions_crud(promo: Promo) -> None:
    promo.ok("POST", "/v1/campaigns", story_campaign())
    body = {
        "name": "D",
        "trigger": {"type": "customer.segment.entered", "segment_id": "seg_1"},
        "action": {"type": "publish", "campaign": {"name": "Review gift card"}},
    }

    created = promo.ok("POST", "/v1/distributions", body)
    updated = promo.ok("PUT", f"/v1/distributions/{created['id']}", {**body, "name": "E", "active": False})
    listed = promo.ok("GET", "/v1/distributions")
    deleted = promo.call("DELETE", f"/v1/distributions/{created['id']}")
    gone = promo.call("GET", f"/v1/distributions/{created['id']}")
    bad = promo.call("POST", "/v1/distributions", {**body, "trigger": {"type": "customer.created"}})
    no_campaign = promo.call("POST", "/v1/distributions", {**body, "action": {"type": "publish", "campaign": "Nope"}})

    assert (updated["name"], updated["active"]) == ("E", False)
    assert [item["id"] for item in listed["data"]] == [created["id"]]
    assert deleted.status == 204
    assert gone.status == 404
    assert (bad.status, bad.key) == (400, "invalid_payload")
    assert no_campaign.status == 404
