"""`sla-engine check-policy FILE`: validate a policy file without starting the engine."""

from __future__ import annotations

import sys

from sla_core.policy import PolicyError, load_policy
from sla_core.policy_summary import summarize


def check_policy(path: str) -> int:
    """Validate the policy at `path`: print its summary to stdout and return 0, or print every
    problem to stderr, one per line as `FILE: PATH (line N): MESSAGE`, and return 1."""
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        for line in str(exc).splitlines():
            print(line, file=sys.stderr)
        count = len(exc.problems)
        print(
            f"{path}: {count} problem{'s' if count != 1 else ''}; policy refused", file=sys.stderr
        )
        return 1
    print(summarize(policy))
    return 0
