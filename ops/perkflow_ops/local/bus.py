"""EventBridge delivery as the template declares it, on top of moto's buses.

Functions PutEvents to moto. A catch-all rule on each bus copies every event to an internal "tap" queue,
which the dispatcher polls; each event is matched against every rule pattern of the template (a
function's EventBridgeRule events and the AWS::Events::Rule resources) and handed to the targets in the
envelope AWS sends, ``account`` included (moto leaves it out). Lambda targets are invoked asynchronously
with Lambda's retries; SQS targets receive the envelope as the message body. The events of one poll go to
each queue in SendMessageBatch calls, and a few pollers share a tap, so the local bus is not the slowest part
of a burst (EventBridge itself fans out in parallel).
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from perkflow_ops import template as tpl
from perkflow_ops.local.clients import Clients
from perkflow_ops.local.patterns import Pattern
from perkflow_ops.local.resources import Resources
from perkflow_ops.local.workers import Functions

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

log = logging.getLogger(__name__)

# Long polls return as soon as an event arrives; the wait only bounds how often an idle tap asks.
TAP_WAIT_SECONDS = 5
TAP_POLLERS = 4
SQS_BATCH = 10
RECENT_EVENTS = 1000
# Target features the dispatcher does not reproduce: refusing them beats delivering something else.
_UNSUPPORTED_TARGET_KEYS = ("Input", "InputPath", "InputTransformer")


@dataclass(frozen=True)
class Target:
    function: str | None = None  # logical id of a Lambda target
    queue_url: str | None = None  # URL of an SQS target
    message_group_id: str | None = None


@dataclass
class BusRule:
    name: str
    bus: str
    pattern: Pattern
    targets: list[Target] = field(default_factory=list)


def rules_from_template(template: Mapping[str, Any], resources: Resources, functions: Functions) -> list[BusRule]:
    context = resources.context
    rules: list[BusRule] = []
    for function in tpl.functions(template):
        for event in function.events:
            if event.type != "EventBridgeRule":
                continue
            name = f"{function.logical_id}.{event.name}"
            props = context.resolve(event.properties)
            _refuse_unsupported(name, props)
            if props.get("State", "ENABLED") == "DISABLED":
                continue
            bus = _bus_name(props.get("EventBusName", "default"))
            rules.append(BusRule(name, bus, Pattern(props["Pattern"]), [Target(function=function.logical_id)]))
    for logical_id, resource in tpl.resources(template, "AWS::Events::Rule").items():
        props = context.resolve(resource.get("Properties", {}))
        if "EventPattern" not in props or props.get("State", "ENABLED") == "DISABLED":
            continue
        targets = []
        for target in props.get("Targets", []):
            _refuse_unsupported(f"{logical_id} target {target.get('Id')}", target)
            arn = str(target["Arn"])
            if arn.startswith("arn:aws:sqs:"):
                group = target.get("SqsParameters", {}).get("MessageGroupId")
                targets.append(Target(queue_url=resources.queue_by_arn(arn).url, message_group_id=group))
                continue
            spec = functions.by_arn(arn)
            if spec is None:
                raise ValueError(f"{logical_id}: the target {arn} is neither a queue nor a function of the template")
            targets.append(Target(function=spec.logical_id))
        rules.append(
            BusRule(
                logical_id, _bus_name(props.get("EventBusName", "default")), Pattern(props["EventPattern"]), targets
            )
        )
    return rules


def _bus_name(value: Any) -> str:
    return str(value).rsplit("/", 1)[-1]  # a bus ARN ends with event-bus/<name>


def _refuse_unsupported(name: str, props: Mapping[str, Any]) -> None:
    present = [key for key in _UNSUPPORTED_TARGET_KEYS if key in props]
    if present:
        raise ValueError(f"{name}: {', '.join(present)} is not supported by the local stack")


def aws_envelope(delivered: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
    """The event as EventBridge hands it to a target, keys in AWS's order."""
    return {
        "version": delivered.get("version", "0"),
        "id": delivered["id"],
        "detail-type": delivered["detail-type"],
        "source": delivered["source"],
        "account": account,
        "time": delivered["time"],
        "region": delivered.get("region") or region,
        "resources": delivered.get("resources", []),
        "detail": delivered.get("detail", {}),
    }


