"""What every stand-in shares: an HTTP server on 127.0.0.1, fault injection, a record of what was accepted,
and control routes under ``/_standin/`` (on the stand-in's own port; GET /_local/endpoints lists the ports
as ``sinks``):

- ``GET /_standin/state``: what was received and accepted (dedupe keys, duplicates, every attempt's status);
- ``POST /_standin/faults``: inject faults (see faults.py); ``{}`` stops them;
- ``POST /_standin/reset``: forget everything received and every fault and limit set;
- ``GET /_standin/secrets``: every credential it issued or accepts (tests check none leaked into a log).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from perkflow_ops.local.sinks import recorded_request
from perkflow_ops.standins.faults import Faults

CONTROL_PREFIX = "/_standin/"
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    stall_seconds: float = 0.0  # answer late (after processing): the client has timed out by then
    hang_up: bool = False  # close the connection without answering

    @classmethod
    def json(
        cls, status: int, body: Any, headers: Mapping[str, str] | None = None, content_type: str = "application/json"
    ) -> Reply:
        data = json.dumps(body).encode() if body is not None else b""
        return cls(status, data, dict(headers or {}), content_type)


def redacted(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as recorded: credentials replaced by their scheme, so nothing secret is ever shown."""
    shown = dict(headers)
    if "authorization" in shown:
        scheme = shown["authorization"].split(" ", 1)[0]
        shown["authorization"] = f"{scheme} ***"
    return shown


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (it timed out) is expected here."""


class StandIn:
    """Base of the Segment, Klaviyo and webhook stand-ins."""

    destination = "stand-in"

    def __init__(self, destination: str | None = None) -> None:
        self.faults = Faults()
        self._lock = threading.RLock()
        self._accepted_requests: list[dict[str, Any]] = []
        self._attempts: list[dict[str, Any]] = []
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"standin-{self.destination}", daemon=True
        )

    # -- the Sink protocol (perkflow_ops.local.sinks) -------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._accepted_requests)

    def environment(self) -> dict[str, str]:
        """Variables the functions need to reach this stand-in (beyond its URL)."""
        return {}

    # -- what subclasses implement --------------------------------------------------------------------------------
    def is_api(self, path: str) -> bool:
        return True

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def error(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> Reply:
        return Reply.json(status, {"code": code, "message": detail}, headers)

    def state(self) -> dict[str, Any]:
        with self._lock:
            statuses: dict[str, int] = {}
            for attempt in self._attempts:
                statuses[str(attempt["status"])] = statuses.get(str(attempt["status"]), 0) + 1
            return {
                "destination": self.destination,
                "requests": len(self._attempts),
                "statuses": statuses,
                "attempts": list(self._attempts),
                "faults": self.faults.describe(),
            }

    def secrets(self) -> list[str]:
        """Every credential this stand-in issued or accepts (for checks that none of them leaked into a log)."""
        return []

    def reset(self) -> None:
        with self._lock:
            self._accepted_requests.clear()
            self._attempts.clear()
        self.faults.configure({})

    def control(self, request: Request) -> Reply:
        route = request.path.removeprefix(CONTROL_PREFIX).rstrip("/")
        if route == "state" and request.method == "GET":
            return Reply.json(200, self.state())
        if route == "faults" and request.method == "POST":
            try:
                return Reply.json(200, self.faults.configure(request.json() or {}))
            except (TypeError, ValueError) as exc:
                return Reply.json(400, {"message": str(exc)})
        if route == "secrets" and request.method == "GET":
            return Reply.json(200, {"secrets": self.secrets()})
        if route == "reset" and request.method == "POST":
            self.reset()
            return Reply.json(200, {"reset": True})
        return Reply.json(404, {"message": f"no control route {request.method} {request.path}"})

    # -- serving ---------------------------------------------------------------------------------------------------
    def _serve(self, request: Request) -> Reply:
        if request.path.startswith(CONTROL_PREFIX):
            return self.control(request)
        if self.is_api(request.path) and self.faults.latency:
            time.sleep(self.faults.latency)
        fault = self.faults.draw(request.path) if self.is_api(request.path) else None
        if fault == "reset":
            reply = Reply(0, hang_up=True)
        elif fault == "429":
            seconds = self.faults.retry_after
            reply = self.throttled(max(1, round(seconds)) if seconds >= 1 else seconds)
        elif fault is not None and fault != "timeout":
            reply = self.error(int(fault), "injected_fault", f"an injected {fault}")
        elif self.is_api(request.path) and (status := self.faults.permanent(request.body)) is not None:
            reply = self.error(status, "invalid", "refused: the body carries the injected failure marker")
        else:
            reply = self.handle(request)
            if fault == "timeout":
                reply.stall_seconds = self.faults.stall_seconds
        self._note(request, reply, fault)
        return reply

    def throttled(self, seconds: float) -> Reply:
        return self.error(429, "throttled", f"Request was throttled. Expected available in {seconds} seconds.",
                          {"Retry-After": str(seconds)})  # fmt: skip

    def _note(self, request: Request, reply: Reply, fault: str | None) -> None:
        with self._lock:
            self._attempts.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "status": reply.status or None,
                    "fault": fault,
                    "at": time.time(),
                }
            )
            if 200 <= reply.status < 300:
                entry = recorded_request(request.method, request.path, redacted(request.headers), request.body)
                self._accepted_requests.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self.close_connection = True
                    self._write(Reply.json(413, {"message": "body too large"}))
                    return
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query={name: values[-1] for name, values in parse_qs(parts.query).items()},
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                )
                try:
                    reply = standin._serve(request)
                except Exception as exc:  # a stand-in bug answers 500 rather than hanging the caller
                    reply = Reply.json(500, {"message": f"stand-in error: {type(exc).__name__}"})
                if reply.hang_up:
                    self.close_connection = True
                    return
                if reply.stall_seconds:
                    time.sleep(reply.stall_seconds)
                self._write(reply)

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.body or reply.status not in (202, 204):
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                except OSError:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

            def log_message(self, format: str, *args: Any) -> None:
                """Nothing is printed: URLs can carry codes and tokens."""

        return Handler
