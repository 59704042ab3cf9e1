"""sla-engine: ticket events in, SLA lifecycle events out, in event time."""
