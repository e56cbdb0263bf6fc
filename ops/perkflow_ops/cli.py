"""The ``perkflow`` command line for operators.

perkflow local up [--port N] [--template PATH]   the local stack (Ctrl-C stops everything)
perkflow demo                                     the end-to-end story on a fresh local stack
perkflow dlq redrive|list [--destination D]       outbound dead letters back to their queue (or shown)
perkflow klaviyo connect|sync-customers|status    the Klaviyo integration (OAuth, initial customer sync)
perkflow segments backfill SEGMENT_ID             recompute a segment over every customer, with progress
perkflow codes generate CAMPAIGN --count N        add N unique codes to a campaign, with progress
perkflow openapi [--check]                        write docs/openapi.json from the api's routes (or check it)
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from perkflow_ops import template as tpl


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perkflow", description="perkflow operator commands")
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="the local stack")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    up = local_commands.add_parser("up", help="start the local stack and serve until Ctrl-C or SIGTERM")
    up.add_argument(
        "--port",
        type=int,
        default=None,
        help="API port on 127.0.0.1 (default: $PERKFLOW_PORT or 3000; 0 picks a free one)",
    )
    up.add_argument(
        "--template",
        type=Path,
        default=tpl.TEMPLATE,
        help="SAM template to run (default: the repository's template.yaml)",
    )

    commands.add_parser("demo", help="bring up the local stack and run the end-to-end story")
    openapi = commands.add_parser("openapi", help="write docs/openapi.json from the api function's routes")
    openapi.add_argument("--check", action="store_true", help="only say whether docs/openapi.json is current")
    from perkflow_ops import outbound_cli

    outbound_cli.add_commands(commands)
    from perkflow_ops import segments_cli

    segments_cli.add_commands(commands)
    from perkflow_ops import codes_cli

    codes_cli.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "local":
        from perkflow_ops.local import credentials, stack

        port = args.port if args.port is not None else int(os.environ.get("PERKFLOW_PORT") or credentials.DEFAULT_PORT)
        return stack.run(args.template, port)
    if args.command in ("dlq", "klaviyo"):
        from perkflow_ops import outbound_cli

        return outbound_cli.run(args)
    if args.command == "segments":
        from perkflow_ops import segments_cli

        return segments_cli.run(args)
    if args.command == "codes":
        from perkflow_ops import codes_cli

        return codes_cli.run(args)
    if args.command == "openapi":
        from perkflow_ops import openapi

        return openapi.write(args.check)
    # Imported only when asked for: the demo is its own module with its own start-up cost.
    demo = importlib.import_module("perkflow_ops.demo")
    return int(demo.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
