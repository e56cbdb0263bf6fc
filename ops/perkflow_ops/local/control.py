"""The local-only endpoints under /_local/ (never deployed, no auth; DESIGN §6 "Local stack only").

- ``GET|POST /_local/clock``: read or set the clock every function sees.
- ``POST /_local/schedules/{name}``: fire a schedule now; answers what the function returned.
- ``GET /_local/sinks``: what outbound deliveries each local sink received.
- ``GET /_local/stats``, ``POST /_local/stats/reset``: per-function counters (the bench reads them).
- ``GET /_local/endpoints``: the emulators' URLs and the physical names of the template's resources.
- ``GET /_local/events``: the last events seen on the buses and the rules each matched.
- ``GET /_local/docs``: Swagger UI over ``GET /_local/openapi.json`` (docs/openapi.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perkflow_ops import openapi
from perkflow_ops.local.bus import Dispatcher
from perkflow_ops.local.clock import StackClock
from perkflow_ops.local.http_router import NOT_FOUND, Response, json_response
from perkflow_ops.local.schedules import Scheduler
from perkflow_ops.local.sinks import Sinks
from perkflow_ops.local.stats import Stats
from perkflow_ops.local.workers import Invocation


@dataclass
class Control:
    clock: StackClock
    scheduler: Scheduler
    sinks: Sinks
    stats: Stats
    dispatcher: Dispatcher
    endpoints: Callable[[], dict[str, Any]]

    def handle(self, method: str, path: str, raw_body: bytes) -> Response:
        if method == "GET" and (path.startswith("/_local/docs") or path == "/_local/openapi.json"):
            return _documentation(path)
        try:
            body = json.loads(raw_body) if raw_body.strip() else {}
        except ValueError:
            return json_response(400, {"message": "the body is not JSON"})
        if not isinstance(body, dict):
            return json_response(400, {"message": "the body must be a JSON object"})
        route = path.rstrip("/")
        if route == "/_local/clock" and method == "POST":
            try:
                return json_response(200, self.clock.update(body))
            except ValueError as exc:
                return json_response(400, {"message": str(exc)})
        if route.startswith("/_local/schedules/") and method == "POST":
            return self._fire(route.removeprefix("/_local/schedules/"))
        if route == "/_local/stats/reset" and method == "POST":
            self.stats.reset()
            return json_response(200, self.stats.snapshot())
        reads = self._reads()
        if route in reads and method == "GET":
            return json_response(200, reads[route]())
        return json_response(404, {"message": "Not Found"})

    def _reads(self) -> dict[str, Callable[[], Any]]:
        return {
            "/_local/clock": self.clock.describe,
            "/_local/sinks": self.sinks.recorded,
            "/_local/stats": self.stats.snapshot,
            "/_local/endpoints": self.endpoints,
            "/_local/events": lambda: {"events": self.dispatcher.recent()},
        }

    def _fire(self, name: str) -> Response:
        invocation = self.scheduler.fire(name)
        if invocation is None:
            known = sorted(self.scheduler.schedules)
            return json_response(404, {"message": f"no schedule named {name!r}", "schedules": known})
        return _outcome(invocation)


def _documentation(path: str) -> Response:
    if path == "/_local/openapi.json":
        if not openapi.DOCUMENT.exists():
            return NOT_FOUND
        return Response(200, [("Content-Type", "application/json")], openapi.DOCUMENT.read_bytes())
    if path.rstrip("/") == "/_local/docs":
        return Response(200, [("Content-Type", "text/html; charset=utf-8")], openapi.PAGE.encode())
    found = openapi.asset(path.removeprefix("/_local/docs/"))
    if found is None:
        return NOT_FOUND
    content_type, body = found
    return Response(200, [("Content-Type", content_type)], body)


def _outcome(invocation: Invocation) -> Response:
    if invocation.ok:
        return json_response(200, invocation.result)
    error = invocation.error or {}
    details = {"errorType": error.get("errorType"), "errorMessage": error.get("errorMessage")}
    if invocation.timed_out:
        return json_response(503, {"message": "Service Unavailable", **details})
    return json_response(500, {"message": "Internal Server Error", **details})
