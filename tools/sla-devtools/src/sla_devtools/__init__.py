"""Development and test infrastructure (never imported by the services)."""
