"""The reliability suite's shared pieces: the ledger of figures, topic names, engine settings
and the processes a test starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.support.procs import ServiceProcess, engine_process
from tests.reliability.support.workload import FUTURE_TOLERANCE_SECONDS


@dataclass
class Ledger:
    faults: dict[str, int] = field(default_factory=dict)
    events_checked: int = 0
    timers_compared: int = 0
    mismatches: int = 0
    tests: list[str] = field(default_factory=list)

    def fault(self, kind: str, n: int = 1) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + n


LEDGER = Ledger()


@dataclass
class Topics:
    tickets: str
    events: str
    breaches: str
    dlq: str
    group: str

    @classmethod
    def named(cls, name: str) -> Topics:
        return cls(
            f"tickets-{name}", f"sla-{name}", f"breaches-{name}", f"dlq-{name}", f"engine-{name}"
        )


def engine_env(
    bootstrap: str, database_url: str, topics: Topics, policy: Path, **extra: object
) -> dict[str, str]:
    env = {
        "SLA_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SLA_DATABASE_URL": database_url,
        "SLA_POLICY_FILE": str(policy),
        "SLA_TICKET_TOPIC": topics.tickets,
        "SLA_EVENTS_TOPIC": topics.events,
        "SLA_BREACH_TOPIC": topics.breaches,
        "SLA_DLQ_TOPIC": topics.dlq,
        "SLA_ENGINE_GROUP_ID": topics.group,
        "SLA_KAFKA_IDEMPOTENCE": "false",
        "SLA_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "SLA_KAFKA_REBALANCE_TIMEOUT_MS": "3000",
        "SLA_SNAPSHOT_INTERVAL_SECONDS": "0.5",
        "SLA_GRACE_SECONDS": "0.5",
        "SLA_TOPIC_PARTITIONS": "3",
        "SLA_FUTURE_TOLERANCE_SECONDS": str(FUTURE_TOLERANCE_SECONDS),
        "SLA_FUTURE_REJECT_SECONDS": str(FUTURE_TOLERANCE_SECONDS),
    }
    env.update({f"SLA_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class Processes:
    """Every process a test starts; whatever still runs at teardown is stopped."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.all: list[ServiceProcess] = []

    def engine(self, name: str, env: dict[str, str]) -> ServiceProcess:
        proc = engine_process(env, self.log_dir / f"{name}.log")
        self.all.append(proc)
        return proc

    def add(self, proc: ServiceProcess) -> ServiceProcess:
        self.all.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.all:
            if proc.alive:
                proc.kill()
