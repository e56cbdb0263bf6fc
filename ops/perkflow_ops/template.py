"""template.yaml, read the way the local stack and the tests need it.

The template is the single source of truth for functions, routes, rules, schedules, queues and the table, so
local runs and tests build their resources from it instead of restating them. Intrinsics are resolved
against a :class:`Context` that names the local physical resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub ...) as their long form."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        message = f"unexpected node for !{tag_suffix}"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)  # type: ignore[no-untyped-call]


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass with CFN tags only
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return data


@dataclass
class Context:
    """Local names for what CloudFormation would create (Ref / GetAtt / Sub values)."""

    stack_name: str = "perkflow-local"
    region: str = "us-east-1"
    account: str = "123456789012"
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def ref(self, name: str) -> str:
        # Checked in turn with `is None`: an empty parameter value (e.g. no client origins) is still a value.
        for value in (self.pseudo(name), self.parameters.get(name), self.refs.get(name)):
            if value is not None:
                return value
        raise KeyError(f"no local value for Ref {name}")

    def get_att(self, resource: str, attribute: str) -> str:
        try:
            return self.attributes[(resource, attribute)]
        except KeyError as exc:
            raise KeyError(f"no local value for GetAtt {resource}.{attribute}") from exc

    def resolve(self, value: Any) -> Any:
        """Resolve intrinsics recursively (Ref, GetAtt, Sub, Join, If is not used by perkflow's template)."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(arg[0], arg[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(self.resolve(part)) for part in arg[1])
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


# -- what the template declares ------------------------------------------------------------------------------


@dataclass
class FunctionEvent:
    name: str
    type: str
    properties: dict[str, Any]


@dataclass
class Function:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]
    events: list[FunctionEvent]
    properties: dict[str, Any]
    timeout: int = 3
    memory_size: int = 128
    layers: list[Any] = field(default_factory=list)

    @property
    def short_name(self) -> str:
        """``ApiFunction`` -> ``api`` (the folder name under functions/)."""
        return Path(self.code_uri.rstrip("/")).name


def resources(template: Mapping[str, Any], type_name: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == type_name
    }


def functions(template: Mapping[str, Any]) -> list[Function]:
    globals_fn = template.get("Globals", {}).get("Function", {})
    global_env = globals_fn.get("Environment", {}).get("Variables", {})
    found = []
    for logical_id, resource in resources(template, "AWS::Serverless::Function").items():
        props = resource.get("Properties", {})
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        events = [
            FunctionEvent(name=name, type=event["Type"], properties=event.get("Properties", {}))
            for name, event in props.get("Events", {}).items()
        ]
        found.append(
            Function(
                logical_id=logical_id,
                code_uri=props["CodeUri"],
                handler=props.get("Handler", globals_fn.get("Handler", "app.lambda_handler")),
                environment=env,
                events=events,
                properties=props,
                # SAM's defaults when neither the function nor Globals set them.
                timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
                memory_size=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
                # SAM appends a function's own Layers to the global list.
                layers=[*globals_fn.get("Layers", []), *props.get("Layers", [])],
            )
        )
    return found


def layer_dirs(template: Mapping[str, Any], template_dir: Path) -> list[Path]:
    """Where each layer's importable code lives, as Lambda would mount it under /opt/python.

    With a BuildMethod, ``sam build`` installs the ContentUri folder itself into python/; without one the
    folder is zipped as is, so its python/ subfolder is what reaches the path.
    """
    found = []
    for resource in resources(template, "AWS::Serverless::LayerVersion").values():
        content = (template_dir / resource["Properties"]["ContentUri"]).resolve()
        built = bool(resource.get("Metadata", {}).get("BuildMethod"))
        found.append(content if built else content / "python")
    return found


def table_definition(template: Mapping[str, Any], logical_id: str = "Table") -> dict[str, Any]:
    """CreateTable arguments (keys, GSIs, stream) for the template's table, minus its name."""
    props = template["Resources"][logical_id]["Properties"]
    definition: dict[str, Any] = {
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    stream = props.get("StreamSpecification")
    if stream:
        definition["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return definition


def event_patterns(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every EventBridge rule pattern in the template, by '<Function or Rule>.<Event>' name."""
    patterns: dict[str, dict[str, Any]] = {}
    for function in functions(template):
        for event in function.events:
            if event.type == "EventBridgeRule":
                patterns[f"{function.logical_id}.{event.name}"] = _as_json(event.properties["Pattern"])
    for logical_id, rule in resources(template, "AWS::Events::Rule").items():
        pattern = rule.get("Properties", {}).get("EventPattern")
        if pattern:
            patterns[logical_id] = _as_json(pattern)
    return patterns


def _as_json(pattern: Any) -> dict[str, Any]:
    return json.loads(pattern) if isinstance(pattern, str) else dict(pattern)
