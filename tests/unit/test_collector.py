"""The engine's garbage-collection policy: frozen survivors, and a periodic full collection that
reclaims cyclic garbage frozen with them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from sla_engine.collector import Collector


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


def test_survivors_are_frozen_and_a_full_collection_reclaims_frozen_cycles() -> None:
    now = [0.0]
    collector = Collector(freeze_every=5, full_every=60, clock=lambda: now[0])
    node = Node()
    gone = weakref.ref(node)
    collector.settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()  # a frozen cycle is out of every collection's reach...
    assert gone() is not None
    now[0] = 10.0
    collector.tick()  # ...a freeze tick does not reclaim it...
    assert gone() is not None
    now[0] = 61.0
    collector.tick()  # ...the periodic full collection does
    assert gone() is None
    assert gc.get_freeze_count() > 0


def test_paused_disables_collection_inside_and_settles_after() -> None:
    collector = Collector()
    gc.unfreeze()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
