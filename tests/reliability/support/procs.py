"""Real service processes for fault injection: start with `SLA_` variables, kill -9, restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from sla_devtools.infra import free_port

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = REPO / ".venv" / "bin"


class ServiceProcess:
    """One service as an OS process (`sla-engine run`, `report-api serve`), logging to a file.

    `kill()` is SIGKILL: no handler runs, no final snapshot, no offset commit, exactly as a
    machine that loses power. Every start appends to the same log, so a failure shows them all.
    """

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, http_port: int) -> None:
        self.argv = argv
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.log = log
        self.http_port = http_port
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO,
            )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9, and reap the process."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None
        self.kills += 1

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL after `timeout`); the exit code, or None if not running."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"{self.argv[0]} ignored SIGTERM for {timeout}s") from None
        return proc.returncode

    async def status(self, path: str) -> int | None:
        """The HTTP status of GET `path`, or None when nothing answers."""
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(self.url + path)).status_code
        except httpx.HTTPError:
            return None

    async def wait_status(self, path: str, code: int, within: float) -> None:
        deadline = time.monotonic() + within
        last: int | None = None
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(f"process exited; log:\n{self.tail()}")
            last = await self.status(path)
            if last == code:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{path} answered {last}, not {code}, for {within}s:\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def engine_process(env: dict[str, str], log: Path) -> ServiceProcess:
    """`sla-engine run` with the given settings; it picks its own free HTTP port."""
    port = free_port()
    return ServiceProcess(
        [str(VENV_BIN / "sla-engine"), "run"],
        {**env, "SLA_ENGINE_HTTP_PORT": str(port), "SLA_LOG_LEVEL": "INFO"},
        log,
        port,
    )
