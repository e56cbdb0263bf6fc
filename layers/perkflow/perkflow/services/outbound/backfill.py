"""Klaviyo's initial "sync all customers" (like Smile's "Sync customer data"), with progress.

Starting a sync stores a job and puts its first step on Klaviyo's queue. Each step reads one page of
customers (the customers' sharded listing, never a table scan), sends those with an email (Smile matches by
email and skips the others) as one bulk profile import, records the counts, and queues the next step with the
page's continuation key. A step is applied only if the job's stored cursor is still the one it started from,
so a redelivered step never counts twice. The job's counters are what ``GET /v1/integrations/klaviyo`` and
``perkflow klaviyo sync-customers`` show.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from perkflow.domain.customers import ANONYMOUS_PREFIX
from perkflow.domain.errors import PerkflowError
from perkflow.domain.ids import new_id
from perkflow.domain.outbound.model import SyncJob
from perkflow.domain.timeutil import iso
from perkflow.services.outbound.directory import Directory, control
from perkflow.services.outbound.ports import CustomerPages, Queues, SyncJobs
from perkflow.services.outbound.runner import Verdict
from perkflow.services.outbound.senders import KlaviyoSender

PAGE_SIZE = 1000


def klaviyo_profile_of(customer: Mapping[str, Any]) -> dict[str, Any] | None:
    """The profile resource of a backfilled customer (None: skipped, like Smile, when it has no email)."""
    email = customer.get("email")
    source_id = customer.get("source_id")
    if not email or customer.get("merged_into"):
        return None
    attributes: dict[str, Any] = {"email": email}
    if source_id and not str(source_id).startswith(ANONYMOUS_PREFIX):
        attributes["external_id"] = source_id
    name = str(customer.get("name") or "").strip()
    if name:
        first, _, last = name.partition(" ")
        attributes["first_name"] = first
        if last:
            attributes["last_name"] = last
    return {"type": "profile", "attributes": attributes}


class CustomerSync:
    def __init__(
        self,
        jobs: SyncJobs,
        customers: CustomerPages,
        directory: Directory,
        klaviyo: KlaviyoSender,
        queues: Queues,
        now: Callable[[], datetime],
    ) -> None:
        self.jobs = jobs
        self.customers = customers
        self.directory = directory
        self.klaviyo = klaviyo
        self.queues = queues
        self.now = now

    def start(self) -> SyncJob:
        resolved = self.directory.resolve("klaviyo")
        if not resolved.destination.enabled:
            raise PerkflowError("The Klaviyo destination is not enabled", key="destination_disabled", status=409)
        latest = self.jobs.latest()
        if latest is not None and latest.status == "running":
            return latest
        now = self.now()
        # Job ids sort by start time, so the newest is the first of a descending query.
        job_id = f"ksync_{int(now.timestamp() * 1000):013d}{new_id('')[:10]}"
        job = SyncJob(job_id=job_id, status="running", started_at=iso(now))
        self.jobs.create(job)
        self.queues.send("klaviyo", [control("klaviyo.sync", job_id=job.job_id, cursor=None)])
        return job

    def latest(self) -> SyncJob | None:
        return self.jobs.latest()

    def step(self, destination: str, order: Mapping[str, Any], deadline: float) -> None:
        """One page (a control message on Klaviyo's queue); raises to have SQS retry it."""
        job = self.jobs.get(str(order.get("job_id")))
        cursor = order.get("cursor")
        if job is None or job.status != "running" or job.cursor != cursor:
            return  # unknown, finished, or a step that was already applied
        start = json.loads(cursor) if cursor else None
        customers, next_key = self.customers.page(start, PAGE_SIZE)
        profiles = [profile for profile in map(klaviyo_profile_of, customers) if profile is not None]
        import_jobs: list[str] = []
        if profiles:
            resolved = self.directory.resolve("klaviyo")
            result, import_jobs = self.klaviyo.import_profiles(resolved.destination, profiles, deadline)
            if result.verdict is Verdict.DEAD:
                self.jobs.advance(
                    replace(job, status="failed", error=result.reason, finished_at=iso(self.now())), cursor
                )
                return
            if result.verdict is Verdict.DEFER:  # throttled: the same step again, later
                delay = min(900, max(1, round(result.retry_after or 5)))
                self.queues.send("klaviyo", [control("klaviyo.sync", job_id=job.job_id, cursor=cursor)], delay)
                return
            if result.verdict is not Verdict.DELIVERED:
                raise RuntimeError(result.reason or result.verdict.value)
        next_cursor = json.dumps(next_key, sort_keys=True) if next_key else None
        advanced = replace(
            job,
            cursor=next_cursor,
            scanned=job.scanned + len(customers),
            sent=job.sent + len(profiles),
            skipped=job.skipped + len(customers) - len(profiles),
            pages=job.pages + 1,
            import_jobs=(*job.import_jobs, *import_jobs)[-20:],
            status="running" if next_cursor else "done",
            finished_at=None if next_cursor else iso(self.now()),
        )
        if not self.jobs.advance(advanced, cursor):
            return
        if next_cursor:
            self.queues.send("klaviyo", [control("klaviyo.sync", job_id=job.job_id, cursor=next_cursor)])
