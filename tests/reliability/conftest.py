"""Fault injection against real processes, the real broker and real PostgreSQL.

Quick tests run in `make test`; the long profile (more seeds, longer outages) is marked slow and
runs with `make test-reliability`. Every test adds what it did to the ledger below, and the
session ends with a summary: faults injected, events checked, mismatches found.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from tests.reliability.support.harness import LEDGER, Ledger, Processes
from tests.reliability.support.workload import POLICY


@pytest.fixture
def ledger(request: pytest.FixtureRequest) -> Ledger:
    LEDGER.tests.append(request.node.nodeid)
    return LEDGER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER.tests:
        return
    total = sum(LEDGER.faults.values())
    terminalreporter.write_sep("-", "reliability")
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(LEDGER.faults.items()))
    terminalreporter.write_line(f"faults injected: {total} ({kinds})")
    terminalreporter.write_line(
        f"events checked: {LEDGER.events_checked}; timers compared: {LEDGER.timers_compared}; "
        f"mismatches: {LEDGER.mismatches}"
    )
    out = os.environ.get("SLA_RELIABILITY_REPORT")
    if out:
        Path(out).write_text(json.dumps(asdict(LEDGER), indent=2))


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
