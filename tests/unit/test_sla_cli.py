"""The `sla` command line without infrastructure: line checks, messages and table cells."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sla_devtools.cli import main
from sla_devtools.tables import BREACH_COLUMNS, breach_row, duration, render, timer_row
from sla_devtools.ticket_file import check_lines, line_errors

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO / "schemas" / "examples" / "ticket.created.json").read_text())


def line(**changes: Any) -> str:
    event = json.loads(json.dumps(EXAMPLE))
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = event
        for name in parents:
            target = target[name]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return json.dumps(event)


def test_the_shipped_schema_is_the_one_in_schemas() -> None:
    shipped = REPO / "tools/sla-devtools/src/sla_devtools/schemas/ticket-event.schema.json"
    assert json.loads(shipped.read_text()) == json.loads(
        (REPO / "schemas" / "ticket-event.schema.json").read_text()
    )


def test_a_valid_event_has_no_errors() -> None:
    assert line_errors(line()) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"subject": ...}, "subject: is required"),
        ({"specversion": "0.3"}, "specversion: '1.0' was expected"),
        ({"data__ticket__tags": "billing"}, "data.ticket.tags: 'billing' is not of type 'array'"),
        ({"data__ticket__last_message_by": "bot"}, "data.ticket.last_message_by: 'bot' is not one"),
        ({"data": []}, "data: [] is not of type 'object'"),
        ({"time": "2026-11-20T16:00:00"}, "attribute 'time' has no UTC offset"),
        ({"time": "yesterday"}, "attribute 'time' is not an RFC 3339 time"),
    ],
)
def test_errors_name_the_path_and_the_problem(changes: dict[str, Any], expected: str) -> None:
    errors = line_errors(line(**changes))
    assert len(errors) == 1
    assert errors[0].startswith(expected), errors


def test_errors_carry_line_numbers_and_skip_blank_and_comment_lines() -> None:
    checked = check_lines(
        [
            "# a comment\n",
            line() + "\n",
            "\n",
            "{not json\n",
            line(subject=..., id=...) + "\n",
            line(id="evt-2", subject="T-2") + "\n",
        ]
    )
    assert [(e.number, e.ticket_id) for e in checked.events] == [(2, "T-1001"), (6, "T-2")]
    assert checked.bad_lines == 2
    assert checked.errors[0].startswith("line 4: not JSON: ")
    assert checked.errors[1:] == ["line 5: id: is required", "line 5: subject: is required"]


def test_publish_refuses_the_whole_file_when_a_line_is_bad(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(line() + "\n" + line(data__ticket__tags=5) + "\n")
    # an unreachable broker: reaching it would fail differently than the check does
    assert main(["publish", str(events), "--bootstrap", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert f"{events}: line 2: data.ticket.tags: 5 is not of type 'array'" in err
    assert "1 invalid line; nothing published" in err


def test_dry_run_checks_without_publishing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(line() + "\n" + line(id="evt-2") + "\n")
    assert main(["publish", str(events), "--dry-run", "--bootstrap", "127.0.0.1:1"]) == 0
    assert "2 events of 1 tickets valid; nothing published" in capsys.readouterr().out


def test_check_policy_reports_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-policy", str(REPO / "deploy" / "policy.demo.yaml")]) == 0
    assert "levels (4)" in capsys.readouterr().out
    bad = tmp_path / "policy.yaml"
    bad.write_text("levels: {standard: {targets: {first_answer: soon}}}\n")
    assert main(["check-policy", str(bad)]) == 1
    assert "policy refused" in capsys.readouterr().err


def test_check_policy_summarises_conditions_and_warns_of_a_cancel_that_defeats_a_pause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sla check-policy` prints the engine's summary: conditions, close and periodic choices,
    and the lint warnings (exit 0: a warning is not a problem)."""
    trap = tmp_path / "policy.yaml"
    trap.write_text(
        "levels:\n  l:\n    targets: {first_answer: 1h, periodic_update: 24h}\n"
        "    pause_when: {field: status, op: eq, value: pending}\n"
        "    cancel_when: {field: status, op: ne, value: open}\n"
        "    reset_when: {field: team, op: changed}\n"
        "    close_before_answer: miss\n"
        "    periodic_update: {mode: after_customer_reply}\n"
    )
    assert main(["check-policy", str(trap)]) == 0
    out = capsys.readouterr().out
    assert "pause when status eq 'pending'" in out
    assert "cancel when status ne 'open'" in out and "reset when team changed" in out
    assert "close before answer: miss" in out and "periodic update: after_customer_reply" in out
    assert "warning: levels.l: cancel_when tests status, which pause_when tests too" in out


def test_durations_read_like_a_person_writes_them() -> None:
    assert [duration(s) for s in (0, 40, 185, 3720, 93600, -75.5, None)] == [
        "0s",
        "40s",
        "3m 05s",
        "1h 02m",
        "1d 02h",
        "-1m 15s",
        "-",
    ]


def test_breach_and_warning_rows() -> None:
    breach = json.loads((REPO / "schemas" / "examples" / "sla.breached.json").read_text())
    breach["data"]["remaining_seconds"] = -75
    cells = breach_row(breach)
    assert cells[1:7] == ["breached", "T-1001", "first_answer", "standard", "support", "-"]
    assert cells[8] == "1m 15s"
    warning = {**breach, "type": "sla.warning", "data": {**breach["data"], "remaining_seconds": 20}}
    assert breach_row(warning)[8] == "20s left"
    assert render(BREACH_COLUMNS, cells).split()[2] == "breached"


def test_timer_rows_show_paused_state_and_time_left() -> None:
    timer = {"metric": "resolution", "cycle": 1, "level": "sales", "state": "running"}
    cells = timer_row({**timer, "paused": True, "sla_seconds": 3600, "started_at": None})
    assert cells[3] == "running (paused)"
    assert cells[7] == "1h 00m"
