"""One local Lambda "container": a process that imports a function's handler once and serves invocations.

Started by workers.py as ``python -m perkflow_ops.local.worker <config JSON>`` with the function's
environment. It speaks JSON lines with the stack over its original stdin/stdout, which it keeps for itself;
the handler's stdout and stderr go to the function's log file, as CloudWatch Logs would collect them.

Per request line ``{"request_id", "deadline_ms", "clock", "event"}`` it answers
``{"ok": true, "result", "counts"}`` or ``{"ok": false, "error": {errorType, errorMessage, stackTrace}, "counts"}``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import IO, Any

from perkflow_ops.local.stats import AwsCallCounter


class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the attributes Powertools and handlers read)."""

    def __init__(self, config: dict[str, Any], request_id: str, deadline_ms: int) -> None:
        self.function_name: str = config["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn: str = config["function_arn"]
        self.memory_limit_in_mb: int = config["memory_size"]
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _CountBoto3Calls(importlib.abc.MetaPathFinder):
    """Instruments boto3's default session the moment the handler first imports boto3.

    Importing boto3 up front would add its import time to every function's cold start, including code
    paths that never call AWS; this hook keeps the start-up cost where the handler puts it.
    """

    def __init__(self, counter: AwsCallCounter) -> None:
        self.counter = counter

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "boto3":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        execute: Callable[[ModuleType], None] = spec.loader.exec_module
        counter = self.counter

        def execute_and_instrument(module: ModuleType) -> None:
            execute(module)
            module.setup_default_session()
            counter.register(module.DEFAULT_SESSION.events)

        setattr(spec.loader, "exec_module", execute_and_instrument)  # noqa: B010 - patching a method
        return spec


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def _take_protocol_streams() -> tuple[IO[bytes], IO[bytes]]:
    """Keep the pipes to the stack private; point fds 0-2 where a handler may print."""
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)  # stderr is the function's log file
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return requests, answers


def _send(answers: IO[bytes], message: dict[str, Any]) -> None:
    answers.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
    answers.flush()


def _prepare_path(config: dict[str, Any]) -> None:
    """sys.path as Lambda builds it: the code folder, then the layers, then the runtime's packages."""
    bootstrap = os.environ.pop("PYTHONPATH", "")
    # The entries that only served to start this module are not the function's to see.
    hidden = {entry for entry in bootstrap.split(os.pathsep) if entry} | {"", os.getcwd()}
    sys.path[:] = [config["code_dir"], *config["layer_dirs"], *(p for p in sys.path if p not in hidden)]


def _load_handler(handler: str) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name.replace("/", "."))
    function: Callable[[Any, Any], Any] = getattr(module, attribute)
    return function


def main(argv: list[str]) -> int:
    config: dict[str, Any] = json.loads(argv[0])
    requests, answers = _take_protocol_streams()
    _prepare_path(config)
    counter = AwsCallCounter()
    sys.meta_path.insert(0, _CountBoto3Calls(counter))
    try:
        from perkflow.clock import LocalClock, set_local_clock

        handler = _load_handler(config["handler"])
    except Exception as exc:
        traceback.print_exc()
        _send(answers, {"ready": False, "error": _error(exc)})
        return 1
    _send(answers, {"ready": True})

    for line in requests:
        request = json.loads(line)
        request_id = request["request_id"]
        set_local_clock(LocalClock.from_json(request["clock"]))
        context = LambdaContext(config, request_id, request["deadline_ms"])
        counter.take()
        print(f"START RequestId: {request_id} Version: $LATEST")
        started = time.perf_counter()
        cpu_started = time.process_time()  # every thread of the worker: what Lambda would bill as compute
        outcome: dict[str, Any]
        try:
            outcome = {"ok": True, "result": handler(request["event"], context)}
        except Exception as exc:
            traceback.print_exc()
            outcome = {"ok": False, "error": _error(exc)}
        duration = (time.perf_counter() - started) * 1000
        print(f"END RequestId: {request_id}")
        print(f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms")
        outcome["counts"] = {**counter.take(), "cpu_ms_total": (time.process_time() - cpu_started) * 1000}
        try:
            _send(answers, outcome)
        except (TypeError, ValueError) as exc:  # the result is not JSON: Lambda's Runtime.MarshalError
            error = {**_error(exc), "errorType": "Runtime.MarshalError"}
            _send(answers, {"ok": False, "error": error, "counts": outcome["counts"]})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
