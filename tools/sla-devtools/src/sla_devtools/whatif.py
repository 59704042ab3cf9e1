"""`sla what-if` and `sla verify`: a what-if job of the report API (SPEC section 9), followed with
a progress bar and printed as tables.

    sla what-if FILE --from --to [--tz] [--group-by]   the candidate policy FILE against history
    sla verify --from --to                             the live policy against the live reports

`verify` is the self-check: it replays the policy versions the engine recorded (GET
/v1/policies), the newest as the candidate and the others as its older versions, so that each
ticket is replayed under the version it was bound to (effective dates, SPEC section 8), and
expects no difference at all; it exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from sla_devtools.tables import Column, header, moment, render

GROUP_KEYS = ("date", "week", "month", "department", "agent", "level", "metric", "team")
SHOWN_TICKETS = 20
BAR_WIDTH = 30
TICKET_COLUMNS = (
    Column("ticket", 18),
    Column("metric", 13),
    Column("cycle", 5, right=True),
    Column("level", 10),
    Column("live", 10),
    Column("live due", 14),
    Column("candidate", 10),
    Column("candidate due", 14),
)


class ApiError(Exception):
    """An answer other than the one expected; `problem` is its problem details, if any."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(str(problem.get("detail") or problem.get("title") or f"HTTP {status}"))


def call(
    api: str, method: str, path: str, token: str | None, body: Any = None, *, raw: bool = False
) -> Any:
    """One request to the report API; JSON in and out (`raw`: the body as text)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api.rstrip('/')}{path}", data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read() or b"{}")
        except ValueError:
            problem = {}
        raise ApiError(exc.code, problem if isinstance(problem, dict) else {}) from None
    return text if raw else json.loads(text)


def progress_bar(progress: Mapping[str, Any], status: str) -> str:
    """`[#########.....] 45%  4,500/10,000 events  running`."""
    fraction = progress.get("fraction")
    done, total = progress.get("events_done", 0), progress.get("events_total")
    filled = round(BAR_WIDTH * (fraction or 0.0))
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    share = "  ?%" if fraction is None else f"{round(100 * fraction):3d}%"
    count = f"{done:,}" + ("" if total is None else f"/{total:,}")
    return f"[{bar}] {share}  {count} events  {status}"


def follow(
    api: str,
    token: str | None,
    request: Mapping[str, Any],
    *,
    err: TextIO,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Start the job and poll it, drawing the progress bar on `err`, until done or failed."""
    started = call(api, "POST", "/v1/what-if", token, dict(request))
    tty = err.isatty()
    last = ""
    while True:
        job: dict[str, Any] = call(api, "GET", started["href"], token)
        line = progress_bar(job["progress"], job["status"])
        if tty:
            print(f"\r{line}", end="", file=err, flush=True)
        elif line != last:
            print(line, file=err, flush=True)
        last = line
        if job["status"] in ("done", "failed"):
            if tty:
                print(file=err)
            return job
        sleep(interval)


def _side(figures: Mapping[str, Any]) -> str:
    ratio = figures.get("compliance_ratio")
    shown = "-" if ratio is None else f"{ratio:.4f}"
    return f"{figures['fulfilled']}/{figures['missed']}/{shown}"


def _signed(figures: Mapping[str, Any]) -> str:
    ratio = figures.get("compliance_ratio")
    shown = "-" if ratio is None else f"{ratio:+.4f}"
    return f"{figures['fulfilled']:+d}/{figures['missed']:+d}/{shown}"


def report_lines(result: Mapping[str, Any]) -> list[str]:
    """The side-by-side table: a row per group and the totals; figures are fulfilled/missed/
    compliance ratio, the difference candidate less live."""
    keys = list(result["group_by"])
    columns = [Column(k, 12) for k in keys] + [
        Column("live", 18, right=True),
        Column("candidate", 18, right=True),
        Column("difference", 20, right=True),
    ]
    lines = [header(columns)]
    rows = [*result["rows"], {**dict.fromkeys(keys, ""), **result["totals"]}]
    if keys:
        rows[-1][keys[0]] = "total"
    for row in rows:
        cells = ["-" if row.get(k) is None else str(row[k]) for k in keys]
        cells += [_side(row["live"]), _side(row["candidate"]), _signed(row["difference"])]
        lines.append(render(columns, cells))
    return lines


def ticket_lines(items: Sequence[Mapping[str, Any]]) -> list[str]:
    lines = [header(TICKET_COLUMNS)]
    for item in items:
        cells = [
            str(item["ticket_id"]),
            str(item["metric"]),
            str(item["cycle"]),
            str(item.get("level") or "-"),
            str(item.get("live") or "(none)"),
            moment(item.get("live_due_at")),
            str(item.get("candidate") or "(none)"),
            moment(item.get("candidate_due_at")),
        ]
        lines.append(render(TICKET_COLUMNS, cells))
    return lines


def differences(result: Mapping[str, Any]) -> int:
    """The timers whose verdict changes, else the groups whose figures differ (a self-check
    expects 0)."""
    changed = int(result["changed_tickets"])
    if changed:
        return changed
    return sum(
        1
        for row in result["rows"]
        if row["difference"]["fulfilled"]
        or row["difference"]["missed"]
        or row["live"]["compliance_ratio"] != row["candidate"]["compliance_ratio"]
    )


