"""The distribution function on its sample events: batch item failures for what must be retried, success for
what is done (or has nothing to do)."""

from __future__ import annotations

import json

from tests.component.promotions.conftest import Promo, story_campaign
from tests.support import invoke, sample_event


def test_the_sample_segment_entry_with_no_distribution_succeeds_and_publishes_nothing(promo: Promo) -> None:
    result = invoke("distribution", sample_event("distribution/segment_entered"))

    assert result == {"batchItemFailures": []}
    assert promo.aws.relay_outbox() == []


def test_a_chunk_of_an_unknown_campaign_is_retried_and_a_foreign_message_fails(promo: Promo) -> None:
    chunk = sample_event("distribution/codegen_chunk")
    foreign = sample_event("distribution/codegen_chunk")
    foreign["Records"][0]["body"] = json.dumps({"hello": "world"})

    assert invoke("distribution", chunk) == {
        "batchItemFailures": [{"itemIdentifier": chunk["Records"][0]["messageId"]}]
    }
    assert invoke("distribution", foreign)["batchItemFailures"] == [
        {"itemIdentifier": foreign["Records"][0]["messageId"]}
    ]


def test_a_batch_reports_only_its_failed_records(promo: Promo) -> None:
    campaign = promo.ok("POST", "/v1/campaigns", story_campaign(vouchers_count=0))
    promo.ok(
        "POST",
        "/v1/distributions",
        {
            "name": "D",
            "trigger": {"type": "customer.segment.entered", "segment_id": "seg_reviewers_sample_000001"},
            "action": {"type": "publish", "campaign": campaign["id"]},
        },
    )
    good = sample_event("distribution/segment_entered")
    bad = json.loads(json.dumps(good["Records"][0]))
    bad["messageId"] = "bad-record"
    bad["body"] = json.dumps({"detail-type": "customer.segment.entered", "detail": {"event_id": "x"}})

    result = invoke("distribution", {"Records": [good["Records"][0], bad]})
    events = [event for event in promo.aws.relay_outbox() if event["detail-type"] == "publication.succeeded"]

    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-record"}]}
    assert [event["detail"]["customer"]["source_id"] for event in events] == ["michael.scott"]
