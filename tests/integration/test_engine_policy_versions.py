"""Policy effective dates on the real broker and PostgreSQL (SPEC sections 8 and 9): a reload of
the policy file with a future effective_from leaves the tickets already open on the old target,
across a restart, while tickets created from that instant on take the new one; each SLA event
names the version that set its timer's target."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sla_core.policy import parse_policy
from sla_devtools.infra import Infra
from tests.integration.test_engine_service import now, of_type, running, settings_for
from tests.support.kafka import TicketProducer, TopicReader, create_topics

OLD = """
levels:
  std:
    targets: {first_answer: 1h, resolution: 8h}
default_level: std
"""


async def test_a_reload_with_a_future_effective_from_keeps_old_tickets_on_the_old_target(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(OLD)
    s = settings_for(infra, unique, policy)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=2)
    effective = now() + timedelta(seconds=3)
    stamp = effective.isoformat().replace("+00:00", "Z")
    new_text = OLD.replace("first_answer: 1h", "first_answer: 2h") + (
        f"policy: {{effective_from: {stamp}}}\n"
    )
    old_version, new_version = parse_policy(OLD).version, parse_policy(new_text).version
    async with TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
        async with (
            running(s) as service,
            TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events,
        ):
            await p.send("ticket.created", now(), "old-1")
            await events.wait_for(lambda es: len(of_type(es, "sla.started")) == 2)
            policy.write_text(new_text)  # the loop sees the file change, as it would live
            gauge = service.metrics.registry.get_sample_value
            for _ in range(200):
                if gauge("sla_engine_policy_versions_held") == 2:
                    break
                await asyncio.sleep(0.05)
            assert service.policy.version == new_version
            assert gauge("sla_engine_policy_reloads_total", {"result": "ok"}) == 1
            assert gauge("sla_engine_policy_versions_held") == 2
            await p.send("ticket.created", now(), "between-1")  # before effective_from: old
            await events.wait_for(lambda es: len(of_type(es, "sla.started")) == 4)
        await asyncio.sleep(max(0.0, (effective - now()).total_seconds()) + 0.1)
        # restored from PostgreSQL: the snapshot holds both versions and each ticket's
        async with running(s), TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
            await p.send("ticket.created", now(), "new-1")
            await p.send("ticket.answered", now(), "old-1")
            await p.send("ticket.answered", now(), "between-1")
            await p.send("ticket.answered", now(), "new-1")
            seen = await events.wait_for(lambda es: len(of_type(es, "sla.fulfilled")) == 3)
    first_answers = {
        (e["subject"], e["type"]): (e["data"]["target_seconds"], e["data"]["policy_version"])
        for e in seen
        if e["data"]["metric"] == "first_answer"
    }
    assert first_answers == {
        ("old-1", "sla.started"): (3600, old_version),
        ("old-1", "sla.fulfilled"): (3600, old_version),
        ("between-1", "sla.started"): (3600, old_version),
        ("between-1", "sla.fulfilled"): (3600, old_version),
        ("new-1", "sla.started"): (7200, new_version),
        ("new-1", "sla.fulfilled"): (7200, new_version),
    }
