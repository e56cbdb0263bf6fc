"""``perkflow dlq ...`` and ``perkflow klaviyo ...``: operator commands for outbound sync.

Where they act:
- ``--local URL``: a running ``perkflow local up`` (its queues come from GET /_local/endpoints);
- ``--api URL`` (Klaviyo commands) / ``--stack NAME`` (DLQ commands): a deployed stack; the DLQ commands
  read the queue URLs from the stack's outputs with the machine's AWS credentials.
API calls authenticate with $PERKFLOW_APP_ID and $PERKFLOW_APP_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import webbrowser
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from perkflow_ops.api_client import base_url, call

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

DESTINATIONS = ("segment", "klaviyo", "webhook")
LOGICAL = {name: (f"{name.capitalize()}Queue", f"{name.capitalize()}DLQ") for name in DESTINATIONS}


def add_commands(commands: Any) -> None:
    dlq = commands.add_parser("dlq", help="outbound dead-letter queues")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    for name, text in (("redrive", "send dead letters back to their queue"), ("list", "show dead letters")):
        command = dlq_commands.add_parser(name, help=text)
        command.add_argument("--destination", choices=[*DESTINATIONS, "all"], default="all")
        where = command.add_mutually_exclusive_group()
        where.add_argument("--local", metavar="URL", help="a running local stack (default http://127.0.0.1:3000)")
        where.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack")
        command.add_argument("--max", type=int, default=0, help="at most this many per destination (0: all)")

    klaviyo = commands.add_parser("klaviyo", help="the Klaviyo integration")
    klaviyo_commands = klaviyo.add_subparsers(dest="klaviyo_command", required=True)
    for name, text in (
        ("connect", "connect perkflow to a Klaviyo account (OAuth)"),
        ("sync-customers", "send every customer to Klaviyo, with progress"),
        ("status", "show the integration's status"),
    ):
        command = klaviyo_commands.add_parser(name, help=text)
        where = command.add_mutually_exclusive_group()
        where.add_argument("--local", metavar="URL", help="a running local stack (default http://127.0.0.1:3000)")
        where.add_argument("--api", metavar="URL", help="a deployed stack's ApiUrl")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "dlq":
            return _dlq(args)
        return _klaviyo(args)
    except (RuntimeError, urllib.error.URLError, KeyError) as exc:
        print(f"perkflow {args.command}: {exc}", file=sys.stderr)
        return 1


# -- the API ---------------------------------------------------------------------------------------------------------


def _base_url(args: argparse.Namespace) -> str:
    return base_url(getattr(args, "api", None) or getattr(args, "local", None))


# -- klaviyo ---------------------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _klaviyo(args: argparse.Namespace) -> int:
    base = _base_url(args)
    if args.klaviyo_command == "status":
        print(json.dumps(call("GET", base + "/v1/integrations/klaviyo"), indent=2))
        return 0
    if args.klaviyo_command == "connect":
        return _connect(base)
    return _sync(base)


def _connect(base: str) -> int:
    authorize_url = call("POST", base + "/v1/integrations/klaviyo/connect")["authorize_url"]
    host = urlsplit(authorize_url).hostname
    if host in ("127.0.0.1", "localhost"):
        # The local stand-in's consent page agrees at once; follow it to perkflow's callback.
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(authorize_url, timeout=10)
            raise RuntimeError("the consent page did not redirect")
        except urllib.error.HTTPError as redirect:
            location = redirect.headers.get("Location", "")
        call("GET", base + urlsplit(location).path + "?" + urlsplit(location).query, auth=False)
    else:
        print("Open this address, sign in to Klaviyo and allow perkflow:\n")
        print(f"  {authorize_url}\n")
        webbrowser.open(authorize_url)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = call("GET", base + "/v1/integrations/klaviyo")
        if status["status"] == "connected":
            print(f"connected to Klaviyo account {status.get('account_id') or '?'} (scopes: {status.get('scope')})")
            return 0
        time.sleep(2)
    print("not connected after 10 minutes", file=sys.stderr)
    return 1


def _sync(base: str) -> int:
    job = call("POST", base + "/v1/integrations/klaviyo/sync")
    print(f"syncing customers to Klaviyo (job {job['id']})")
    spinner = "|/-\\"
    tick = 0
    while True:
        sync = call("GET", base + "/v1/integrations/klaviyo/sync")
        width = 30
        filled = width if sync["status"] == "done" else tick % (width + 1)
        bar = "#" * filled + "." * (width - filled)
        sys.stdout.write(
            f"\r  [{bar}] {spinner[tick % 4]} {sync['customers_scanned']} customers read, "
            f"{sync['profiles_sent']} profiles sent, {sync['customers_skipped']} without email  "
        )
        sys.stdout.flush()
        if sync["status"] in ("done", "failed"):
            print(f"\n{sync['status']}" + (f": {sync['error']}" if sync.get("error") else ""))
            return 0 if sync["status"] == "done" else 1
        tick += 1
        time.sleep(0.5)


# -- dlq -------------------------------------------------------------------------------------------------------------


def _queues(args: argparse.Namespace) -> tuple[SQSClient, dict[str, tuple[str, str]]]:
    import boto3

    names = DESTINATIONS if args.destination == "all" else (args.destination,)
    if args.stack:
        cloudformation = boto3.client("cloudformation")
        outputs = cloudformation.describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
        values = {output["OutputKey"]: output["OutputValue"] for output in outputs}
        sqs = boto3.client("sqs")
        return sqs, {name: (values[f"{LOGICAL[name][0]}Url"], values[f"{LOGICAL[name][1]}Url"]) for name in names}
    endpoints = call("GET", _base_url(args) + "/_local/endpoints", auth=False)
    sqs = boto3.client(
        "sqs",
        endpoint_url=endpoints["sqs"],
        region_name=endpoints["region"],
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - the local emulator's dummy credentials
    )
    queues = endpoints["queues"]
    return sqs, {name: (queues[LOGICAL[name][0]]["url"], queues[LOGICAL[name][1]]["url"]) for name in names}


def _dlq(args: argparse.Namespace) -> int:
    sqs, queues = _queues(args)
    total = 0
    for name, (queue_url, dlq_url) in queues.items():
        moved = 0
        reasons: dict[str, int] = {}
        while not args.max or moved < args.max:
            wanted = 10 if not args.max else min(10, args.max - moved)
            messages = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                VisibilityTimeout=30 if args.dlq_command == "redrive" else 1,
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                attributes = message.get("MessageAttributes", {})
                stated = attributes.get("perkflow-reason")
                reason = str(stated.get("StringValue")) if stated else "(moved by SQS after maxReceiveCount)"
                reasons[reason] = reasons.get(reason, 0) + 1
                if args.dlq_command == "redrive":
                    sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
                    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                moved += 1
                sys.stdout.write(f"\r  {name}: {moved} {'redriven' if args.dlq_command == 'redrive' else 'seen'}")
                sys.stdout.flush()
            if args.dlq_command == "list" and moved >= 1000:
                break
        verb = "redriven" if args.dlq_command == "redrive" else "dead letters"
        print(f"\r  {name}: {moved} {verb}" + "".join(f"\n    {count} x {reason}" for reason, count in reasons.items()))
        total += moved
    print(f"{total} {'redriven' if args.dlq_command == 'redrive' else 'dead letters'} in all")
    return 0
