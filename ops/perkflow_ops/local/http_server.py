"""The stack's HTTP front door on 127.0.0.1: /_local/ endpoints, and API Gateway for everything else."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from perkflow_ops.local import http_router as api
from perkflow_ops.local.control import Control
from perkflow_ops.local.workers import Functions

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default of 5 refuses bursts of parallel clients
    app: _App

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print to stderr; a client hanging up mid-answer is not the console's business.
        log.debug("connection from %s failed", client_address, exc_info=True)


class ApiServer:
    def __init__(self, port: int) -> None:
        # Bound at once, so a busy port fails start-up before anything else is started.
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(
        self,
        router: api.Router,
        functions: Functions,
        control: Control,
        now: Callable[[], datetime],
        account: str,
        api_id: str,
    ) -> None:
        self._server.app = _App(router, functions, control, now, account, api_id)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop serving (requests in flight finish on their threads)."""
        if self._thread.is_alive():
            self._server.shutdown()

    def close(self) -> None:
        self._server.server_close()


class _App:
    def __init__(
        self,
        router: api.Router,
        functions: Functions,
        control: Control,
        now: Callable[[], datetime],
        account: str,
        api_id: str,
    ) -> None:
        self.router = router
        self.functions = functions
        self.control = control
        self.now = now
        self.account = account
        self.api_id = api_id

    def respond(self, request: api.Request) -> api.Response:
        path = request.raw_path
        if path == "/_local" or path.startswith("/_local/"):
            return self.control.handle(request.method, path, request.body)
        matched = self.router.match(request.method, path)
        if matched is None:
            return api.NOT_FOUND
        route, params = matched
        event = api.build_event(route, params, request, self.now(), self.account, self.api_id)
        invocation = self.functions.invoke(route.function, event)
        if invocation.timed_out:
            return api.SERVICE_UNAVAILABLE
        if not invocation.ok:
            return api.INTERNAL_ERROR
        try:
            return api.to_response(invocation.result)
        except (TypeError, ValueError, KeyError):
            log.exception("%s answered something API Gateway cannot map", route.function)
            return api.INTERNAL_ERROR


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of API Gateway expect
    server_version = "perkflow-local"

    def _serve(self) -> None:
        app = cast(_Server, self.server).app
        raw_path, _, raw_query = self.path.partition("?")
        request = api.Request(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(self.headers.items()),
            body=self._body(),
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        try:
            response = app.respond(request)
        except Exception:
            log.exception("%s %s failed in the local stack", self.command, raw_path)
            response = api.INTERNAL_ERROR
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)
