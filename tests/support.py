"""Helpers every tier shares: sample events from events/, a Lambda context, handler loading."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"


def sample_event(name: str) -> dict[str, Any]:
    """An event from events/ (``api/health`` -> events/api/health.json), the very file sam local uses."""
    return json.loads((EVENTS / f"{name}.json").read_text())  # type: ignore[no-any-return]


@dataclass
class FakeLambdaContext:
    function_name: str = "perkflow-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:perkflow-test"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/app.py fresh, under its own module name (every handler is app.py)."""
    name = f"perkflow_handler_{function}"
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS / function / "app.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Call a handler as Lambda would, with the function name it has in template.yaml's environment."""
    import os

    from perkflow import wiring

    if os.environ.get("PERKFLOW_FUNCTION") != function:
        os.environ["PERKFLOW_FUNCTION"] = function
        os.environ["POWERTOOLS_SERVICE_NAME"] = function
        wiring.reset()
    return load_handler(function).lambda_handler(event, FakeLambdaContext(function_name=function))


def http_event(
    method: str,
    path: str,
    *,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    base64: bool = False,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event shaped like events/api/health.json, for another method/path/body."""
    import base64 as b64
    import copy

    event = copy.deepcopy(sample_event("api/health"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    if query:
        from urllib.parse import parse_qsl

        event["queryStringParameters"] = dict(parse_qsl(query))
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body
        event["body"] = b64.b64encode(raw).decode() if base64 else raw.decode()
        event["isBase64Encoded"] = base64
    return event


def json_body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
