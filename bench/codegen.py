"""codegen_vs_reference_ratio: perkflow's code generator / the npm ``voucher-code-generator`` (reference/perf.md).

Both make N = 1,000,000 x scale unique codes, pattern ``GIFT-####-####``, charset
``ABCDEFGHJKLMNPQRSTUVWXYZ23456789``, in the same run. Each side is timed inside its own process (Python's
``perf_counter`` around ``generate()``, node's ``process.hrtime`` around ``generate()``), so neither pays for
interpreter start-up; each warms up with one full-size run, then reports the median of 3.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from perkflow.domain.promotions.codes import CodeConfig, generate

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "node_modules" / "voucher-code-generator"
PATTERN = "GIFT-####-####"
CHARSET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODES = 1_000_000
RUNS = 3

# argv: module path, count, runs. Prints the timed runs' seconds as a JSON list.
_NODE = r"""
const generator = require(process.argv[1]);
const count = Number(process.argv[2]);
const runs = Number(process.argv[3]);
const config = {count, pattern: %(pattern)s, charset: %(charset)s};
const once = () => {
  const start = process.hrtime.bigint();
  const codes = generator.generate(config);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (codes.length !== count) throw new Error(`made ${codes.length} codes, not ${count}`);
  return seconds;
};
once();
console.log(JSON.stringify(Array.from({length: runs}, once)));
"""


def _perkflow_seconds(count: int) -> list[float]:
    config = CodeConfig(pattern=PATTERN, charset=CHARSET)
    generate(config, count)  # warm-up
    seconds = []
    for _ in range(RUNS):
        start = time.perf_counter()
        codes = generate(config, count)
        seconds.append(time.perf_counter() - start)
        assert len(set(codes)) == count
    return seconds


def _reference_seconds(node: str, count: int) -> list[float]:
    script = _NODE % {"pattern": json.dumps(PATTERN), "charset": json.dumps(CHARSET)}
    output = subprocess.run(
        [node, "-e", script, str(REFERENCE), str(count), str(RUNS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return [float(value) for value in json.loads(output.stdout.strip().splitlines()[-1])]


def measure(scale: float) -> dict[str, float | None]:
    node = shutil.which("node")
    if node is None or not REFERENCE.is_dir():
        return {"codegen_vs_reference_ratio": None}  # perf.md: a figure that cannot be measured is null
    count = max(1, round(CODES * scale))
    reference = statistics.median(_reference_seconds(node, count))
    perkflow = statistics.median(_perkflow_seconds(count))
    return {"codegen_vs_reference_ratio": round(perkflow / reference, 3)}
