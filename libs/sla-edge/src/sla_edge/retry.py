"""Retry with exponential backoff, the one way both services wait for a dependency.

Built on tenacity: the first wait is `first_s`, each next one doubles up to `most_s`. Every
failure is logged as a warning that names what is retried, the error and the next wait. By
default it retries until it succeeds; `attempts` bounds it (the last error is raised), and
`stop` ends the wait early when the event is set (the last error is raised too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    wait_exponential,
)
from tenacity.stop import stop_base

T = TypeVar("T")
_log = logging.getLogger("sla_edge.retry")


class _StopWhenSet(stop_base):
    """Stop retrying once `event` is set (a service shutting down)."""

    def __init__(self, event: asyncio.Event) -> None:
        self.event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.event.is_set()


async def retry(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    on: type[BaseException] | tuple[type[BaseException], ...],
    first_s: float = 0.5,
    most_s: float = 10.0,
    attempts: int | None = None,
    stop: asyncio.Event | None = None,
    log: logging.Logger = _log,
) -> T:
    """Await `attempt()` until it returns, retrying on the exception types `on` with backoff.

    `what` names the dependency in the warning logged before each wait ("{what} failed ({error});
    retrying in {wait}s"). Other exceptions propagate at once.
    """

    def warn(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("%s failed (%s); retrying in %.1fs", what, error, wait)

    stops: stop_base = stop_never if attempts is None else stop_after_attempt(attempts)
    if stop is not None:
        stops = stops | _StopWhenSet(stop)
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(on),
        wait=wait_exponential(multiplier=first_s, min=first_s, max=most_s),
        stop=stops,
        before_sleep=warn,
        reraise=True,
    )

    async def call() -> T:  # tenacity awaits only coroutine functions, not a lambda's coroutine
        return await attempt()

    return await retrying(call)
