"""Results: one flat JSON object (figure -> number or null), a markdown table, docs/benchmarks.md."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"
DOC = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Bar:
    figure: str
    description: str
    bar: str  # "<= 1.5", ">= 0.9", "reported"

    def met(self, value: float | None) -> str:
        if value is None:
            return "not measured yet"
        if self.bar == "reported":
            return "reported"
        operator, limit = self.bar.split()
        ok = value <= float(limit) if operator == "<=" else value >= float(limit)
        return "meets" if ok else "MISSES"


# reference/perf.md, in its order.
BARS = [
    Bar("ingest_put_ratio", "ingest 5,000 msgs over HTTP / 5,000 bare conditional PutItems", "<= 1.5"),
    Bar("ingest_items_written_per_msg", "DynamoDB items written per ingested message", "<= 1.2"),
    Bar("pipeline_items_per_event", "items read+written by all functions per segment-state track", "<= 4"),
    Bar("segments_items_ratio_1000_defs", "per-event items, 1,000 definitions / 1", "<= 1.05"),
    Bar("segments_cpu_ratio_1000_defs", "per-event CPU, 1,000 definitions / 1", "<= 1.25"),
    Bar("segments_items_ratio_100k_customers", "per-event items, 100k customers / 1k", "<= 1.05"),
    Bar("segments_cpu_ratio_100k_customers", "per-event CPU, 100k customers / 1k", "<= 1.25"),
    Bar("codegen_vs_reference_ratio", "1M codes / voucher-code-generator", "<= 1.0"),
    Bar("codegen_persist_ratio", "store 20k unique codes / bare BatchWriteItem", "<= 1.2"),
    Bar("redeem_txn_ratio", "one HTTP redemption / bare 2-item TransactWriteItems", "<= 3"),
    Bar("redeem_ddb_calls", "DynamoDB calls per redemption", "<= 2"),
    Bar("outbound_segment_requests_per_1000_events", "HTTP requests to Segment per 1,000 events", "<= 5"),
    Bar("outbound_klaviyo_requests_per_1000_events", "HTTP requests to Klaviyo per 1,000 events", "reported"),
    Bar("outbound_rate_limit_use", "delivered / 1,200 under a 600/min Klaviyo stand-in", ">= 0.9"),
    Bar("outbound_rate_limit_lost", "events lost in that run", "<= 0"),
    Bar("outbound_rate_limit_over", "share of requests answered 429 in that run", "<= 0.01"),
    Bar("usd_per_million_events", "AWS list-price cost per million messages, cost mix", "<= 3.50"),
    Bar("e2e_p50_ms", "local: ingest -> sink receives Customer Publication Succeeded, p50", "reported"),
    Bar("e2e_p95_ms", "same, p95", "reported"),
]


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(results: dict[str, float | None]) -> str:
    lines = ["| figure | value | bar | verdict | what it is |", "|---|---|---|---|---|"]
    described = {bar.figure for bar in BARS}
    rows = [
        *BARS,
        *(
            Bar(name, "fresh-interpreter import / import boto3 + client", "<= 1.3")
            for name in sorted(results)
            if name.startswith("cold_import_ratio_")
        ),
    ]
    for bar in rows:
        value = results.get(bar.figure)
        shown = "null" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")
        lines.append(f"| `{bar.figure}` | {shown} | {bar.bar} | {bar.met(value)} | {bar.description} |")
    extra = sorted(name for name in results if name not in described and not name.startswith("cold_import_ratio_"))
    for name in extra:
        lines.append(f"| `{name}` | {results[name]} | | | |")
    return "\n".join(lines)


def write(results: dict[str, float | None], notes: list[str]) -> str:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    markdown = table(results)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = DOC.read_text().split("<!-- results -->")[0] if DOC.exists() else "# Benchmarks\n\n"
    body = (
        f"<!-- results -->\n## Latest run\n\n{stamp}, commit `{commit()}`, BENCH_SCALE={results.get('bench_scale')}."
        f"\n\n{markdown}\n"
    )
    if notes:
        body += "\n" + "\n".join(f"- {note}" for note in notes) + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(header.rstrip() + "\n\n" + body)
    return markdown
