"""What SQS and DynamoDB stream event source mappings share: reading a batch response."""

from __future__ import annotations

from collections.abc import Sequence

from perkflow_ops.local.workers import Invocation


def reported_failures(invocation: Invocation, report_failures: bool, identifiers: Sequence[str]) -> list[str]:
    """The identifiers to retry, read as Lambda reads a batch response.

    An error fails the whole batch. Without ReportBatchItemFailures a returned value means nothing. With
    it, no response or an empty ``batchItemFailures`` is success, the items named are failures, and a
    malformed response (an item without an identifier, or one not in the batch) fails the whole batch.
    """
    if not invocation.ok:
        return list(identifiers)
    if not report_failures or invocation.result is None:
        return []
    if not isinstance(invocation.result, dict):
        return list(identifiers)
    items = invocation.result.get("batchItemFailures") or []
    if not isinstance(items, list):
        return list(identifiers)
    known = set(identifiers)
    named: set[str] = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in known:
            return list(identifiers)
        named.add(str(identifier))
    return [identifier for identifier in identifiers if identifier in named]
