"""What both services' I/O edges share: JSON logs, retry with backoff, database URLs.

The domain (`sla_core`) knows none of this; each service's edge uses it so that the two agree.
"""
