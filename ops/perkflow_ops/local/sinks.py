"""Where outbound deliveries go under ``perkflow local up`` unless a PERKFLOW_OUT_*_URL points elsewhere.

Each destination (segment, klaviyo, webhook) gets a :class:`Sink`: an HTTP server on a free loopback port
that records what it accepted for GET /_local/sinks. By default these are the stand-ins of
perkflow_ops.standins, which enforce what Segment, Klaviyo and a webhook receiver enforce;
:class:`RecordingSink` (records everything, answers 200) or any other plugs in through ``Sinks(factories=...)``.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

DESTINATIONS = ("segment", "klaviyo", "webhook")
URL_VARIABLES = {name: f"PERKFLOW_OUT_{name.upper()}_URL" for name in DESTINATIONS}


class Sink(Protocol):
    """A local receiver for one destination."""

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def requests(self) -> list[dict[str, Any]]:
        """Every request received, oldest first, as ``{method, path, headers, body}``."""
        ...


SinkFactory = Callable[[str], Sink]


def recorded_request(method: str, path: str, headers: Mapping[str, str], raw: bytes) -> dict[str, Any]:
    """A request as GET /_local/sinks shows it: lower-case header names, the body decoded when possible."""
    lowered = {name.lower(): value for name, value in headers.items()}
    if lowered.get("content-encoding", "").lower() == "gzip":
        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = text
    return {"method": method, "path": path, "headers": lowered, "body": body}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender hanging up is not worth a traceback on the stack's console."""


class RecordingSink:
    """Records every request and answers 200 ``{}``."""

    def __init__(self, destination: str) -> None:
        self._recorded: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sink-{destination}", daemon=True)

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
            return list(self._recorded)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._recorded.append(entry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                sink._record(recorded_request(self.command, self.path, dict(self.headers.items()), raw))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Recorded, not printed."""

        return Handler


DEFAULT_FACTORIES: dict[str, SinkFactory] = dict.fromkeys(DESTINATIONS, RecordingSink)


def standin_factories() -> dict[str, SinkFactory]:
    """The default: perkflow_ops.standins, which enforce what Segment, Klaviyo and a webhook receiver do."""
    from perkflow_ops.standins import factories

    return factories()


class Sinks:
    """One sink per destination (the stand-ins unless ``factories`` says otherwise)."""

    def __init__(self, factories: Mapping[str, SinkFactory] | None = None) -> None:
        chosen = {**standin_factories(), **(factories or {})}
        self.sinks: dict[str, Sink] = {name: chosen[name](name) for name in DESTINATIONS}

    def start(self) -> None:
        for sink in self.sinks.values():
            sink.start()

    def stop(self) -> None:
        for sink in self.sinks.values():
            sink.stop()

    def recorded(self) -> dict[str, list[dict[str, Any]]]:
        return {name: sink.requests() for name, sink in self.sinks.items()}

    def environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """PERKFLOW_OUT_*_URL for the functions: a variable set in ``environ`` wins over the sink. A sink with an
        ``environment()`` (a stand-in's write key, OAuth client, signing secret) adds it when its URL is used."""
        variables: dict[str, str] = {}
        for name, variable in URL_VARIABLES.items():
            sink = self.sinks[name]
            variables[variable] = environ.get(variable) or sink.url
            extra = getattr(sink, "environment", None)
            if not environ.get(variable) and callable(extra):
                variables.update({key: value for key, value in extra().items() if not environ.get(key)})
        return variables

    def urls(self) -> dict[str, str]:
        return {name: sink.url for name, sink in self.sinks.items()}
