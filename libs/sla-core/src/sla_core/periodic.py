"""The periodic-update metric (SPEC section 8): keeping the customer in the loop.

Two modes, as a level's `periodic_update.mode` says:

- `between_agent_updates` (Zendesk's and Zammad's): the first agent answer starts a cycle, and
  each later agent answer ends the running cycle (fulfilled or missed by its own due) and starts
  the next. Automated replies count for nothing.
- `after_customer_reply`: a customer reply starts a cycle when none runs; the next agent answer
  ends it.

Closing the ticket cancels the running cycle (`sla.cancelled`, reason `closed`): a closed ticket
owes no update. A level without a `periodic_update` target starts nothing. Each cycle has its own
timer id (`<ticket>:periodic_update:<n>`), warnings and breach like any other metric.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from sla_core.events import Metric
    from sla_core.timers import Timer

PERIODIC: Final = "periodic_update"


class TimerControl(Protocol):
    """What the periodic metric needs of the timer state machine (`timers._Context`)."""

    @property
    def running(self) -> Mapping[str, Timer]: ...
    def start(self, metric: Metric, at: datetime, at_us: int) -> None: ...
    def stop(self, timer: Timer, at: datetime, at_us: int) -> None: ...
    def cancel(self, timer: Timer, at: datetime, at_us: int, reason: str) -> None: ...


def on_agent_answer(ctx: TimerControl, mode: str, at: datetime, at_us: int) -> None:
    """An agent answered (not an automated reply): end the running cycle; in
    `between_agent_updates` mode start the next."""
    timer = ctx.running.get(PERIODIC)
    if timer is not None:
        ctx.stop(timer, at, at_us)
    if mode == "between_agent_updates":
        ctx.start(PERIODIC, at, at_us)


def on_customer_reply(ctx: TimerControl, mode: str, at: datetime, at_us: int) -> None:
    """The customer replied: in `after_customer_reply` mode a cycle starts if none runs."""
    if mode == "after_customer_reply" and PERIODIC not in ctx.running:
        ctx.start(PERIODIC, at, at_us)


def on_close(ctx: TimerControl, at: datetime, at_us: int) -> None:
    """The ticket closed: the running cycle is cancelled, not judged."""
    timer = ctx.running.get(PERIODIC)
    if timer is not None:
        ctx.cancel(timer, at, at_us, "closed")
