"""Prometheus metrics of the report API and its projection, in one registry per app.

A registry per `create_app` (not the process-global default) keeps apps in one process, such as
tests, from sharing or clashing over series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds; spans a cached page (~1 ms) to a slow export or a rebuild batch.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """Every series the service exports; `registry` is what /metrics renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "report_api_http_requests_total",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "report_api_http_request_duration_seconds",
            "Time to the end of the response body (streams included), by route and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.projection_events = Counter(
            "report_api_projection_events_total",
            "SLA events consumed by the projection, by type and outcome "
            "(applied, duplicate, stale, deleted, invalid).",
            ["type", "outcome"],
            registry=r,
        )
        self.projection_lag = Gauge(
            "report_api_projection_lag_seconds",
            "Wall-clock age of the newest consumed event (its emitted_at) while records are "
            "waiting; 0 when the projection has consumed everything.",
            registry=r,
        )
        self.projection_behind = Gauge(
            "report_api_projection_records_behind",
            "Records between the committed projection offsets and the partitions' ends.",
            registry=r,
        )
        self.offsets_past_end = Gauge(
            "report_api_offsets_past_end",
            "Partitions whose stored offset lies past the end of their log (the topic was "
            "recreated or truncated): the consumer waits there and never reads what is before.",
            ["consumer"],
            registry=r,
        )
        self.projection_batch = Histogram(
            "report_api_projection_batch_seconds",
            "Time to project and commit one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.projection_conflicts = Counter(
            "report_api_projection_position_conflicts_total",
            "Batches rolled back because the stored offsets had moved (rebalance or rebuild).",
            registry=r,
        )
        self.projection_errors = Counter(
            "report_api_projection_errors_total",
            "Projection failures that made it reconnect and re-seek.",
            registry=r,
        )
        self.archive_records = Counter(
            "report_api_archive_records_total",
            "Ticket event records consumed by the archive, by outcome (archived, duplicate: "
            "a (source, id) already archived; undecodable: archived with NULL event fields).",
            ["outcome"],
            registry=r,
        )
        self.archive_behind = Gauge(
            "report_api_archive_records_behind",
            "Records between the committed archive offsets and the partitions' ends.",
            registry=r,
        )
        self.archive_batch = Histogram(
            "report_api_archive_batch_seconds",
            "Time to archive and commit one batch.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.archive_conflicts = Counter(
            "report_api_archive_position_conflicts_total",
            "Archive batches rolled back because the stored offsets had moved.",
            registry=r,
        )
        self.archive_errors = Counter(
            "report_api_archive_errors_total",
            "Archive failures that made it reconnect and re-seek.",
            registry=r,
        )
