"""CSV output: formula-injection neutralisation and the streamed COPY of large exports.

Neutralisation (OWASP "CSV injection"): a STRING cell that begins with `=`, `+`, `-`, `@`, a tab
or a carriage return gets a leading single quote, so a spreadsheet shows it as text instead of
running it as a formula. Numbers are not user text and stay as they are: `sla_seconds` of -120
must remain the number -120. Only strings are neutralised, in Python (`neutralise`) and in SQL
(`neutralise_sql`) alike.

Streaming: PostgreSQL formats the rows itself (`COPY (SELECT ...) TO STDOUT (FORMAT csv)`);
asyncpg hands the chunks to a bounded queue that the HTTP response drains, so memory stays flat
whatever the row count and a slow client slows the COPY down instead of buffering.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import asyncpg

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")
_QUEUE_CHUNKS = 16
_DONE = object()


def neutralise(cell: Any) -> Any:
    """The cell, with a leading quote if it is a string a spreadsheet would run as a formula."""
    if isinstance(cell, str) and cell.startswith(DANGEROUS_FIRST):
        return "'" + cell
    return cell


def neutralise_sql(column: str) -> str:
    """SQL for `neutralise` of a text column (NULL stays NULL: an empty cell)."""
    first = ", ".join(["'='", "'+'", "'-'", "'@'", "E'\\t'", "E'\\r'"])
    return f"CASE WHEN left({column}, 1) IN ({first}) THEN '''' || {column} ELSE {column} END"


def rfc3339_sql(column: str) -> str:
    """SQL rendering a timestamptz as RFC 3339 in the session zone, like Python's isoformat():
    microseconds only when present, offset as +hh:mm."""
    return (
        f"to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN extract(microseconds FROM {column})::int8 % 1000000 <> 0 "
        f"THEN to_char({column}, '.US') ELSE '' END "
        f"|| to_char({column}, 'TZH:TZM')"
    )


def rfc3339_in_zone_sql(column: str, zone_column: str) -> str:
    """SQL rendering a timestamptz as RFC 3339 in the zone a row names (`zone_column`), offset
    included, like `rfc3339_sql`: NULL when the time or the zone is NULL, or PostgreSQL does not
    know the zone (checked first, since AT TIME ZONE would fail the whole export)."""
    local = f"({column} AT TIME ZONE {zone_column})"
    offset = f"({local} - ({column} AT TIME ZONE 'UTC'))"
    return (
        f"CASE WHEN {zone_column} IN (SELECT name FROM pg_timezone_names) THEN "
        f"to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN extract(microseconds FROM {column})::int8 % 1000000 <> 0 "
        f"THEN to_char({local}, '.US') ELSE '' END "
        f"|| CASE WHEN {offset} < interval '0' THEN '-' ELSE '+' END "
        f"|| to_char(CASE WHEN {offset} < interval '0' THEN -{offset} ELSE {offset} END, "
        "'HH24:MI') END"
    )


def render(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A small CSV document (the compliance report), string cells neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return out.getvalue()


async def stream_copy(
    pool: asyncpg.Pool,
    sql: str,
    args: Sequence[Any],
    *,
    timezone: str,
    statement_timeout_ms: int,
) -> AsyncIterator[bytes]:
    """Start `COPY (sql) TO STDOUT` as CSV with a header; return its chunks as they come.

    The first chunk (the header) is awaited before returning, so an error in the query is
    raised here, while the caller can still answer with a problem instead of a broken 200."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_QUEUE_CHUNKS)

    async def copy() -> None:
        try:
            async with pool.acquire() as conn, conn.transaction(readonly=True):
                await conn.execute(
                    "SELECT set_config('TimeZone', $1, true), "
                    "set_config('statement_timeout', $2, true)",
                    timezone,
                    str(statement_timeout_ms),
                )
                await conn.copy_from_query(
                    sql,
                    *args,
                    output=lambda data: queue.put(bytes(data)),
                    format="csv",
                    header=True,
                )
        except Exception as exc:
            await queue.put(exc)
        else:
            await queue.put(_DONE)

    task = asyncio.create_task(copy())
    first = await queue.get()
    if isinstance(first, Exception):
        await task
        raise first

    async def chunks() -> AsyncIterator[bytes]:
        try:
            item = first
            while item is not _DONE:
                if isinstance(item, Exception):
                    raise item
                assert isinstance(item, bytes | bytearray | memoryview)
                yield bytes(item)
                item = await queue.get()
        finally:
            # The client went away or the stream ended: stop the COPY and free the connection.
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return chunks()
