"""`sla`: the command line for people who integrate with the SLA engine.

    sla publish FILE.jsonl      check ticket events (JSON Lines), then publish them keyed by ticket
    sla tail                    follow the breach topic as a table (warnings and breaches)
    sla ticket ID               one ticket's SLA timers, from the report API
    sla check-policy FILE       check a policy file and summarise it
    sla what-if FILE --from --to   replay history under a candidate policy (report API)
    sla verify --from --to      self-check: the live policy replayed gives the live report

Settings default from the same SLA_ environment variables as the services.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, TextIO

from sla_devtools.tables import (
    BREACH_COLUMNS,
    TIMER_COLUMNS,
    breach_row,
    header,
    moment,
    render,
    timer_row,
)
from sla_devtools.ticket_file import CheckedFile, check_lines
from sla_devtools.whatif import add_commands

STRUCTURED = [("content-type", b"application/cloudevents+json")]
COLOURS = {"breached": "\033[31m", "warning": "\033[33m"}
RESET = "\033[0m"


def default_bootstrap() -> str:
    return os.environ.get(
        "SLA_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('SLA_KAFKA_PORT', '9092')}"
    )


def default_api() -> str:
    return os.environ.get(
        "SLA_API_URL", f"http://127.0.0.1:{os.environ.get('SLA_API_PORT', '8080')}"
    )


def default_token() -> str | None:
    """The first token of SLA_API_TOKENS, without its scopes (`token:scope+scope`)."""
    tokens = [t.strip() for t in os.environ.get("SLA_API_TOKENS", "").split(",") if t.strip()]
    return tokens[0].partition(":")[0].strip() if tokens else None


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


# -- publish -------------------------------------------------------------------------------


def read_events(path: str) -> CheckedFile:
    if path == "-":
        return check_lines(sys.stdin)
    with open(path, encoding="utf-8") as lines:
        return check_lines(lines)


async def publish_events(checked: CheckedFile, bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topic, event.value, key=event.ticket_id.encode(), headers=STRUCTURED
            )
            for event in checked.events
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


def cmd_publish(args: argparse.Namespace) -> int:
    try:
        checked = read_events(args.file)
    except OSError as exc:
        print(f"sla publish: {exc}", file=sys.stderr)
        return 2
    for error in checked.errors:
        print(f"{args.file}: {error}", file=sys.stderr)
    bad_lines = checked.bad_lines
    if bad_lines and not args.skip_invalid:
        print(
            f"{args.file}: {bad_lines} invalid line{'s' if bad_lines != 1 else ''}; nothing "
            "published (fix them, or pass --skip-invalid to publish the valid ones)",
            file=sys.stderr,
        )
        return 1
    tickets = len({e.ticket_id for e in checked.events})
    summary = f"{len(checked.events)} events of {tickets} tickets"
    if args.dry_run:
        print(f"{args.file}: {summary} valid; nothing published (--dry-run)")
        return 0
    try:
        asyncio.run(publish_events(checked, args.bootstrap, args.topic))
    except Exception as exc:  # aiokafka raises several unrelated types when unreachable
        print(f"sla publish: could not publish to {args.bootstrap}: {exc}", file=sys.stderr)
        return 1
    skipped = f", skipped {bad_lines} invalid lines" if bad_lines else ""
    print(f"published {summary} to {args.topic} at {args.bootstrap}{skipped}")
    return 0


# -- tail ----------------------------------------------------------------------------------


async def tail_breaches(
    bootstrap: str, topic: str, *, from_beginning: bool, limit: int | None, out: TextIO
) -> int:
    """Print a row per warning or breach until `limit` rows (or forever); returns the count."""
    from aiokafka import AIOKafkaConsumer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    colour = _colour(out)
    shown = 0
    await consumer.start()
    try:
        print(header(BREACH_COLUMNS), file=out, flush=True)
        while not stop.is_set() and (limit is None or shown < limit):
            batch = await consumer.getmany(timeout_ms=500)
            records = sorted(
                (r for rs in batch.values() for r in rs), key=lambda r: (r.timestamp, r.offset)
            )
            for record in records:
                try:
                    event = json.loads(record.value)
                except (TypeError, ValueError):
                    continue  # not an SLA event: nothing to show
                if not isinstance(event, dict):
                    continue
                cells = breach_row(event)
                line = render(BREACH_COLUMNS, cells)
                if colour and cells[1] in COLOURS:
                    line = f"{COLOURS[cells[1]]}{line}{RESET}"
                print(line, file=out, flush=True)
                shown += 1
                if limit is not None and shown >= limit:
                    break
    finally:
        await consumer.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return shown


def cmd_tail(args: argparse.Namespace) -> int:
    where = "from the beginning" if args.from_beginning else "new events only"
    print(f"following {args.topic} at {args.bootstrap} ({where}; Ctrl-C stops)", file=sys.stderr)
    try:
        asyncio.run(
            tail_breaches(
                args.bootstrap,
                args.topic,
                from_beginning=args.from_beginning,
                limit=args.limit,
                out=sys.stdout,
            )
        )
    except Exception as exc:
        print(f"sla tail: {exc}", file=sys.stderr)
        return 1
    return 0


# -- ticket --------------------------------------------------------------------------------


def fetch_ticket(api: str, ticket_id: str, token: str | None) -> dict[str, Any]:
    """GET /v1/tickets/{id}/sla; raises urllib errors (HTTPError carries the status)."""
    url = f"{api.rstrip('/')}/v1/tickets/{urllib.parse.quote(ticket_id, safe='')}/sla"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        body: dict[str, Any] = json.load(response)
    return body


def _problem(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except ValueError:
        body = {}
    return str(body.get("detail") or body.get("title") or error.reason)


def cmd_ticket(args: argparse.Namespace) -> int:
    try:
        body = fetch_ticket(args.api, args.ticket_id, args.token)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            hint = "pass --token or set SLA_API_TOKENS"
            print(f"sla ticket: unauthorised ({_problem(exc)}); {hint}", file=sys.stderr)
        elif exc.code == 404:
            print(f"sla ticket: no SLA timers for ticket {args.ticket_id}", file=sys.stderr)
        else:
            print(f"sla ticket: HTTP {exc.code}: {_problem(exc)}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"sla ticket: cannot reach the report API at {args.api}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    timers = body.get("timers") or []
    name = body.get("ticket", args.ticket_id)
    print(f"ticket {name}: {len(timers)} SLA timers, as of {moment(body.get('as_of'))}")
    print(header(TIMER_COLUMNS))
    for timer in timers:
        print(render(TIMER_COLUMNS, timer_row(timer)))
    return 0


# -- check-policy --------------------------------------------------------------------------


def cmd_check_policy(args: argparse.Namespace) -> int:
    from sla_engine.check_policy import check_policy  # the engine's own check, not a copy

    if not Path(args.file).is_file():
        print(f"sla check-policy: {args.file}: no such file", file=sys.stderr)
        return 2
    code: int = check_policy(args.file)
    return code


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    root = argparse.ArgumentParser(
        prog="sla",
        description=doc.splitlines()[0],
        epilog="Settings default from SLA_KAFKA_BOOTSTRAP_SERVERS, SLA_API_URL (or SLA_API_PORT), "
        "SLA_API_TOKENS and the SLA_*_TOPIC variables.",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    publish = commands.add_parser("publish", help="check and publish ticket events (JSON Lines)")
    publish.add_argument("file", help="JSON Lines, one CloudEvent per line ('-': stdin)")
    publish.add_argument("--bootstrap", default=default_bootstrap(), help="Kafka bootstrap servers")
    publish.add_argument("--topic", default=os.environ.get("SLA_TICKET_TOPIC", "tickets.events"))
    publish.add_argument(
        "--skip-invalid", action="store_true", help="publish the valid lines even if some are bad"
    )
    publish.add_argument("--dry-run", action="store_true", help="check only; publish nothing")
    publish.set_defaults(run=cmd_publish)

    tail = commands.add_parser("tail", help="follow warnings and breaches as a table")
    tail.add_argument("--bootstrap", default=default_bootstrap(), help="Kafka bootstrap servers")
    tail.add_argument("--topic", default=os.environ.get("SLA_BREACH_TOPIC", "sla.breaches"))
    tail.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest retained breach"
    )
    tail.add_argument("--limit", type=int, default=None, help="stop after this many rows")
    tail.set_defaults(run=cmd_tail)

    ticket = commands.add_parser("ticket", help="one ticket's SLA timers (report API)")
    ticket.add_argument("ticket_id", metavar="ID")
    ticket.add_argument("--api", default=default_api(), help="report API base URL")
    ticket.add_argument("--token", default=default_token(), help="bearer token")
    ticket.add_argument("--json", action="store_true", help="print the API's JSON as is")
    ticket.set_defaults(run=cmd_ticket)

    check = commands.add_parser("check-policy", help="check a policy file and summarise it")
    check.add_argument("file")
    check.set_defaults(run=cmd_check_policy)
    add_commands(commands, default_api=default_api, default_token=default_token)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
