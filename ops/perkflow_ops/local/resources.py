"""The template's stateful resources created in the emulators, and the Context that names them.

Physical names follow CloudFormation's habit (``<stack>-<LogicalId>`` unless the template names the
resource), ARNs use the local account and region, so Ref/GetAtt/Sub in the template resolve to what the
functions can really reach.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from perkflow_ops import template as tpl
from perkflow_ops.local.clients import Clients

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str


@dataclass
class Resources:
    context: tpl.Context
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    stream_arns: dict[str, str] = field(default_factory=dict)  # table logical id -> stream ARN
    buses: dict[str, str] = field(default_factory=dict)  # logical id -> bus name
    queues: dict[str, Queue] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> secret ARN

    def queue_by_arn(self, arn: str) -> Queue:
        for queue in self.queues.values():
            if queue.arn == arn:
                return queue
        raise KeyError(f"no queue of the template has the ARN {arn}")

    def describe(self) -> dict[str, Any]:
        """Names and addresses for GET /_local/endpoints."""
        return {
            "tables": self.tables,
            "streams": self.stream_arns,
            "buses": self.buses,
            "queues": {logical: {"name": q.name, "url": q.url, "arn": q.arn} for logical, q in self.queues.items()},
            "secrets": self.secrets,
        }


def provision(template: Mapping[str, Any], clients: Clients, context: tpl.Context) -> Resources:
    """Create tables, buses, queues, secrets and rules; fill ``context`` with their names."""
    created = Resources(context=context)
    _name_everything(template, context)
    _functions_and_layers(template, context)
    for logical_id, resource in tpl.resources(template, "AWS::DynamoDB::Table").items():
        _table(template, logical_id, resource, clients, created)
    for logical_id, resource in tpl.resources(template, "AWS::Events::EventBus").items():
        _bus(logical_id, resource, clients, created)
    _queues(template, clients, created)
    for logical_id, resource in tpl.resources(template, "AWS::SecretsManager::Secret").items():
        _secret(logical_id, resource, clients, created)
    for logical_id, resource in tpl.resources(template, "AWS::Events::Rule").items():
        _rule(logical_id, resource, clients, created)
    return created


def physical_name(context: tpl.Context, logical_id: str, props: Mapping[str, Any], key: str) -> str:
    if key in props:
        return str(context.resolve(props[key]))
    return f"{context.stack_name}-{logical_id}"


def _name_everything(template: Mapping[str, Any], context: tpl.Context) -> None:
    # A resource the stack does not emulate still has a Ref value, so env vars naming it resolve.
    for logical_id in template.get("Resources", {}):
        context.refs.setdefault(logical_id, f"{context.stack_name}-{logical_id}")


def _functions_and_layers(template: Mapping[str, Any], context: tpl.Context) -> None:
    prefix = f"arn:aws:lambda:{context.region}:{context.account}"
    for function in tpl.functions(template):
        name = physical_name(context, function.logical_id, function.properties, "FunctionName")
        context.refs[function.logical_id] = name
        context.attributes[(function.logical_id, "Arn")] = f"{prefix}:function:{name}"
    for logical_id, layer in tpl.resources(template, "AWS::Serverless::LayerVersion").items():
        name = physical_name(context, logical_id, layer.get("Properties", {}), "LayerName")
        context.refs[logical_id] = f"{prefix}:layer:{name}:1"


def _table(
    template: Mapping[str, Any], logical_id: str, resource: Mapping[str, Any], clients: Clients, created: Resources
) -> None:
    context = created.context
    name = physical_name(context, logical_id, resource.get("Properties", {}), "TableName")
    # TTL is not emulated by DynamoDB Local; perkflow's code filters expired items itself.
    description = clients.dynamodb.create_table(TableName=name, **tpl.table_definition(template, logical_id))
    created.tables[logical_id] = name
    context.refs[logical_id] = name
    context.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{context.region}:{context.account}:table/{name}"
    stream_arn = description["TableDescription"].get("LatestStreamArn")
    if stream_arn:
        created.stream_arns[logical_id] = stream_arn
        context.attributes[(logical_id, "StreamArn")] = stream_arn


def _bus(logical_id: str, resource: Mapping[str, Any], clients: Clients, created: Resources) -> None:
    context = created.context
    name = str(context.resolve(resource["Properties"]["Name"]))
    if name != "default":
        clients.events.create_event_bus(Name=name)
    created.buses[logical_id] = name
    context.refs[logical_id] = name
    context.attributes[(logical_id, "Name")] = name
    context.attributes[(logical_id, "Arn")] = f"arn:aws:events:{context.region}:{context.account}:event-bus/{name}"


_QUEUE_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
)
_REDRIVE_ATTRIBUTES: tuple[QueueAttributeNameType, ...] = ("RedrivePolicy", "RedriveAllowPolicy")


def _queues(template: Mapping[str, Any], clients: Clients, created: Resources) -> None:
    context = created.context
    declared = tpl.resources(template, "AWS::SQS::Queue")
    # Names and ARNs first: a RedrivePolicy names its DLQ by GetAtt before that queue exists.
    for logical_id, resource in declared.items():
        props = resource.get("Properties", {})
        name = physical_name(context, logical_id, props, "QueueName")
        if props.get("FifoQueue") and not name.endswith(".fifo"):
            name += ".fifo"
        context.attributes[(logical_id, "Arn")] = f"arn:aws:sqs:{context.region}:{context.account}:{name}"
        context.attributes[(logical_id, "QueueName")] = name
    for logical_id, resource in declared.items():
        props = context.resolve(resource.get("Properties", {}))
        name = context.get_att(logical_id, "QueueName")
        attributes: dict[QueueAttributeNameType, str] = {
            key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props
        }
        url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        context.refs[logical_id] = url
        context.attributes[(logical_id, "QueueUrl")] = url
        created.queues[logical_id] = Queue(logical_id, name, url, context.get_att(logical_id, "Arn"))
    # Redrive last, once every dead-letter queue exists (moto checks that it does).
    for logical_id, resource in declared.items():
        props = context.resolve(resource.get("Properties", {}))
        redrive: dict[QueueAttributeNameType, str] = {
            key: _attribute(props[key]) for key in _REDRIVE_ATTRIBUTES if key in props
        }
        if redrive:
            clients.sqs.set_queue_attributes(QueueUrl=created.queues[logical_id].url, Attributes=redrive)


def _attribute(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _secret(logical_id: str, resource: Mapping[str, Any], clients: Clients, created: Resources) -> None:
    context = created.context
    props = context.resolve(resource.get("Properties", {}))
    name = physical_name(context, logical_id, props, "Name")
    value = props.get("SecretString")
    if value is None:
        value = _generated_secret(props.get("GenerateSecretString", {}))
    arn = clients.secretsmanager.create_secret(Name=name, SecretString=str(value))["ARN"]
    created.secrets[logical_id] = arn
    context.refs[logical_id] = arn  # Ref of a secret is its ARN


def _generated_secret(spec: Mapping[str, Any]) -> str:
    length = int(spec.get("PasswordLength", 32))
    password = secrets.token_urlsafe(length)[:length]
    if "SecretStringTemplate" in spec and "GenerateStringKey" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


def _rule(logical_id: str, resource: Mapping[str, Any], clients: Clients, created: Resources) -> None:
    """The rule exists on its bus as in AWS; its targets are served by the dispatcher (see bus.py)."""
    context = created.context
    props = context.resolve(resource.get("Properties", {}))
    name = physical_name(context, logical_id, props, "Name")
    bus = str(props.get("EventBusName", "default")).rsplit("/", 1)[-1]
    arguments: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
    if "EventPattern" in props:
        pattern = props["EventPattern"]
        arguments["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
    if "ScheduleExpression" in props:
        arguments["ScheduleExpression"] = props["ScheduleExpression"]
    arn = clients.events.put_rule(**arguments)["RuleArn"]
    context.refs[logical_id] = name
    context.attributes[(logical_id, "Arn")] = arn
