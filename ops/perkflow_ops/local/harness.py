"""Run ``perkflow local up`` from Python: for the integration tests, the demo and the bench.

    with start_stack() as stack:
        stack.request("GET", "/health").json()
        stack.clock(now="2030-01-01T00:00:00Z")

The stack runs as a child in its own process group, exactly as a developer starts it; leaving the block
signals the whole group and waits, so no emulator or worker outlives it.
"""

from __future__ import annotations

import json as jsonlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Any

from perkflow_ops.local.credentials import NAMES, READY_LINE
from perkflow_ops.template import ROOT

_READY_PREFIX = READY_LINE.split("{", 1)[0]
# The child finds perkflow_ops and perkflow whether or not the project is installed in the interpreter.
_IMPORT_PATHS = [str(ROOT / "ops"), str(ROOT / "layers" / "perkflow")]


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None


@dataclass
class RunningStack:
    url: str
    credentials: dict[str, str]
    process: subprocess.Popen[bytes] = field(repr=False)

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float = 30,
    ) -> Response:
        """One HTTP request to the stack; any status comes back as a Response (nothing raises on 4xx/5xx)."""
        data = body
        sent = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json).encode()
            sent.setdefault("Content-Type", "application/json")
        request = urllib.request.Request(self.url + path, data=data, headers=sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers, error.read())

    def app_headers(self) -> dict[str, str]:
        """The API's X-App-Id/X-App-Token with the credentials the stack printed."""
        return {"X-App-Id": self.credentials["PERKFLOW_APP_ID"], "X-App-Token": self.credentials["PERKFLOW_APP_TOKEN"]}

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """One call to perkflow's API with the app credentials: the JSON answer, RuntimeError unless 2xx."""
        response = self.request(method, path, json=body, headers=self.app_headers(), timeout=timeout)
        if not 200 <= response.status < 300:
            raise RuntimeError(f"{method} {path} answered {response.status}: {response.body[:300]!r}")
        return response.json()

    def _local(self, method: str, path: str, body: Any = None) -> Any:
        response = self.request(method, f"/_local/{path}", json=body)
        if response.status != 200:
            raise RuntimeError(f"{method} /_local/{path} answered {response.status}: {response.body!r}")
        return response.json()

    def clock(self, **body: Any) -> dict[str, Any]:
        """Set the clock: ``now="2030-01-01T00:00:00Z"``, ``advance_seconds=60``, or nothing for real time."""
        result: dict[str, Any] = self._local("POST", "clock", body)
        return result

    def fire(self, schedule: str) -> Response:
        """Fire a schedule now (``segments-sweep``); the response carries what the function returned."""
        return self.request("POST", f"/_local/schedules/{schedule}", json={})

    def sinks(self) -> dict[str, list[dict[str, Any]]]:
        result: dict[str, list[dict[str, Any]]] = self._local("GET", "sinks")
        return result

    def stats(self) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = self._local("GET", "stats")
        return result

    def reset_stats(self) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = self._local("POST", "stats/reset", {})
        return result

    def endpoints(self) -> dict[str, Any]:
        """The emulators' URLs and the physical names of the template's resources."""
        result: dict[str, Any] = self._local("GET", "endpoints")
        return result

    def events(self) -> list[dict[str, Any]]:
        """The last events seen on the buses: ``{bus, event, rules}``, oldest first."""
        result: list[dict[str, Any]] = self._local("GET", "events")["events"]
        return result


@contextmanager
def start_stack(
    template: Path | None = None, port: int | None = None, env: dict[str, str] | None = None, timeout: float = 90
) -> Iterator[RunningStack]:
    """Start ``perkflow local up`` (port None: a free port), yield it once ready, stop its process group."""
    command = [sys.executable, "-m", "perkflow_ops.cli", "local", "up", "--port", str(port or 0)]
    if template is not None:
        command += ["--template", str(template)]
    environ = {**os.environ, **(env or {})}
    environ["PYTHONPATH"] = os.pathsep.join([*_IMPORT_PATHS, *filter(None, [environ.get("PYTHONPATH")])])
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,  # its own process group, which _stop signals as a whole
        )
        try:
            url, credentials = _wait_ready(process, timeout, errors)
            yield RunningStack(url, credentials, process)
        finally:
            _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], timeout: float, errors: IO[bytes]) -> tuple[str, dict[str, str]]:
    """The URL of the ready line and the NAME=value lines after it."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    url: str | None = None
    credentials: dict[str, str] = {}
    with selectors.DefaultSelector() as output:
        output.register(process.stdout.fileno(), selectors.EVENT_READ)
        buffer = b""
        while url is None or len(credentials) < len(NAMES):
            while b"\n" not in buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not output.select(left):
                    raise RuntimeError(f"the local stack was not ready within {timeout:.0f} s{_tail(errors)}")
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"the local stack exited with code {process.wait()}{_tail(errors)}")
                buffer += chunk
            raw, _, buffer = buffer.partition(b"\n")
            line = raw.decode().strip()
            if url is None:
                if line.startswith(_READY_PREFIX):
                    url = line.removeprefix(_READY_PREFIX)
            else:
                name, _, value = line.partition("=")
                credentials[name] = value
    return url, credentials


def _tail(errors: IO[bytes]) -> str:
    errors.seek(0)
    text = errors.read().decode(errors="replace").strip()
    return f":\n{text[-4000:]}" if text else ""


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except ProcessLookupError:
        pass
    # Whatever of the group is still there (a child that ignored SIGTERM) goes now.
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.stdout is not None:
        process.stdout.close()
