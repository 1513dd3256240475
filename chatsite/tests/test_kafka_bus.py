"""The Kafka bus's submit: the broker's confirmations reach the loop in runs
(one wake-up for all that arrived together), and a message the broker does
not confirm fails with `unavailable` once KAFKA_PRODUCE_TIMEOUT_MS passes."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from chatsite import metrics
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
        settle = bus._handoff.run_queued

        def counting(loop) -> None:
            wakeups.append(bus._handoff.pending(loop))
            settle(loop)

        monkeypatch.setattr(bus._handoff, "run_queued", counting)
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
        for poller in bus._pollers:
            poller.join(timeout=5)
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


def test_each_producer_lingers_its_own_way(settings):
    settings.KAFKA_LINGER_MS = 35
    assert kafka.producer_config()["linger.ms"] == 35
    assert kafka.producer_config(linger_ms=0)["linger.ms"] == 0


def _read_topic(name: str, expected: int) -> list[tuple[bytes, bytes]]:
    """Every record of the topic, in each partition's order."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**kafka.client_config(), "group.id": f"probe-{uuid.uuid4().hex[:8]}"})
    partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, 0) for p in partitions])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 20
    try:
        while len(got) < expected and time.monotonic() < deadline:
            for record in consumer.consume(num_messages=100, timeout=0.5):
                if record.error() is None:
                    got.append((record.key(), record.value()))
    finally:
        consumer.close()
    return got


async def test_a_record_sent_at_once_never_overtakes_its_keys_lingering_one(own_prefix, settings):
    """Against the broker, read back: a key whose record lingers on the
    batching producer stays on it when the load drops, so its next record
    cannot overtake it; another key goes at once meanwhile. (Which producer
    the load picks is forced here; the measuring is the next test's.)"""
    settings.KAFKA_LINGER_MS = 3000
    settings.KAFKA_PRODUCE_TIMEOUT_MS = 5000
    kafka.ensure_topics(["messages"])
    bus = kafka.KafkaBus()
    light, busy = 10**9, 0  # values of the threshold that make the load light / busy

    def produced() -> list[float]:
        return [
            metrics.REGISTRY.get_sample_value("wsc_bus_records_total", {"producer": name}) or 0.0
            for name in ("express", "batching")
        ]

    async def timed(key: str, value: bytes) -> float:
        started = time.monotonic()
        await bus.submit(topic="messages", key=key, value=value)
        return time.monotonic() - started

    counted = produced()
    try:
        bus._batch_above = light
        # (Connected first: a producer's first record waits for its connection.)
        await timed("warm", b"")
        # At a light load: sent at once, not after the 3 s linger.
        assert await timed("light", b"0") < 1.0
        bus._batch_above = busy
        first = asyncio.ensure_future(timed("k", b"1"))
        await asyncio.sleep(0.3)
        bus._batch_above = light
        assert await timed("other", b"x") < 1.0
        second = asyncio.ensure_future(timed("k", b"2"))
        assert not first.done()  # still lingering
        waited = await asyncio.gather(first, second)
        assert min(waited) > 1.0, waited
        express, batching = (now - before for now, before in zip(produced(), counted, strict=True))
        assert (express, batching) == (3, 2)
    finally:
        bus.close()
    records = _read_topic(kafka.full_topic("messages"), 5)
    assert [v for k, v in records if k == b"k"] == [b"1", b"2"]
    assert len(records) == 5


def test_the_load_is_measured_over_spans_and_picks_the_producer(settings):
    settings.KAFKA_BATCH_ABOVE_PER_S = 300
    bus = kafka.KafkaBus()
    try:
        bus._span_start = 0.0
        keys = iter(range(10**6))

        def send(at: float) -> int:
            route = ("topic", str(next(keys)).encode())
            picked = bus._route(route, at)
            bus._release(route)  # confirmed at once
            return picked

        # A span of 0.1 s with 25 records: 250 a second, below the threshold.
        assert {send(i * 0.003) for i in range(25)} == {kafka.EXPRESS}
        # The span closes on the next record; the next one holds 35: 350 a second.
        assert {send(0.1001 + i * 0.002) for i in range(35)} == {kafka.EXPRESS}
        assert {send(0.2002 + i * 0.002) for i in range(5)} == {kafka.BATCHING}
        # A pause counts in the span it ends: 5 records in 1.1 s, the load dropped.
        assert send(1.3) == kafka.EXPRESS
        assert not bus._unconfirmed
    finally:
        bus.close()


def test_a_key_whose_delivery_failed_stays_on_its_producer_for_a_while(settings):
    """The broker may still write a record whose delivery failed (in flight
    when its time ran out); a resend on the other producer could land first."""
    bus = kafka.KafkaBus()
    try:
        route = ("topic", b"k")
        now = time.monotonic()
        bus._batch_above = 0
        assert bus._route(route, now) == kafka.BATCHING
        bus._confirmed(route, failed=True)
        assert not bus._unconfirmed
        bus._batch_above = 10**9
        assert bus._route(route, now + 1) == kafka.BATCHING  # kept
        bus._confirmed(route, failed=False)
        assert bus._route(route, now + kafka.AFTER_FAILURE_S + 1) == kafka.EXPRESS
        bus._release(route)
        # A success frees the key at once.
        assert bus._route(("topic", b"j"), now) == kafka.EXPRESS
        bus._confirmed(("topic", b"j"), failed=False)
        assert not bus._unconfirmed
    finally:
        bus.close()


def test_a_producer_failing_every_delivery_is_replaced_while_the_other_succeeds(monkeypatch):
    from confluent_kafka import KafkaError

    monkeypatch.setattr(kafka, "PRODUCER_STUCK_S", 0.05)
    bus = kafka.KafkaBus()
    try:
        failed = KafkaError(KafkaError._MSG_TIMED_OUT)
        bus._check_delivery(kafka.BATCHING, failed)
        time.sleep(0.06)
        bus._check_delivery(kafka.EXPRESS, None)
        assert bus._broken is None
        bus._check_delivery(kafka.BATCHING, failed)
        assert bus._broken is not None
        old = list(bus._producers)
        bus._replace_if_broken()
        assert bus._broken is None and all(a is not b for a, b in zip(old, bus._producers, strict=True))
    finally:
        bus.close()
