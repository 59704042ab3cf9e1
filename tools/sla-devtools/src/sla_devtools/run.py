"""`make run` / `make stop`: the infrastructure, both services and the demo stream, in the
background under .run/, with logs in files and pid files."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sla_devtools.demo import demo_ticket_id
from sla_devtools.infra import Infra, InfraError, from_env

DEMO_TOKEN = "demo-token"
PROCESSES = ("sla-engine", "report-api", "demo")


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _shown(path: str, root: Path) -> str:
    """A path as a person would type it from the repository root."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _env(infra: Infra, root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SLA_POLICY_FILE", str(root / "deploy" / "policy.demo.yaml"))
    # the demo's one token opens the reports and the policies and what-if (SPEC section 9)
    env.setdefault("SLA_API_TOKENS", f"{DEMO_TOKEN}:reports:read+policies:admin")
    env.update(
        SLA_KAFKA_BOOTSTRAP_SERVERS=infra.bootstrap_servers,
        SLA_DATABASE_URL=infra.database_url,
        SLA_KAFKA_IDEMPOTENCE="false",  # the pip broker (tansu) refuses InitProducerId
        SLA_ENGINE_HTTP_PORT=os.environ.get("SLA_ENGINE_HTTP_PORT", "8081"),
        SLA_API_PORT=os.environ.get("SLA_API_PORT", "8080"),
    )
    return env


def _pid(run_dir: Path, name: str) -> int | None:
    try:
        pid = int((run_dir / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _spawn(run_dir: Path, name: str, argv: list[str], env: dict[str, str]) -> None:
    if _pid(run_dir, name) is not None:
        return
    with open(run_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
    (run_dir / f"{name}.pid").write_text(str(proc.pid))


def _wait_http(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def start(root: Path) -> int:
    infra = from_env(root)
    fresh_broker = not infra.status()["broker"]
    try:
        infra.up()
        if fresh_broker:  # its memory storage starts empty: so does the demo's history
            infra.reset_database()
    except (InfraError, subprocess.CalledProcessError) as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    env = _env(infra, root)
    run_dir = infra.run_dir
    migrate = subprocess.run(
        [_bin("report-api"), "migrate"], env=env, capture_output=True, text=True
    )
    if migrate.returncode != 0:
        print(f"report-api migrate failed:\n{migrate.stderr[-3000:]}", file=sys.stderr)
        return 1
    _spawn(run_dir, "report-api", [_bin("report-api"), "serve"], env)
    _spawn(run_dir, "sla-engine", [_bin("sla-engine"), "run"], env)
    _spawn(run_dir, "demo", [sys.executable, "-m", "sla_devtools.demo"], env)
    api = f"http://127.0.0.1:{env['SLA_API_PORT']}"
    engine = f"http://127.0.0.1:{env['SLA_ENGINE_HTTP_PORT']}"
    ok = _wait_http(f"{api}/healthz", 30) and _wait_http(f"{engine}/healthz", 30)
    token = env["SLA_API_TOKENS"].split(",")[0].partition(":")[0]
    auth = f"Authorization: Bearer {token}"
    today = datetime.now(UTC).date()
    span = f"from={today}&to={today + timedelta(days=1)}"
    sla = _shown(_bin("sla"), root)
    demo_pid = _pid(run_dir, "demo")
    ticket = demo_ticket_id(demo_pid, 1) if demo_pid is not None else "DEMO-000-00001"
    print(f"""
SLA engine demo is {"running" if ok else "starting (check the logs below)"}.

  Report page      {api}/   (paste the token {token} at the top right)
  Report API       {api}/docs   OpenAPI {api}/openapi.json
  Engine           {engine}/metrics   readiness {engine}/readyz
  Kafka            {infra.bootstrap_servers}   PostgreSQL {infra.database_url}
  Logs             {_shown(str(run_dir), root)}/{{sla-engine,report-api,demo,postgres,tansu}}.log

Try:
  {sla} tail --bootstrap {infra.bootstrap_servers}
      warnings and breaches as they happen (the first ones within a minute)
  {sla} ticket {ticket} --api {api} --token {token}
      one ticket's timers
  curl -H '{auth}' '{api}/v1/reports/compliance?{span}&group_by=department,metric'
  curl -H '{auth}' '{api}/v1/reports/log?{span}&format=csv'
  curl -H '{auth}' '{api}/v1/reports/compliance?{span}&group_by=team&attribute=at_breach'
      compliance by team, a miss counted for the team that held the ticket at its due
  {sla} verify --from {today} --to {today + timedelta(days=1)} --api {api} --token {token}
      the self-check: today's history replayed under the live policy (0 differences once the
      range's tickets have settled: a ticket still moving while it runs can differ)
  {sla} check-policy deploy/policy.demo.yaml
      the demo policy: targets of seconds, so things happen fast

`make stop` stops everything.
""")
    return 0 if ok else 1


def stop(root: Path) -> int:
    infra = from_env(root)
    for name in PROCESSES:
        pid = _pid(infra.run_dir, name)
        if pid is not None:
            os.killpg(pid, signal.SIGTERM)
            for _ in range(100):
                if _pid(infra.run_dir, name) is None:
                    break
                time.sleep(0.1)
        (infra.run_dir / f"{name}.pid").unlink(missing_ok=True)
    infra.down()
    print("stopped: demo, sla-engine, report-api, broker, postgres")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sla-run")
    parser.add_argument("command", choices=["start", "stop"])
    args = parser.parse_args(argv)
    root = Path.cwd()
    return start(root) if args.command == "start" else stop(root)


if __name__ == "__main__":
    sys.exit(main())
