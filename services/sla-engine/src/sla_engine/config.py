"""The engine's settings: one frozen object, read from `SLA_` environment variables in main()."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from sla_edge.database_url import DatabaseUrl


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLA_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: DatabaseUrl = "postgresql://postgres@127.0.0.1:5433/sla"
    policy_file: Path = Path("deploy/policy.example.yaml")
    ticket_topic: str = "tickets.events"
    events_topic: str = "sla.events"
    breach_topic: str = "sla.breaches"
    dlq_topic: str = "tickets.events.dlq"
    engine_group_id: str = "sla-engine"
    engine_http_port: int = Field(8081, ge=0, le=65535)
    grace_seconds: float = Field(2.0, ge=0)
    future_tolerance_seconds: float = Field(
        300.0, ge=0, description="An event time further ahead of the wall clock is clamped."
    )
    future_reject_seconds: float = Field(
        86400.0,
        gt=0,
        description="An event time this far ahead is absurd (a broken clock): dead-lettered.",
    )
    kafka_idempotence: bool = Field(
        True, description="Idempotent producer; the pip dev broker (tansu) refuses it: set false."
    )
    kafka_session_timeout_ms: int = Field(
        10000, gt=0, description="A dead replica's partitions move after this long."
    )
    kafka_rebalance_timeout_ms: int = Field(30000, gt=0)
    snapshot_interval_seconds: float = Field(5.0, gt=0)
    dedup_window_events: int = Field(
        64,
        ge=1,
        le=100_000,
        description="Event identities remembered per ticket: a repeat of one of its last this "
        "many events is a duplicate. About 100 B each, for tickets with that many events.",
    )
    max_batch: int = Field(2000, gt=0)
    topic_partitions: int = Field(6, gt=0, description="Partitions when the engine creates topics.")
    source_name: str = "sla-engine"
    log_level: str = "INFO"
