"""The policy file, watched: a changed file (or SIGHUP) is loaded; a bad one keeps the old.

Every version in force is offered to the policy registry on each check (a no-op once it is
recorded), so a registry that was down at the load gets it on a later loop turn."""

from __future__ import annotations

import logging
from pathlib import Path

from sla_core.policy import Policy, PolicyError, load_policy
from sla_engine.metrics import EngineMetrics
from sla_engine.ports import PolicyRegistryPort

log = logging.getLogger("sla_engine")


class PolicyFile:
    """The policy in force and the file it came from."""

    def __init__(
        self, path: Path, metrics: EngineMetrics, registry: PolicyRegistryPort | None = None
    ) -> None:
        self.path = path
        self.metrics = metrics
        self.registry = registry
        self.policy: Policy = load_policy(path)  # a bad policy at start: PolicyError, no start
        self._mtime = self._read_mtime()

    def _read_mtime(self) -> float:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    def reload(self, *, force: bool = False) -> Policy | None:
        """The new policy when the file changed (or `force`) and loads as another version;
        None otherwise. A file that does not load is refused, logged and counted.

        Called on every loop turn: it also offers the policy in force to the registry."""
        if self.registry is not None:
            self.registry.offer(self.policy)
        mtime = self._read_mtime()
        if not force and mtime == self._mtime:
            return None
        self._mtime = mtime
        try:
            policy = load_policy(self.path)
        except (PolicyError, OSError) as exc:
            self.metrics.policy_reloads.labels("refused").inc()
            log.error("policy reload refused; the previous policy stays in force: %s", exc)
            return None
        if policy.version == self.policy.version:
            return None
        self.policy = policy
        if self.registry is not None:
            self.registry.offer(policy)
        self.metrics.policy_reloads.labels("ok").inc()
        log.info("policy reloaded", extra={"policy_version": policy.version})
        return policy

    async def close(self) -> None:
        """Let the registry finish a write in flight."""
        if self.registry is not None:
            await self.registry.close()
