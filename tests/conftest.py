"""Fixtures for the tests under tests/: the multi-node and fault tests
(tests/cluster, tests/faults) and the protocol tests (tests/protocol)."""

from __future__ import annotations

import pytest

from tests.harness import Cluster, current_database_url


@pytest.fixture
def make_cluster(tmp_path, settings):
    """`make_cluster(**env)` → a Cluster on this run's database, Redis and broker
    (override with db_url=, redis_url=, kafka=), stopped at the end of the test."""
    made: list[Cluster] = []

    def make(**kwargs) -> Cluster:
        kwargs.setdefault("db_url", current_database_url())
        kwargs.setdefault("redis_url", settings.REDIS_URL)
        kwargs.setdefault("kafka", settings.KAFKA_BOOTSTRAP_SERVERS)
        cluster = Cluster(tmp_path / f"cluster{len(made)}", **kwargs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture(autouse=True)
def _protocol_frames():
    """Every frame a tests.client.ChatClient sends or receives must match
    docs/protocol/asyncapi.yaml; the test fails at its end otherwise."""
    from tests.client import ChatClient
    from tests.protocol.frames import check_frame

    ChatClient.frame_check = check_frame
    ChatClient.all_mismatches.clear()
    yield
    ChatClient.frame_check = None
    found = list(ChatClient.all_mismatches)
    ChatClient.all_mismatches.clear()
    if found:
        pytest.fail("frames that do not match docs/protocol/asyncapi.yaml:\n" + "\n".join(found[:20]))