def show(api: str, token: str | None, job: Mapping[str, Any], *, limit: int, out: TextIO) -> None:
    result = job["result"]
    print(
        f"what-if {job['id']} ({job['policy_version']}), {result['from']} to {result['to']}:",
        file=out,
    )
    print("figures: fulfilled/missed/compliance ratio", file=out)
    for line in report_lines(result):
        print(line, file=out)
    changed = result["changed_tickets"]
    print(f"\n{changed} timer{'s' if changed != 1 else ''} change verdict", file=out)
    if changed:
        page = call(api, "GET", f"/v1/what-if/{job['id']}/tickets?limit={limit}", token)
        for line in ticket_lines(page["items"]):
            print(line, file=out)
        if changed > len(page["items"]):
            csv = f"{api.rstrip('/')}/v1/what-if/{job['id']}/tickets?format=csv"
            print(f"... and {changed - len(page['items'])} more: {csv}", file=out)


MAX_OLDER = 64  # older versions a what-if takes (the API's limit)


def _request(args: argparse.Namespace, policy: str, older: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "policy": policy,
        "older_policies": list(older),
        "from": args.from_,
        "to": args.to,
        "tz": args.tz,
        "group_by": args.group_by,
    }


def _failed(command: str, exc: Exception, source: str = "policy") -> int:
    if isinstance(exc, ApiError):
        for param in exc.problem.get("invalid_params") or []:
            name = str(param.get("name", ""))
            where = source + name.removeprefix("policy") if name.startswith("policy") else name
            print(f"{where}: {param.get('reason')}", file=sys.stderr)
        hint = "; the token needs policies:admin" if exc.status in (401, 403) else ""
        print(f"sla {command}: HTTP {exc.status}: {exc}{hint}", file=sys.stderr)
        return 2 if exc.status in (400, 422) else 1
    print(f"sla {command}: cannot reach the report API: {exc}", file=sys.stderr)
    return 1


def _finish(command: str, args: argparse.Namespace, job: Mapping[str, Any]) -> int | None:
    if job["status"] == "failed":
        error = job.get("error") or {}
        print(f"sla {command}: the job failed: {error.get('detail')}", file=sys.stderr)
        return 1
    show(args.api, args.token, job, limit=args.show, out=sys.stdout)
    return None


def cmd_what_if(args: argparse.Namespace) -> int:
    try:
        policy = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"sla what-if: {exc}", file=sys.stderr)
        return 2
    try:
        job = follow(args.api, args.token, _request(args, policy), err=sys.stderr)
    except (ApiError, urllib.error.URLError, OSError) as exc:
        return _failed("what-if", exc, args.file)
    return _finish("what-if", args, job) or 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        versions = call(args.api, "GET", "/v1/policies", args.token)
        if not versions:
            print("sla verify: the engine has recorded no policy version yet", file=sys.stderr)
            return 1
        # newest first: the newest is the candidate, the others its older versions
        texts = [
            call(args.api, "GET", f"/v1/policies/{urllib.parse.quote(v['version'], safe='')}",
                 args.token, raw=True)
            for v in versions[: MAX_OLDER + 1]
        ]  # fmt: skip
        version = versions[0]["version"]
        older = f" (and {len(texts) - 1} older)" if len(texts) > 1 else ""
        print(f"verifying the live policy {version}{older}", file=sys.stderr)
        request = _request(args, texts[0], texts[:0:-1])
        job = follow(args.api, args.token, request, err=sys.stderr)
    except (ApiError, urllib.error.URLError, OSError) as exc:
        return _failed("verify", exc)
    failed = _finish("verify", args, job)
    if failed is not None:
        return failed
    found = differences(job["result"])
    print(f"{found} difference{'s' if found != 1 else ''}")
    return 1 if found else 0


def add_commands(
    commands: Any, *, default_api: Callable[[], str], default_token: Callable[[], str | None]
) -> None:
    """Register `what-if` and `verify` on the `sla` parser's subcommands."""

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--from", dest="from_", metavar="FROM", required=True, help="date or RFC 3339 time"
        )
        command.add_argument("--to", required=True, help="end (exclusive), like --from")
        command.add_argument("--tz", default="UTC", help="IANA zone of dates and date groups")
        command.add_argument(
            "--group-by", default="level", help=f"comma list of {', '.join(GROUP_KEYS)}"
        )
        command.add_argument("--api", default=default_api(), help="report API base URL")
        command.add_argument(
            "--token", default=default_token(), help="bearer token with policies:admin"
        )
        command.add_argument(
            "--show", type=int, default=SHOWN_TICKETS, help="changed timers to list"
        )

    what_if = commands.add_parser(
        "what-if", help="replay history under a candidate policy, beside the live report"
    )
    what_if.add_argument("file", help="the candidate policy (YAML)")
    common(what_if)
    what_if.set_defaults(run=cmd_what_if)
    verify = commands.add_parser(
        "verify", help="self-check: the live policy replayed must give the live report"
    )
    common(verify)
    verify.set_defaults(run=cmd_verify)
