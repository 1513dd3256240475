"""Fixtures for the multi-node and fault tests (tests/cluster, tests/faults)."""

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
