"""Real servers for the benchmarks: PostgreSQL and the broker on free ports in a temporary
directory (the same `Infra` as `make infra-up`), started on entry and stopped on exit."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sla_devtools.infra import Infra, free_port


@contextlib.contextmanager
def servers(*, postgres: bool = True, broker: bool = True) -> Iterator[Infra]:
    run_dir = Path(tempfile.mkdtemp(prefix="sla-bench-"))
    infra = Infra(run_dir=run_dir, pg_port=free_port(), kafka_port=free_port())
    try:
        if broker:
            infra.broker_up()
        if postgres:
            # as the tests do: durability is not what these benchmarks measure
            infra.postgres_up(extra_settings={"fsync": "off", "synchronous_commit": "off"})
        yield infra
    finally:
        infra.down()
        shutil.rmtree(run_dir, ignore_errors=True)
