"""``make bench``: every figure of reference/perf.md, in one run.

Writes bench/results/latest.json (figure -> number, null where not measurable yet) and docs/benchmarks.md.
BENCH_SCALE (default 1.0) shrinks the sizes for a quick run; the json records it.
"""

from __future__ import annotations

import os
import sys

from bench import codegen, cold_import, ingest, outbound, pipeline, promotions, report, segments
from perkflow_ops.local.harness import start_stack


def main() -> int:
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    results: dict[str, float | None] = {bar.figure: None for bar in report.BARS}
    results["bench_scale"] = scale
    notes: list[str] = []

    print("cold imports (median of 7 fresh interpreters each)", flush=True)
    results.update(cold_import.measure())

    print("code generation (perkflow vs voucher-code-generator, same run)", flush=True)
    results.update(codegen.measure(scale))

    print("ingest alone (a local stack with its table streams off)", flush=True)
    with start_stack(env={"PERKFLOW_LOCAL_TIMERS": "off", "PERKFLOW_LOCAL_STREAMS": "off"}) as stack:
        results.update(ingest.measure(stack, scale))

    print("local stack figures", flush=True)
    with start_stack(env={"PERKFLOW_LOCAL_TIMERS": "off"}) as stack:
        # The segments figures seed 100,000 customers and 1,000 definitions: they come last, so that the
        # segments the others create backfill over the customers the story has, not over the seeded base.
        results.update(pipeline.measure(stack, scale))
        results.update(promotions.measure(stack, scale))
        results.update(outbound.measure(stack, scale))
        results.update(segments.measure(stack, scale))

    print()
    print(report.write(results, notes))
    print(f"\nwrote {report.RESULTS.relative_to(report.ROOT)} and {report.DOC.relative_to(report.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