class Dispatcher:
    def __init__(
        self, rules: list[BusRule], buses: list[str], clients: Clients, functions: Functions, context: tpl.Context
    ) -> None:
        self.rules = rules
        self.buses = buses
        self.clients = clients
        self.functions = functions
        self.context = context
        self._recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECENT_EVENTS)
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> None:
        for bus in self.buses:
            url = self._tap(bus)
            for poller in range(TAP_POLLERS):
                name = f"tap-{bus}-{poller}"
                threading.Thread(target=self._poll, args=(bus, url), name=name, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def recent(self) -> list[dict[str, Any]]:
        """The last events seen on the buses, oldest first, with the rules they matched."""
        with self._lock:
            return list(self._recent)

    def _tap(self, bus: str) -> str:
        name = f"{self.context.stack_name}-tap-{re.sub(r'[^A-Za-z0-9_-]', '-', bus)}"[:80]
        url = self.clients.sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = f"arn:aws:sqs:{self.context.region}:{self.context.account}:{name}"
        rule = f"{self.context.stack_name}-tap"
        # Every event carries version "0": a pattern that matches everything and is valid in AWS too.
        self.clients.events.put_rule(Name=rule, EventBusName=bus, EventPattern='{"version": ["0"]}')
        self.clients.events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "tap", "Arn": arn}])
        return url

    def _poll(self, bus: str, url: str) -> None:
        sqs = self.clients.sqs
        while not self._stopped.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=TAP_WAIT_SECONDS
                ).get("Messages", [])
                if messages:
                    envelopes = [
                        aws_envelope(json.loads(message["Body"]), self.context.account, self.context.region)
                        for message in messages
                    ]
                    self.dispatch(bus, envelopes)
                    sqs.delete_message_batch(
                        QueueUrl=url,
                        Entries=[
                            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                            for index, message in enumerate(messages)
                        ],
                    )
            except Exception:
                if self._stopped.is_set():
                    return
                log.exception("bus %s: tap poll failed", bus)
                self._stopped.wait(1)

    def dispatch(self, bus: str, envelopes: list[dict[str, Any]]) -> None:
        """Deliver events to the targets of every rule of ``bus`` that matches them, in arrival order."""
        batches: dict[tuple[str, str | None], list[tuple[str, dict[str, Any]]]] = {}
        for envelope in envelopes:
            matched = [rule for rule in self.rules if rule.bus == bus and rule.pattern.matches(envelope)]
            with self._lock:
                self._recent.append({"bus": bus, "event": envelope, "rules": [rule.name for rule in matched]})
            for rule in matched:
                for target in rule.targets:
                    if target.function is not None:
                        self.functions.invoke_async(target.function, envelope, why=f"rule {rule.name}")
                    else:
                        assert target.queue_url is not None
                        key = (target.queue_url, target.message_group_id)
                        batches.setdefault(key, []).append((rule.name, envelope))
        for (queue_url, group), entries in batches.items():
            for start in range(0, len(entries), SQS_BATCH):
                self._send(queue_url, group, entries[start : start + SQS_BATCH])

    def _send(self, queue_url: str, group: str | None, entries: list[tuple[str, dict[str, Any]]]) -> None:
        batch: list[SendMessageBatchRequestEntryTypeDef] = []
        for index, (_, envelope) in enumerate(entries):
            entry: SendMessageBatchRequestEntryTypeDef = {"Id": str(index), "MessageBody": json.dumps(envelope)}
            if group:
                entry["MessageGroupId"] = group
            batch.append(entry)
        try:
            failed = self.clients.sqs.send_message_batch(QueueUrl=queue_url, Entries=batch).get("Failed", [])
        except Exception:
            log.exception("could not deliver %d events to %s", len(entries), queue_url)
            return
        for failure in failed:
            rule, envelope = entries[int(failure["Id"])]
            log.error("rule %s: could not deliver event %s to %s: %s", rule, envelope["id"], queue_url, failure)
