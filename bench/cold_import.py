"""cold_import_ratio_<function>: fresh-interpreter import time of each handler module / ``import boto3`` plus
one ``boto3.client("dynamodb")`` in a fresh interpreter of the same Python, median of 7 each."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from perkflow_ops import template

ROOT = Path(__file__).resolve().parents[1]
RUNS = 7

_BASELINE = (
    "import time; t = time.perf_counter(); import boto3; boto3.client('dynamodb'); print(time.perf_counter() - t)"
)
_HANDLER = (
    "import sys, time; sys.path[:0] = [{layer!r}, {code!r}]; t = time.perf_counter(); import app; "
    "print(time.perf_counter() - t)"
)


def _seconds(code: str, env: dict[str, str]) -> float:
    samples = []
    for _ in range(RUNS):
        output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        samples.append(float(output.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def measure() -> dict[str, float | None]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
    }
    baseline = _seconds(_BASELINE, env)
    results: dict[str, float | None] = {}
    tpl = template.load()
    for function in template.functions(tpl):
        function_env = {**env, **{k: str(v) for k, v in function.environment.items() if isinstance(v, str)}}
        code = _HANDLER.format(layer=str(ROOT / "layers" / "perkflow"), code=str(ROOT / function.code_uri))
        results[f"cold_import_ratio_{function.short_name}"] = round(_seconds(code, function_env) / baseline, 3)
    return results
