"""Parameters, cursors, tokens, CSV neutralisation and settings: the API's edge, without I/O."""

from __future__ import annotations

import csv as stdlib_csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from report_api.auth import ADMIN_POLICIES, READ_REPORTS, Grant, TokenCheck, parse_grants
from report_api.config import ApiSettings, ConfigError
from report_api.csv import neutralise, render
from report_api.cursor import Cursor, CursorCodec
from report_api.params import parse_instant, parse_list, parse_range
from report_api.problems import ProblemError

OSLO = ZoneInfo("Europe/Oslo")


def param_of(error: pytest.ExceptionInfo[ProblemError]) -> str:
    params = error.value.problem.invalid_params
    assert params
    return params[0].name


def test_instants_in_any_zone() -> None:
    assert parse_instant("2026-03-29", OSLO, "from") == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert parse_instant("2026-07-01T10:00:00", OSLO, "from") == datetime(2026, 7, 1, 8, tzinfo=UTC)
    # A '+' decoded to a space in a query string is read as the offset it was.
    assert parse_instant("2026-07-01T10:00:00 02:00", OSLO, "to") == datetime(
        2026, 7, 1, 8, tzinfo=UTC
    )
    for bad in ("tomorrow", "2026-13-01", "0001-01-01", "2026-07-01T25:00"):
        with pytest.raises(ProblemError) as caught:
            parse_instant(bad, OSLO, "to")
        assert param_of(caught) == "to"


def test_ranges_and_lists() -> None:
    with pytest.raises(ProblemError) as caught:
        parse_range("2026-02-01", "2026-01-01", OSLO)
    assert param_of(caught) == "to"
    assert parse_list("date, agent,date", "group_by", ("date", "agent"), "date") == [
        "date",
        "agent",
    ]
    with pytest.raises(ProblemError) as caught:
        parse_list("date,colour", "group_by", ("date",), "date")
    assert param_of(caught) == "group_by"


def test_cursors_round_trip_and_refuse_tampering() -> None:
    codec = CursorCodec(b"k" * 32)
    as_of = datetime(2026, 1, 1, tzinfo=UTC)
    for key, kind in [("T-1", "text"), (12.5, "number"), (as_of, "time")]:
        cursor = Cursor(sort="-due", key=key, timer_id="T-1:first_answer:1", as_of=as_of)
        assert codec.decode(codec.encode(cursor), sort="-due", kind=kind) == cursor
    token = codec.encode(Cursor(sort="due", key="x", timer_id="t", as_of=as_of))
    flipped = token[:-1] + ("B" if token.endswith("A") else "A")
    for bad, sort in [(token, "-due"), (flipped, "due"), ("x.y", "due")]:
        with pytest.raises(ProblemError) as caught:
            CursorCodec(b"k" * 32).decode(bad, sort=sort, kind="text")
        assert param_of(caught) == "cursor"
    with pytest.raises(ProblemError):
        CursorCodec(b"other").decode(token, sort="due", kind="text")


def test_tokens() -> None:
    check = TokenCheck(("first-token-1", "second-token-2"))
    check.verify("second-token-2")
    for bad in (None, "", "second-token", "second-token-22"):
        with pytest.raises(ProblemError) as caught:
            check.verify(bad)
        assert caught.value.problem.status == 401
    TokenCheck((), open=True).verify(None)


def test_scopes_come_with_a_token_and_default_to_reading_reports() -> None:
    grants = parse_grants(" plain-token-1 , admin-token-2:policies:admin+reports:read,ops-token-3:")
    assert grants == (
        Grant("plain-token-1", frozenset({READ_REPORTS})),
        Grant("admin-token-2", frozenset({ADMIN_POLICIES, READ_REPORTS})),
        Grant("ops-token-3", frozenset({READ_REPORTS})),
    )
    check = TokenCheck(parse_grants("reader-token-1,admin-token-2:policies:admin"))
    check.verify("reader-token-1", READ_REPORTS)
    check.verify("admin-token-2", ADMIN_POLICIES)
    for token, scope in (("reader-token-1", ADMIN_POLICIES), ("admin-token-2", READ_REPORTS)):
        with pytest.raises(ProblemError) as caught:
            check.verify(token, scope)
        assert caught.value.problem.status == 403
        assert scope in (caught.value.problem.detail or "")
    with pytest.raises(ProblemError) as caught:
        check.verify("admin-token-2:policies:admin", ADMIN_POLICIES)
    assert caught.value.problem.status == 401


def test_settings_refuse_an_unknown_scope_naming_it() -> None:
    settings = ApiSettings(api_tokens="good-token-1:reports:read+policies:write")
    with pytest.raises(ConfigError, match="policies:write") as caught:
        settings.check_startable()
    assert "good-token-1" not in str(caught.value)
    with pytest.raises(ConfigError, match="placeholder"):
        ApiSettings(api_tokens="changeme:policies:admin").check_startable()
    scoped = ApiSettings(api_tokens="good-token-1:policies:admin,other-token-2")
    scoped.check_startable()
    assert scoped.tokens() == ("good-token-1", "other-token-2")


def test_settings_refuse_to_start_unprotected() -> None:
    with pytest.raises(ConfigError):
        ApiSettings(api_tokens="").check_startable()
    with pytest.raises(ConfigError):
        ApiSettings(api_tokens="good-token-1,secret").check_startable()
    ApiSettings(api_tokens="", api_open=True).check_startable()
    ApiSettings(api_tokens="demo-token").check_startable()


def test_csv_cells_are_neutralised_numbers_are_not() -> None:
    assert [neutralise(c) for c in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok", -5, None)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "ok",
        -5,
        None,
    ]
    rows = list(stdlib_csv.reader(io.StringIO(render(["a", "b"], [["=cmd()", -3]]))))
    assert rows == [["a", "b"], ["'=cmd()", "-3"]]
