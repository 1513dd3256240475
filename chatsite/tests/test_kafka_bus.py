"""The Kafka bus's submit: the broker's confirmations reach the loop in runs
(one wake-up for all that arrived together), and a message the broker does
not confirm fails with `unavailable` once KAFKA_PRODUCE_TIMEOUT_MS passes."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from chatsite.bus import kafka
from chatsite.errors import Unavailable

pytestmark = pytest.mark.kafka


@pytest.fixture
def own_prefix(settings):
    """Topics of this test's own: no worker consumes what it produces."""
    settings.KAFKA_TOPIC_PREFIX = f"{settings.KAFKA_TOPIC_PREFIX}-{uuid.uuid4().hex[:8]}"
    yield settings.KAFKA_TOPIC_PREFIX
    kafka._topics_ready.difference_update({t for t in kafka._topics_ready if t.startswith(settings.KAFKA_TOPIC_PREFIX)})


async def test_confirmations_that_arrive_together_wake_the_loop_once(own_prefix, monkeypatch):
    kafka.ensure_topics(["messages"])
    bus = kafka.KafkaBus()
    try:
        wakeups: list[int] = []
        settle = bus._settle_queued

        def counting(loop) -> None:
            wakeups.append(len(bus._settling.get(loop, ())))
            settle(loop)

        monkeypatch.setattr(bus, "_settle_queued", counting)
        futures = [bus.submit(topic="messages", key=f"c{n % 4}", value=b"{}") for n in range(200)]
        assert await asyncio.gather(*futures) == [None] * 200
        # (A count read as the loop wakes: more may join the run before it is taken.)
        assert len(wakeups) < 200 and max(wakeups) > 1, wakeups
    finally:
        bus.close()


async def test_a_message_the_broker_does_not_confirm_fails_within_the_produce_timeout(own_prefix, settings):
    settings.KAFKA_PRODUCE_TIMEOUT_MS = 300
    kafka.ensure_topics(["messages"])
    bus = kafka.KafkaBus()
    try:
        # Nobody serves the delivery reports: only the timeout can answer.
        bus._stop.set()
        bus._poller.join(timeout=5)
        started = time.monotonic()
        with pytest.raises(Unavailable, match="in time"):
            await bus.submit(topic="messages", key="c", value=b"{}")
        assert time.monotonic() - started < 3.0  # the timer is at 0.8 s
        # The same with several waiting: each gets its own answer.
        results = await asyncio.gather(
            *(bus.submit(topic="messages", key="c", value=b"{}") for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, Unavailable) for r in results), results
    finally:
        bus.close()


def test_the_message_worker_fetches_at_its_wait_and_the_followers_at_theirs(settings):
    """The store group's fetch wait is its latency; the followers' only their
    idle cost to the broker (a fetch per wait each), so they wait longer."""
    from chatsite import bus
    from chatsite.bus.worker import consumer_config

    settings.KAFKA_FETCH_WAIT_MAX_MS = 7
    settings.KAFKA_FOLLOWER_FETCH_WAIT_MAX_MS = 140
    store = consumer_config(bus.STORE)
    assert (store["fetch.wait.max.ms"], store["auto.offset.reset"]) == (7, "earliest")
    assert store["group.id"] == settings.KAFKA_CONSUMER_GROUP
    followers = [g for g in bus.groups() if g != bus.STORE]
    assert {"notifier", "search", "bots"} <= set(followers)
    for group in followers:
        config = consumer_config(group)
        assert (config["fetch.wait.max.ms"], config["auto.offset.reset"]) == (140, "latest"), group
        assert config["group.id"] == f"{settings.KAFKA_CONSUMER_GROUP}-{group}"
    assert consumer_config("notifier", "probe")["group.id"] == "probe"
