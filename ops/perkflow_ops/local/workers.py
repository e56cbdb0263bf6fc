"""Each function of the template served by its own pool of worker processes, as Lambda runs containers.

A pool starts a worker when every existing one is busy, up to its limit ($PERKFLOW_LOCAL_WORKERS, default
4), and keeps it warm for later invocations; concurrent requests therefore run in parallel processes and
race on the table as they would in AWS. A worker that overruns the function's Timeout is killed, like a
Lambda sandbox, and replaced on demand.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perkflow.clock import LocalClock
from perkflow_ops.local import processes
from perkflow_ops.local.stats import Stats

log = logging.getLogger(__name__)

OPS_ROOT = Path(__file__).resolve().parents[2]
# Lambda allows 10 s for init; a first local import (cold disk, many modules) may need longer.
INIT_TIMEOUT = 60.0
ASYNC_ATTEMPTS = 3  # Lambda's asynchronous invocation: the first try and two retries
ASYNC_THREADS = 64


@dataclass
class FunctionSpec:
    """What a pool needs to start a worker for one function of the template."""

    logical_id: str
    name: str  # short name: stats key and log file name
    physical_name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    timeout: int
    memory_size: int
    environment: dict[str, str] = field(default_factory=dict)


@dataclass
class Invocation:
    """The outcome of one invocation: a result, a function error, or a timeout."""

    request_id: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0
    counts: dict[str, float] = field(default_factory=dict)  # AWS work the worker counted (stats.py)


class WorkerFailed(Exception):
    """The worker process died or could not start; the pool discards it."""


class Worker:
    def __init__(self, spec: FunctionSpec, log_path: Path) -> None:
        config = {
            "function_name": spec.physical_name,
            "function_arn": spec.arn,
            "memory_size": spec.memory_size,
            "handler": spec.handler,
            "code_dir": str(spec.code_dir),
            "layer_dirs": [str(path) for path in spec.layer_dirs],
        }
        # PYTHONPATH only lets the interpreter find the worker module; the worker hides it from the handler.
        env = {**spec.environment, "PYTHONPATH": str(OPS_ROOT)}
        with log_path.open("ab") as log_file:
            self.process = processes.spawn(
                [sys.executable, "-m", "perkflow_ops.local.worker", json.dumps(config)],
                cwd=spec.code_dir,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
            )
        assert self.process.stdout is not None
        self._answers = selectors.DefaultSelector()  # not select(): it fails on descriptors above 1023
        self._answers.register(self.process.stdout.fileno(), selectors.EVENT_READ)
        self._buffer = b""

    def wait_ready(self) -> None:
        message = self._read(time.monotonic() + INIT_TIMEOUT)
        if message is None:
            raise WorkerFailed("the handler did not finish importing in time")
        if not message.get("ready"):
            error = message.get("error") or {}
            raise WorkerFailed(f"{error.get('errorType')}: {error.get('errorMessage')}")

    def invoke(self, request: dict[str, Any], deadline: float) -> dict[str, Any] | None:
        """The worker's answer, or None when the deadline passed first."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request, separators=(",", ":")).encode() + b"\n")
            self.process.stdin.flush()
        except OSError as exc:  # a broken pipe: the worker died
            raise WorkerFailed("the worker is gone") from exc
        return self._read(deadline)

    def _read(self, deadline: float) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._answers.select(remaining):
                return None
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                raise WorkerFailed(f"the worker exited (code {self.process.wait()})")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close_pipes(self) -> None:
        """Only by the thread that owns the worker: another may be reading them."""
        self._answers.close()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


