"""The policy versions a partition holds at once (SPEC section 8, effective dates): which version a
new ticket takes, which tickets move when a version is loaded, which versions are still needed.

A ticket holds a `Binding`: the version it was bound under (`origin`; its snapshot row names the
binding's `key`) and the version in force for it now (`policy`). Tickets share bindings, so
moving every ticket of older versions onto a newer one re-points a few bindings, not a million
tickets, and a ticket's policy costs one reference per event, no lookup.

1. A new ticket takes the newest loaded version whose `effective_from` is at or before the time of
   its first event; a version without one is effective from the beginning of time. When every
   version held starts later, the one that starts first.
2. A version loaded without `effective_from` supersedes the older ones: every ticket moves to it
   from its next event on (rules, levels, conditions), while running timers keep their targets
   and their `policy_version` until something re-targets them. This is what a reload did before
   effective dates, so a policy file without them behaves as it always did.
3. A version loaded with `effective_from` moves no ticket: older tickets keep theirs.
4. `retarget_open: true`: at its due instant, the later of its `effective_from` and the watermark
   when it was loaded, the version supersedes the older ones (as in 2) and the engine re-targets
   the running timers of the tickets it moved (`PartitionEngine`, `timers.retarget`).
5. A version is held while a ticket is bound to it, while it can still be chosen for a new ticket
   (no newer version has come into force before the watermark), while a re-target to it is
   pending, and while it is the newest; `sweep` forgets the others.

A binding's key is its origin version, with a `#n` suffix in the one case where that key is
taken by a binding re-pointed elsewhere (a version loaded again with `effective_from` after a
newer one superseded it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sla_core.policy import Policy, PolicyError, parse_policy


@dataclass(eq=False, slots=True)
class Binding:
    """The tickets bound under one version: `policy` is the version in force for them now."""

    key: str  # what their snapshot rows name
    origin: str  # the version they were bound under: what a timer's target came from by default
    policy: Policy
    tickets: int = 0  # held tickets bound here (decoded ones; packed rows are not counted)


class PolicyHistory:
    """The versions one partition holds and the bindings of its tickets (module docstring)."""

    def __init__(self, policy: Policy) -> None:
        self.newest = policy
        self.candidates: list[Policy] = [policy]  # for new tickets, in load order
        self.bindings: dict[str, Binding] = {}
        self.pending: list[tuple[int, Policy]] = []  # retarget_open versions: (due instant, it)
        self._current: dict[str, Binding] = {}  # version -> the binding new tickets of it take
        self._order: dict[str, int] = {policy.version: 0}  # load order
        self._loads = 0

    # ---- tickets --------------------------------------------------------------------------

    def bind(self, first_us: int) -> Binding:
        """The binding of a new ticket whose first event is at `first_us` (rule 1), counted.
        The candidates start strictly later in load order (`_prune_shadowed`): the first one
        starts first."""
        candidates = self.candidates
        policy = candidates[-1]
        if policy.effective_from_us is not None and policy.effective_from_us > first_us:
            policy = candidates[0]
            for candidate in reversed(candidates):
                start = candidate.effective_from_us
                if start is None or start <= first_us:
                    policy = candidate
                    break
        binding = self.binding_for(policy)
        binding.tickets += 1
        return binding

    def binding_for(self, policy: Policy) -> Binding:
        """The binding new tickets of `policy` take (made when it has none yet; not counted)."""
        binding = self._current.get(policy.version)
        if binding is None:
            key, n = policy.version, 0
            while key in self.bindings:
                n += 1
                key = f"{policy.version}#{n}"
            binding = Binding(key, policy.version, policy)
            self.bindings[key] = self._current[policy.version] = binding
        return binding

    def restored(self, key: str | None) -> Binding:
        """The binding a snapshot row names (counted); a row from before rows named one, or
        naming one no longer known, takes the newest version's (what a restore did before)."""
        binding = self.bindings.get(key) if key is not None else None
        if binding is None:
            binding = self.binding_for(self.newest)
        binding.tickets += 1
        return binding

    # ---- loading --------------------------------------------------------------------------

    def add(self, policy: Policy, watermark_us: int) -> int | None:
        """A version is loaded (rules 2 to 4); the instant a re-target to it is due, if any."""
        self._loads += 1
        self._order[policy.version] = self._loads
        self.newest = policy
        others = [c for c in self.candidates if c.version != policy.version]
        self.candidates = [*others, policy]
        start = policy.effective_from_us
        if start is not None:
            self._prune_shadowed()
        if policy.retarget_open:
            due_us = watermark_us if start is None else max(start, watermark_us)
            self.pending.append((due_us, policy))
            return due_us
        if start is None:
            self.supersede(policy)
        return None

    def due(self, at_us: int) -> list[Policy]:
        """The pending re-targets due at or before `at_us`, in load order (taken off)."""
        ready = [p for due_us, p in self.pending if due_us <= at_us]
        self.pending = [(due_us, p) for due_us, p in self.pending if due_us > at_us]
        return ready

    def supersede(self, policy: Policy) -> list[Binding]:
        """Move every binding of a version loaded before `policy` onto it; those moved. Older
        versions are no longer chosen for new tickets either."""
        rank = self._order.get(policy.version, self._loads)
        moved = [
            b
            for b in self.bindings.values()
            if b.policy is not policy and self._order.get(b.policy.version, -1) < rank
        ]
        for binding in moved:
            binding.policy = policy
        self.candidates = [c for c in self.candidates if self._order.get(c.version, 0) >= rank]
        if policy not in self.candidates:
            self.candidates.insert(0, policy)
        self._current = {v: b for v, b in self._current.items() if b.policy.version == v}
        return moved

    def _prune_shadowed(self) -> None:
        """Drop the candidates a newer one always wins over (it starts no later)."""
        kept: list[Policy] = []
        for candidate in reversed(self.candidates):
            start = candidate.effective_from_us
            if any(_starts_by(k, start) for k in kept):
                continue
            kept.append(candidate)
        self.candidates = kept[::-1]

    # ---- forgetting -----------------------------------------------------------------------

    def sweep(self, watermark_us: int, *, counts_known: bool = True) -> None:
        """Forget what no ticket needs (rule 5): bindings without tickets (when `counts_known`:
        no packed row may name them), and candidates a newer one in force before the watermark
        replaces for every ticket still to come."""
        in_force = [
            c
            for c in self.candidates
            if c.effective_from_us is None or c.effective_from_us <= watermark_us
        ]
        if len(in_force) > 1:
            last = in_force[-1]
            rank = self._order.get(last.version, 0)
            self.candidates = [c for c in self.candidates if self._order.get(c.version, 0) >= rank]
        if counts_known:
            self.bindings = {k: b for k, b in self.bindings.items() if b.tickets > 0}
            self._current = {v: b for v, b in self._current.items() if b.key in self.bindings}
        held = self.held()
        self._order = {v: n for v, n in self._order.items() if v in held}

    def held(self) -> dict[str, Policy]:
        """Every version held, by version."""
        held: dict[str, Policy] = {c.version: c for c in self.candidates}
        held.update((b.policy.version, b.policy) for b in self.bindings.values())
        held.update((p.version, p) for _, p in self.pending)
        held[self.newest.version] = self.newest
        return held

    def min_reopen_window_us(self) -> int:
        """The shortest reopen window of the versions held."""
        return min(p.reopen_window_us for p in self.held().values())

    # ---- snapshots ------------------------------------------------------------------------

    def to_meta(self) -> dict[str, Any]:
        """The history in a snapshot's meta: every version held with its text, so a restore
        needs nothing else (the policy registry is best effort, and may lag)."""
        return {
            "policy_version": self.newest.version,
            "policies": {v: p.text for v, p in self.held().items() if p.text},
            "policy_order": sorted(self._order, key=self._order.__getitem__),
            "candidates": [c.version for c in self.candidates],
            "bindings": {k: [b.origin, b.policy.version] for k, b in self.bindings.items()},
            "pending": [[p.version, due_us] for due_us, p in self.pending],
        }

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any], policy: Policy) -> tuple[PolicyHistory, bool]:
        """The history a snapshot's meta describes, with `policy` (the file's, now) as the
        newest; and whether `policy` is another version than the snapshot's newest (then it is
        added, as a reload at the restore would). A version whose text no longer parses is
        replaced by `policy` (what a restore did before versions were kept)."""
        texts: Mapping[str, str] = meta.get("policies") or {}
        known: dict[str, Policy] = {policy.version: policy}
        for version, text in texts.items():
            if version not in known:
                try:
                    parsed = parse_policy(text)
                except PolicyError:
                    continue
                if parsed.version == version:
                    known[version] = parsed
        newest_version = meta.get("policy_version", policy.version)
        history = cls(known.get(newest_version, policy))

        def get(version: str) -> Policy:
            return known.get(version, history.newest)

        order = list(meta.get("policy_order") or [newest_version])
        history._order = {v: n for n, v in enumerate(order)}
        history._loads = len(order)
        history.candidates = _unique(get(v) for v in meta.get("candidates") or [newest_version])
        for key, (origin, version) in (meta.get("bindings") or {}).items():
            binding = history.bindings[key] = Binding(key, origin, get(version))
            if origin == binding.policy.version:
                history._current[origin] = binding
        history.pending = [(int(due_us), get(v)) for v, due_us in meta.get("pending") or []]
        return history, policy.version != newest_version


def _starts_by(policy: Policy, start_us: int | None) -> bool:
    """Whether `policy` is effective for every ticket one starting at `start_us` would get."""
    if policy.effective_from_us is None:
        return True
    return start_us is not None and policy.effective_from_us <= start_us


def _unique(policies: Iterable[Policy]) -> list[Policy]:
    out: dict[str, Policy] = {}
    for policy in policies:
        out.setdefault(policy.version, policy)
    return list(out.values())
