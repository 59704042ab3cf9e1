"""Prometheus metrics of the engine (SPEC section 7), in one registry per engine instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class EngineMetrics:
    """The engine's metrics; a fresh registry per instance keeps tests independent."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "sla_engine_events_consumed", "Ticket events consumed, by type.", ["type"], registry=r
        )
        self.rejected = Counter(
            "sla_engine_events_rejected",
            "Ticket events rejected (dead-lettered or skipped), by reason.",
            ["reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "sla_engine_dead_letters",
            "Records sent to the dead-letter topic.",
            ["reason"],
            registry=r,
        )
        self.emitted = Counter(
            "sla_engine_sla_events_emitted", "SLA events emitted, by type.", ["type"], registry=r
        )
        self.breaches = Counter(
            "sla_engine_breaches",
            "Breaches emitted, by level, metric and department.",
            ["level", "metric", "department"],
            registry=r,
        )
        self.open_timers = Gauge("sla_engine_open_timers", "Running SLA timers.", registry=r)
        self.tickets_packed = Gauge(
            "sla_engine_tickets_packed",
            "Restored tickets still in their snapshot form: each is decoded on its first event "
            "or alarm, and while the engine is idle.",
            registry=r,
        )
        self.policy_versions_held = Gauge(
            "sla_engine_policy_versions_held",
            "Policy versions the engine holds: the newest, those its held tickets are bound to "
            "(open or within their reopen window), and those still to come into force.",
            registry=r,
        )
        self.watermark_lag = Gauge(
            "sla_engine_watermark_lag_seconds",
            "Wall clock minus the partition's watermark.",
            ["partition"],
            registry=r,
        )
        self.breach_delay = Histogram(
            "sla_engine_breach_emit_delay_seconds",
            "Wall clock at emission minus the instant the watermark could first pass the due "
            "(due plus grace): the engine's own lateness in emitting a breach.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.processing = Histogram(
            "sla_engine_processing_seconds",
            "Time to process one batch, from records to acknowledged outputs and commit.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.policy_reloads = Counter(
            "sla_engine_policy_reloads", "Policy reloads, by result.", ["result"], registry=r
        )
        self.future_clamped = Counter(
            "sla_engine_future_events_clamped",
            "Events whose time was too far ahead of the wall clock and was clamped.",
            registry=r,
        )
        self.timezone_fallbacks = Counter(
            "sla_engine_timezone_fallbacks",
            "Timers started under a calendar that takes its zone from the ticket whose ticket "
            "named no usable zone (missing or invalid): they use the calendar's default zone.",
            ["calendar"],
            registry=r,
        )
        self.snapshot_seconds = Histogram(
            "sla_engine_snapshot_seconds", "Time to write one snapshot round.", registry=r
        )