class Pool:
    """Up to ``size`` warm workers for one function."""

    def __init__(self, spec: FunctionSpec, size: int, log_path: Path) -> None:
        self.spec = spec
        self.size = size
        self.log_path = log_path
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._closed = False
        self._changed = threading.Condition()

    def invoke(self, event: Any, clock: LocalClock) -> Invocation:
        request_id = str(uuid.uuid4())
        try:
            worker = self._acquire()
        except WorkerFailed as exc:
            log.error("%s: could not start a worker: %s", self.spec.name, exc)
            return Invocation(request_id, ok=False, error={"errorType": "Runtime.InitError", "errorMessage": str(exc)})
        # The Timeout and the duration count from here: init time is Lambda's, not the function's.
        started = time.monotonic()
        deadline = started + self.spec.timeout
        request = {
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000) + self.spec.timeout * 1000,
            "clock": clock.to_json(),
            "event": event,
        }
        try:
            answer = worker.invoke(request, deadline)
        except WorkerFailed as exc:
            self._discard(worker)
            error = {"errorType": "Runtime.ExitError", "errorMessage": str(exc)}
            return Invocation(request_id, ok=False, error=error, duration_ms=_ms_since(started))
        if answer is None:
            self._discard(worker)
            log.warning("%s: request %s timed out after %s s", self.spec.name, request_id, self.spec.timeout)
            error = {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {self.spec.timeout} s"}
            return Invocation(request_id, ok=False, error=error, timed_out=True, duration_ms=_ms_since(started))
        self._release(worker)
        return Invocation(
            request_id,
            ok=bool(answer.get("ok")),
            result=answer.get("result"),
            error=answer.get("error"),
            duration_ms=_ms_since(started),
            counts=answer.get("counts") or {},
        )

    def _acquire(self) -> Worker:
        with self._changed:
            while True:
                if self._closed:
                    raise WorkerFailed("the stack is stopping")
                if self._idle:
                    return self._idle.pop()
                if len(self._all) + self._starting < self.size:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            worker = Worker(self.spec, self.log_path)
        except OSError as exc:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
            raise WorkerFailed(str(exc)) from exc
        with self._changed:
            self._starting -= 1
            self._all.add(worker)
        try:
            worker.wait_ready()
        except WorkerFailed:
            self._discard(worker)
            raise
        return worker

    def _release(self, worker: Worker) -> None:
        with self._changed:
            if not self._closed:
                self._idle.append(worker)
                self._changed.notify()
                return
        self._discard(worker)

    def _discard(self, worker: Worker) -> None:
        worker.kill()
        worker.close_pipes()
        with self._changed:
            self._all.discard(worker)
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            workers = list(self._all)
            self._idle.clear()
            self._changed.notify_all()
        for worker in workers:
            worker.kill()


def _sqs_records(event: Any) -> int:
    records = event.get("Records") if isinstance(event, dict) else None
    return sum(1 for record in records or [] if record.get("eventSource") == "aws:sqs")


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


class Functions:
    """Every function of the template with its pool: the one way the stack invokes code.

    Invocations are counted here (with the workers' own counts) for GET /_local/stats.
    """

    def __init__(
        self,
        specs: list[FunctionSpec],
        pool_size: int,
        log_dir: Path,
        clock: Callable[[], LocalClock],
        stats: Stats,
        retry_seconds: float,
    ) -> None:
        self.specs = {spec.logical_id: spec for spec in specs}
        self._pools = {spec.logical_id: Pool(spec, pool_size, log_dir / f"{spec.name}.log") for spec in specs}
        self._clock = clock
        self.stats = stats
        self.retry_seconds = retry_seconds
        self._async = ThreadPoolExecutor(max_workers=ASYNC_THREADS, thread_name_prefix="async-invoke")
        self._closed = threading.Event()

    def by_arn(self, arn: str) -> FunctionSpec | None:
        return next((spec for spec in self.specs.values() if spec.arn == arn), None)

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        spec = self.specs[logical_id]
        invocation = self._pools[logical_id].invoke(event, self._clock())
        counts: Mapping[str, float] = {
            **invocation.counts,
            "invocations": 1,
            "sqs_records": _sqs_records(event),
            "errors": 0 if invocation.ok else 1,
            "duration_ms_total": invocation.duration_ms,
        }
        self.stats.add(spec.name, counts)
        return invocation

    def invoke_async(self, logical_id: str, event: Any, *, why: str) -> None:
        """Lambda's asynchronous invocation: on error two retries with a short backoff, then a log line."""
        self._async.submit(self._invoke_with_retries, logical_id, event, why)

    def _invoke_with_retries(self, logical_id: str, event: Any, why: str) -> None:
        for attempt in range(ASYNC_ATTEMPTS):
            invocation = self.invoke(logical_id, event)
            if invocation.ok:
                return
            last_attempt = attempt == ASYNC_ATTEMPTS - 1
            if last_attempt or self._closed.wait(self.retry_seconds * (attempt + 1)):
                break
        error = invocation.error or {}
        log.error(
            "%s (%s): asynchronous invocation failed %d times, dropped: %s: %s",
            self.specs[logical_id].name,
            why,
            attempt + 1,
            error.get("errorType"),
            error.get("errorMessage"),
        )

    def close(self) -> None:
        self._closed.set()
        self._async.shutdown(wait=False, cancel_futures=True)
        for pool in self._pools.values():
            pool.close()
