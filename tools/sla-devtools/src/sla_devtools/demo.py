"""A live demo stream: realistic tickets in three departments, some answered in time, some not.

Each ticket starts with its department's first team; a share of support tickets is handed over
to the second line (another team and agent) before the answer, so the reports by team, the
attribution at the breach and the time in hands (SPEC section 11) have something to show.

Publishes structured CloudEvents to the ticket topic until stopped. It reads the same policy as
the engine (deploy/policy.demo.yaml: targets of seconds) and times each answer against the
ticket's real target: about two in three in time, the rest late, so warnings and breaches
appear within a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from sla_core.codec import encode_ticket_event
from sla_core.policy import Policy, load_policy
from sla_edge.retry import retry

log = logging.getLogger("sla_demo")

DEPARTMENTS = {
    "support": ["ola", "kari", "nils"],
    "sales": ["ingrid", "per"],
    "billing": ["astrid", "lars"],
}
TEAMS = {  # the first team of a department takes new tickets
    "support": ["support-l1", "support-l2"],
    "sales": ["sales"],
    "billing": ["billing"],
}
SECOND_LINE = {"support-l2": ["sigrid", "tor"]}
HANDOVER_SHARE = 0.35  # of the tickets whose department has a second line
SOURCES = ["email"] * 5 + ["chat"] * 3 + ["call"] * 2 + ["web"] * 2
PRIORITIES = ["low", "normal", "normal", "normal", "high", "urgent"]
REQUESTERS = [
    f"{n}@example.{tld}"
    for n in ("anna", "bjorn", "chen", "dina", "erik", "fatima", "gustav", "hanna", "ivan", "jonas")
    for tld in ("no", "com")
]


IN_TIME_SHARE = 0.65
FALLBACK_TARGET_SECONDS = 30.0


def demo_ticket_id(run: int, number: int) -> str:
    """The id of the demo's `number`th ticket (from 1) in run `run` (the demo's process id)."""
    return f"DEMO-{run % 1000:03d}-{number:05d}"


class DemoStream:
    """Creates tickets and plays out their lives in real time, with a seeded random choice."""

    def __init__(
        self, producer: AIOKafkaProducer, topic: str, seed: int, policy: Policy | None = None
    ) -> None:
        self.producer = producer
        self.topic = topic
        self.policy = policy
        self.random = random.Random(seed)
        self.count = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def target_seconds(self, attrs: dict[str, Any], metric: str) -> float:
        """The ticket's target for `metric` under the policy's rules (as the engine picks it)."""
        if self.policy is None:
            return FALLBACK_TARGET_SECONDS
        level = self.policy.choose_level(attrs, datetime.now(UTC))
        levels = self.policy.levels
        if level is None or level not in levels:
            return FALLBACK_TARGET_SECONDS
        return levels[level].targets.get(metric, FALLBACK_TARGET_SECONDS)

    def answer_delay(self, target: float) -> float:
        """Seconds until an agent answers: well within the target, or past it."""
        if self.random.random() < IN_TIME_SHARE:
            return target * self.random.uniform(0.2, 0.85)
        return target * self.random.uniform(1.15, 1.8)

    async def emit(self, type_: str, ticket_id: str, **data: Any) -> None:
        self.count += 1
        value = encode_ticket_event(
            event_id=f"demo-{os.getpid()}-{self.count}",
            source="helpdesk://demo",
            type=type_,
            time=datetime.now(UTC),
            ticket_id=ticket_id,
            data=data,
        )
        await self.producer.send_and_wait(self.topic, value, key=ticket_id.encode())

    async def ticket_life(self, number: int) -> None:
        r = self.random
        ticket_id = demo_ticket_id(os.getpid(), number)
        department = r.choice(list(DEPARTMENTS))
        source = r.choice(SOURCES)
        attrs: dict[str, Any] = {
            "source": source,
            "status": "new",
            "priority": r.choice(PRIORITIES),
            "department": department,
            "team": TEAMS[department][0],
            "agent": None,
            "requester": r.choice(REQUESTERS),
            "customer_group": "VIP" if r.random() < 0.1 else "regular",
            "tags": r.sample(["billing", "login", "bug", "refund", "howto"], k=r.randint(0, 2)),
        }
        await self.emit("ticket.created", ticket_id, ticket=attrs)
        agent = r.choice(DEPARTMENTS[department])
        metric = {"chat": "chat_answer", "call": "call_answer"}.get(source, "first_answer")
        wait = self.answer_delay(self.target_seconds(attrs, metric))
        if r.random() < 0.6:  # most tickets are assigned before the answer
            assign = min(r.uniform(1, 4), wait / 2)
            await asyncio.sleep(assign)
            await self.emit("ticket.updated", ticket_id, ticket={"agent": agent, "status": "open"})
            wait -= assign
        teams = TEAMS[department]
        if len(teams) > 1 and r.random() < HANDOVER_SHARE:  # handed over to the second line
            moved = wait * r.uniform(0.3, 0.7)
            await asyncio.sleep(moved)
            agent = r.choice(SECOND_LINE[teams[1]])
            await self.emit("ticket.updated", ticket_id, ticket={"team": teams[1], "agent": agent})
            wait -= moved
        if source == "email" and r.random() < 0.3:  # an auto-responder stops no timer
            await asyncio.sleep(wait / 3)
            await self.emit("ticket.answered", ticket_id, channel="email", automated=True)
            await asyncio.sleep(wait * 2 / 3)
        else:
            await asyncio.sleep(wait)
        await self.emit(
            "ticket.answered",
            ticket_id,
            channel=source,
            ticket={"agent": agent, "status": "open", "last_message_by": "agent"},
        )
        if r.random() < 0.5:
            await asyncio.sleep(r.uniform(3, 15))
            await self.emit(
                "ticket.customer_replied",
                ticket_id,
                channel="email",
                ticket={"last_message_by": "customer"},
            )
            wait = self.answer_delay(self.target_seconds(attrs, "next_answer"))
            if r.random() < 0.3:  # waiting on the customer pauses the clock
                before = min(wait / 2, 3)
                await asyncio.sleep(before)
                await self.emit("ticket.updated", ticket_id, ticket={"status": "pending"})
                await asyncio.sleep(r.uniform(5, 15))
                await self.emit("ticket.updated", ticket_id, ticket={"status": "open"})
                wait -= before
            await asyncio.sleep(wait)
            await self.emit(
                "ticket.answered",
                ticket_id,
                channel="email",
                ticket={"agent": agent, "last_message_by": "agent"},
            )
        if r.random() < 0.05:
            await self.emit("ticket.deleted", ticket_id)
            return
        await asyncio.sleep(r.uniform(5, 120))
        await self.emit("ticket.closed", ticket_id, ticket={"status": "resolved"})

    async def run(self, rate_per_minute: float, stop: asyncio.Event, limit: int | None) -> None:
        number = 0
        while not stop.is_set() and (limit is None or number < limit):
            number += 1
            task = asyncio.create_task(self.ticket_life(number))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            interval = self.random.expovariate(rate_per_minute / 60)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
        if limit is not None:
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def _main(args: argparse.Namespace) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
    # the broker may still be starting
    await retry("broker not reachable", producer.start, on=KafkaError, most_s=5.0, log=log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        stream = DemoStream(producer, args.topic, args.seed, load_policy(args.policy))
        await stream.run(args.rate, stop, args.limit)
    finally:
        await producer.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sla-demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("SLA_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--topic", default=os.environ.get("SLA_TICKET_TOPIC", "tickets.events"))
    parser.add_argument(
        "--policy",
        type=Path,
        default=Path(os.environ.get("SLA_POLICY_FILE", "deploy/policy.demo.yaml")),
        help="the engine's policy: answers are timed against its targets",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="new tickets per minute")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--limit", type=int, default=None, help="stop after this many tickets")
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
