"""API Gateway HTTP API behaviour: route selection, the payload format 2.0 event, the response mapping.

Routes come only from the template's HttpApi events. Selection follows API Gateway: among the routes
whose path matches, literal segments beat ``{variables}``, which beat a greedy ``{proxy+}`` (compared
segment by segment), a route's own method beats ``ANY``, and the ``$default`` route (an HttpApi event
without Path and Method) takes the rest.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from perkflow_ops import template as tpl

LITERAL, VARIABLE, GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    method: str  # upper case, or ANY
    path: str  # as the template writes it; "" for $default
    route_key: str

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/") if self.path.strip("/") else []

    def specificity(self) -> tuple[tuple[int, ...], int]:
        """Sorts the most specific route first."""
        return tuple(_kind(segment) for segment in self.segments), 1 if self.method == "ANY" else 0

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        parts = path.strip("/").split("/") if path.strip("/") else []
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            kind = _kind(segment)
            if kind == GREEDY:
                rest = parts[index:]
                if not rest:
                    return None
                params[segment[1:-2]] = unquote("/".join(rest))
                return params
            if index >= len(parts):
                return None
            if kind == VARIABLE:
                if not parts[index]:
                    return None
                params[segment[1:-1]] = unquote(parts[index])
            elif segment != parts[index]:
                return None
        return params if len(parts) == len(self.segments) else None


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return GREEDY
    if segment.startswith("{") and segment.endswith("}"):
        return VARIABLE
    return LITERAL


class Router:
    def __init__(self, routes: Sequence[Route]) -> None:
        self.default = next((route for route in routes if route.route_key == "$default"), None)
        self.routes = sorted((route for route in routes if route.route_key != "$default"), key=Route.specificity)

    @classmethod
    def from_template(cls, template: Mapping[str, Any]) -> Router:
        routes = []
        for function in tpl.functions(template):
            for event in function.events:
                if event.type != "HttpApi":
                    continue
                props = event.properties
                version = str(props.get("PayloadFormatVersion", "2.0"))
                if version != "2.0":
                    raise ValueError(f"{function.logical_id}.{event.name}: only payload format 2.0 is served")
                if "Path" not in props and "Method" not in props:
                    routes.append(Route(function.logical_id, "ANY", "", "$default"))
                    continue
                method = str(props.get("Method", "ANY")).upper()
                path = str(props["Path"])
                routes.append(Route(function.logical_id, method, path, f"{method} {path}"))
        return cls(routes)

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        if self.default is not None:
            return self.default, {}
        return None


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"


def build_event(
    route: Route, params: Mapping[str, str], request: Request, now: datetime, account: str, api_id: str
) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for ``request``."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # What API Gateway adds about the connection it received.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers.setdefault("x-forwarded-proto", "http")
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    moment = now.astimezone(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = dict(params)
    host = headers.get("host", "127.0.0.1")
    event["requestContext"] = {
        "accountId": account,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": _request_id(),
        "routeKey": route.route_key,
        "stage": "$default",
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(moment.timestamp() * 1000),
    }
    if request.body:
        encoded = headers.get("content-encoding", "identity").lower() not in ("", "identity")
        text = None if encoded else _utf8(request.body)
        if text is None:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
    else:
        event["isBase64Encoded"] = False
    return event


def _utf8(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _request_id() -> str:
    # API Gateway's ids look like "JKJaXmPLvHcESHA="; any unique value serves.
    return base64.b64encode(uuid.uuid4().bytes[:10]).decode()


def new_api_id() -> str:
    return secrets.token_hex(5)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def to_response(result: Any) -> Response:
    """Map a handler's result back to HTTP as API Gateway does for payload format 2.0."""
    if not isinstance(result, dict) or "statusCode" not in result:
        # No statusCode: API Gateway answers 200 with the result as JSON.
        return json_response(200, result)
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(str(raw))
    else:
        body = (raw if isinstance(raw, str) else json.dumps(raw)).encode()
    return Response(int(result["statusCode"]), headers, body)


def json_response(status: int, payload: Any) -> Response:
    return Response(status, [("Content-Type", "application/json")], json.dumps(payload).encode())


INTERNAL_ERROR = json_response(500, {"message": "Internal Server Error"})
SERVICE_UNAVAILABLE = json_response(503, {"message": "Service Unavailable"})
NOT_FOUND = json_response(404, {"message": "Not Found"})
