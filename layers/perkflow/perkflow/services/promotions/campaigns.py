"""Campaigns and their codes: create (with validation rules), read, list, enable/disable, add codes, and
the code generation job.

Generation runs in chunks of :data:`CHUNK` codes, one chunk per message on the job queue (the
``distribution`` function consumes it); a chunk takes a lease on the campaign's job item, writes its codes
from :data:`LANES` parallel writers and hands the next chunk to a new message, so no invocation runs long and
a large campaign never sits in memory. Counts are exact: each write of codes adds to its lane's counter in
the same transaction, and a retried chunk writes only what its lanes are still missing. Up to
:data:`SYNC_LIMIT` codes are generated inside the creating request (the campaign answers ``DONE``); a
delayed message still follows, so a request that dies half-way is finished by the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from perkflow.domain.errors import NotFound
from perkflow.domain.events import CampaignVouchersGenerationCompleted
from perkflow.domain.ids import new_id, stable_id
from perkflow.domain.promotions.campaigns import Campaign, CampaignCreateRequest
from perkflow.domain.promotions.codes import CodeConfig, check_capacity, generate
from perkflow.domain.promotions.common import parse, voucherify_list
from perkflow.domain.promotions.errors import InvalidCampaign
from perkflow.domain.promotions.state import Assignment, GenerationJob
from perkflow.services.promotions.ports import CatalogStore, JobQueue

CHUNK = 10_000
SYNC_LIMIT = 1_000
LANES = 4
LEASE_SECONDS = 300
SAFETY_DELAY_SECONDS = 60  # the message that finishes a synchronous generation if its request died
PER_TRANSACTION = 99
CODEGEN = "codegen"


def campaign_not_found(key: str) -> NotFound:
    return NotFound(
        f"Resource not found: campaign {key}", details=key, extra={"resource_id": key, "resource_type": "campaign"}
    )


def shape_of(config: CodeConfig) -> str:
    """Codes of one shape share one namespace (capacity is counted per shape)."""
    normalized = config.normalized()
    return "|".join(
        str(part) for part in (normalized.prefix, normalized.pattern, normalized.postfix, normalized.charset)
    )


class CampaignService:
    def __init__(self, catalog: CatalogStore, jobs: JobQueue, clock: Callable[[], datetime]) -> None:
        self.catalog = catalog
        self.jobs = jobs
        self.clock = clock

    # -- campaigns ----------------------------------------------------------------------------------------------
    def create(self, body: Any) -> dict[str, Any]:
        request = parse(CampaignCreateRequest, body, InvalidCampaign, "Invalid campaign")
        now = self.clock()
        config = request.voucher.code_config if request.voucher and request.voucher.code_config else CodeConfig()
        existing = self.catalog.shape_count(shape_of(config))
        campaign = Campaign.create(request, now, existing_codes=existing)
        assignments = [
            self._assignment(rule_id, campaign.id, now) for rule_id in dict.fromkeys(campaign.validation_rules)
        ]
        count = campaign.vouchers_count
        job = GenerationJob(campaign_id=campaign.id, target=count) if count else None
        self.catalog.create_campaign(campaign, assignments, job)
        if job is not None:
            synchronous = count <= SYNC_LIMIT
            self.jobs.send(_message(campaign.id, 0), delay_seconds=SAFETY_DELAY_SECONDS if synchronous else 0)
            if synchronous:
                self.generate_chunk(campaign.id, 0)
        return self.get(campaign.id)

    def _assignment(self, rule_id: str, object_id: str, now: datetime) -> Assignment:
        if self.catalog.rule(rule_id) is None:
            raise NotFound(
                f"Resource not found: validation rules {rule_id}",
                details=rule_id,
                extra={"resource_id": rule_id, "resource_type": "validation_rules"},
            )
        return Assignment(
            id=new_id("asgm_"),
            rule_id=rule_id,
            related_object_id=object_id,
            related_object_type="campaign",
            created_at=now,
        )

    def campaign(self, id_or_name: str) -> Campaign:
        campaign = self.catalog.campaign(id_or_name)
        if campaign is None:
            raise campaign_not_found(id_or_name)
        return campaign

    def get(self, id_or_name: str) -> dict[str, Any]:
        campaign = self.campaign(id_or_name)
        return self._answer(campaign)

    def _answer(self, campaign: Campaign, *, with_assignments: bool = True) -> dict[str, Any]:
        by_jobs, added = self.catalog.generated(campaign.id)
        job = self.catalog.job(campaign.id)
        target = job.target if job is not None else 0
        # While generating, Voucherify shows the number asked for; codes added one by one count on top.
        shown = campaign.model_copy(update={"vouchers_count": max(target, by_jobs) + added})
        if not with_assignments:
            body = shown.as_voucherify()
            del body["validation_rules_assignments"]  # Voucherify's campaign list has none
            return body
        assignments = [assignment.as_voucherify() for assignment in self.catalog.assignments_of(campaign.id)]
        return shown.as_voucherify(assignments)

    def generation(self, id_or_name: str) -> dict[str, Any]:
        """perkflow's ``GET /v1/campaigns/{id}/generation``: how far a code generation is (for progress bars)."""
        campaign = self.campaign(id_or_name)
        by_jobs, added = self.catalog.generated(campaign.id)
        job = self.catalog.job(campaign.id)
        return {
            "object": "generation",
            "campaign_id": campaign.id,
            "status": campaign.generation_status,
            "target": job.target if job is not None else 0,
            "generated": by_jobs,
            "added": added,
        }

    def list(self, limit: int, page: int) -> dict[str, Any]:
        campaigns, total = self.catalog.campaigns(limit, page)
        answers = [self._answer(campaign, with_assignments=False) for campaign in campaigns]
        body = voucherify_list(answers, data_ref="campaigns")
        body["total"] = total
        return body

    def set_active(self, id_or_name: str, active: bool) -> dict[str, Any]:
        campaign = self.campaign(id_or_name)
        self.catalog.set_campaign_active(campaign.id, active, self.clock())
        return self.get(campaign.id)

    def add_codes(self, id_or_name: str, count: int) -> dict[str, Any]:
        """``POST /v1/campaigns/{id}/vouchers?vouchers_count=N`` for N > 1: an async generation job."""
        campaign = self.campaign(id_or_name)
        existing = self.catalog.shape_count(shape_of(campaign.voucher.code_config))
        check_capacity(campaign.voucher.code_config, count, existing=existing)
        job = self.catalog.raise_target(campaign.id, count, self.clock())
        self.jobs.send(_message(campaign.id, job.next_chunk))
        return {"async_action_id": stable_id("aa_", campaign.id, str(job.target)), "object": "async_action"}

    # -- generation ---------------------------------------------------------------------------------------------
    def generate_chunk(self, campaign_id: str, chunk: int) -> None:
        """Run one chunk of a campaign's generation (Contention: another invocation holds it; try later)."""
        now = self.clock()
        job = self.catalog.lease(campaign_id, chunk, now, LEASE_SECONDS)
        if job is None:
            return  # done before: a repeated message
        campaign = self.catalog.campaign(campaign_id)
        if campaign is None:
            raise campaign_not_found(campaign_id)
        generated, _ = self.catalog.generated(campaign_id)
        goal = min(job.target, (chunk + 1) * CHUNK)
        needed = max(0, goal - generated)
        if needed:
            self._write(campaign, needed, now)
            self.catalog.add_shape_count(shape_of(campaign.voucher.code_config), needed)
        total = generated + needed
        if total >= job.target:
            now = self.clock()  # the generation ends now, not when the chunk began
            event = CampaignVouchersGenerationCompleted(
                event_id=stable_id(
                    "evt_", campaign.id, CampaignVouchersGenerationCompleted.DETAIL_TYPE, str(job.target)
                ),
                occurred_at=now,
                campaign=campaign.ref(),
                vouchers_count=total,
            )
            self.catalog.finish(campaign, total, event, now)
            return
        self.jobs.send(_message(campaign_id, chunk + 1))
        self.catalog.advance(campaign_id, chunk)

    def _write(self, campaign: Campaign, count: int, now: datetime) -> None:
        prototype = campaign.new_voucher("PROTOTYPE", now)
        shares = [count // LANES + (1 if lane < count % LANES else 0) for lane in range(LANES)]

        def lane_work(lane: int) -> None:
            self._lane(campaign.voucher.code_config, prototype, lane, shares[lane])

        busy = [lane for lane in range(LANES) if shares[lane]]
        if len(busy) == 1:
            lane_work(busy[0])
            return
        with ThreadPoolExecutor(max_workers=len(busy)) as pool:
            list(pool.map(lane_work, busy))

    def _lane(self, config: CodeConfig, prototype: Any, lane: int, count: int) -> None:
        written = 0
        taken: set[str] = set()
        while written < count:
            batch = min(PER_TRANSACTION, count - written)
            codes = generate(config, batch, avoid=taken)
            refused = self.catalog.write_codes(prototype, codes, lane)
            if refused:
                taken |= refused  # nothing of this batch was written: draw it again without those
                continue
            written += batch


def _message(campaign_id: str, chunk: int) -> dict[str, Any]:
    return {"type": CODEGEN, "campaign_id": campaign_id, "chunk": chunk}
