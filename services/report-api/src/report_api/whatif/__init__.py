"""What-if (SPEC section 9): the archived ticket events replayed under a candidate policy, through
sla-core's partition engine, and the compliance report it gives set beside the live one.

- `replay.py`: the replay itself, no I/O: archived records in, candidate timer rows out.
- `compare.py`: the side-by-side report (live, candidate, difference), no I/O.
- `store.py`: jobs, progress, results and changed timers in PostgreSQL.
- `jobs.py`: a job's run: read the archive, replay, aggregate, compare, store.
"""
