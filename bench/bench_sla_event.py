"""Micro-benchmark of the SLA event hot path: build 100k events through timers._Context.emit, then
encode them with codec.encode_sla_event (best of 7 rounds each).

    .venv/bin/python -m bench.bench_sla_event
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench import workload
from sla_core.codec import encode_sla_event
from sla_core.instants import to_us
from sla_core.timers import Step, TicketState, Timer, _Context

N = 100_000
policy = workload.policy()
level = policy.levels["standard"]
t0 = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
state = TicketState("T-1", attrs={"department": "support", "priority": "normal", "tags": ["vip"]})
timer = Timer("T-1", "first_answer", 1, "standard", level.calendar, 3600.0, to_us(t0))
timer.schedule()
ats = [(t0 + timedelta(seconds=i), to_us(t0 + timedelta(seconds=i))) for i in range(N)]
emitted = datetime(2031, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)


def build() -> list:  # type: ignore[type-arg]
    step = Step()
    ctx = _Context(policy, state, step)
    emit = ctx.emit
    for at, at_us in ats:
        emit(timer, "sla.started", at, at_us, elapsed_us=0)
    return step.outputs


def encode(events):  # type: ignore[no-untyped-def]
    return [encode_sla_event(e, source="sla-engine", emitted_at=emitted) for e in events]


def best(fn, *a, rounds=7):  # type: ignore[no-untyped-def]
    r = []
    for _ in range(rounds):
        s = time.perf_counter()
        out = fn(*a)
        r.append(time.perf_counter() - s)
    return min(r), out


if __name__ == "__main__":
    tb, evs = best(build)
    te, raw = best(encode, evs)
    print(
        f"build {tb * 1e6 / N:.3f} us/event  encode {te * 1e6 / N:.3f} us/event  "
        f"total {(tb + te) * 1e6 / N:.3f} us/event  ({len(raw[0])} B)"
    )
