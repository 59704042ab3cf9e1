"""The projection of the SLA event log into PostgreSQL: pure handlers, SQL store, Kafka runner."""
