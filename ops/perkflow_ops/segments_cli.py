"""``perkflow segments backfill <segment id>``: recompute a segment over every customer, with progress."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any
from urllib.error import URLError

from perkflow_ops.api_client import base_url, call, progress_bar


def add_commands(commands: Any) -> None:
    segments = commands.add_parser("segments", help="segments")
    segment_commands = segments.add_subparsers(dest="segments_command", required=True)
    backfill = segment_commands.add_parser("backfill", help="recompute a segment over every customer")
    backfill.add_argument("segment_id")
    backfill.add_argument("--api", metavar="URL", help="the stack's ApiUrl (default $PERKFLOW_API_URL or local)")


def run(args: argparse.Namespace) -> int:
    base = base_url(args.api)
    try:
        segment = call("POST", f"{base}/v1/segments/{args.segment_id}/backfill")
        print(f"backfilling {segment['name']} ({segment['id']})")
        while True:
            segment = call("GET", f"{base}/v1/segments/{args.segment_id}")
            done = float(segment.get("progress", 1.0))
            sys.stdout.write(f"\r  {progress_bar(done)}  {segment.get('size', 0)} members  ")
            sys.stdout.flush()
            if segment["status"] == "ready":
                print("\nready")
                return 0
            time.sleep(0.5)
    except (RuntimeError, URLError, KeyError) as exc:
        print(f"perkflow segments: {exc}", file=sys.stderr)
        return 1
