"""report-api: the SLA event log projected into PostgreSQL, served as reports."""
