"""sla_core: the pure domain shared by sla-engine and report-api (no Kafka, SQL or HTTP here)."""
