"""One partition's engine, pure: ticket states, the alarm heap, the watermark and the snapshot
rows. No I/O. The live engine (sla-engine) wraps it in Kafka and PostgreSQL; a what-if replay
(report-api) runs the archived ticket events through it, so both give the same SLA events."""
