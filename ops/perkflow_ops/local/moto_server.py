"""moto's server (EventBridge, SQS, Secrets Manager) as a child process on a free loopback port.

A separate process rather than ThreadedMotoServer: its request handling then never competes with the
stack's own threads for the GIL, and its request log goes to a file instead of the console.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from perkflow_ops.local import processes
from perkflow_ops.local.clients import probe_config, session


class MotoServer:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = processes.free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        with (self.log_dir / "moto.log").open("ab") as log:
            self._process = processes.spawn(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        client = session().client("sqs", endpoint_url=self.endpoint, config=probe_config())

        def answers() -> bool:
            try:
                client.list_queues()
            except Exception:  # connection refused until the server listens
                return False
            return True

        processes.wait_until(answers, timeout=timeout, what="moto server", process=self._process)

    def stop(self) -> None:
        if self._process is not None:
            processes.stop(self._process)
