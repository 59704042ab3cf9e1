"""The ticket event history: every record of the ticket topic, kept as received (SPEC 9)."""
