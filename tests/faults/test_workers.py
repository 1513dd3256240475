"""Workers under faults while real clients on two nodes keep sending: one
worker SIGKILLed mid-batch, new workers joining and one leaving (rebalances
while traffic flows), and a poison record on the topic (to the dead-letter
topic, and the partition keeps moving). Shared services, own prefixes.

(messaging/tests/test_kafka_faults.py kills a worker with a backlog and proves
the survivor absorbs the duplicates; chatsite/tests/test_operations.py checks
the dead letters' reasons and the redrive.)"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from tests.client import Fleet
from tests.faults.common import Traffic, place, settle
from tests.seed import world as make_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services, pytest.mark.faults]


def _world():
    return make_world(
        prefix="wk", users=6, pairs=[(0, n) for n in range(1, 6)] + [(1, 2), (3, 4)], groups=[[0, 1, 2, 3, 4, 5]]
    )


def _placements(a, b):
    return [(n, [a.ws, b.ws] if n % 2 else [b.ws, a.ws]) for n in range(6)] + [(0, [a.ws, b.ws])]


async def test_workers_killed_and_rebalanced_while_traffic_flows(make_cluster):
    cluster = make_cluster(LIMIT_MESSAGES_PER_S=100, LIMIT_MESSAGES_BURST=200)
    w1 = cluster.start_worker("w1")
    w2 = cluster.start_worker("w2", wait_assigned=False)
    a, b = cluster.start_node("a"), cluster.start_node("b")
    w2.wait_for_log("assigned")
    w = await sync_to_async(_world)()
    clients = place(w, _placements(a, b))
    fleet = Fleet(clients)
    timeline = []
    try:
        await fleet.open()
        traffic = Traffic(w, clients, every=0.05).start()
        await asyncio.sleep(3)
        w1.kill()  # SIGKILL mid-batch: stored rows whose offsets were never committed
        timeline.append("w1 SIGKILLed")
        await asyncio.sleep(2)
        w3 = await asyncio.to_thread(cluster.start_worker, "w3")  # a rebalance while traffic flows
        timeline.append("w3 joined")
        await asyncio.sleep(2)
        w2.signal(15)  # SIGTERM: finishes its batch, commits, leaves the group
        await asyncio.to_thread(w2.proc.wait, 20)
        timeline.append("w2 left")
        w4 = await asyncio.to_thread(cluster.start_worker, "w4")
        timeline.append("w4 joined")
        await asyncio.sleep(3)
        sent = await traffic.stop()
        report = await settle(w, clients, cluster.env["DATABASE_URL"], label="workers")
    finally:
        await fleet.close()
    w3.stop()
    w4.stop()
    stats = {worker.name: worker.stats() for worker in (w2, w3, w4)}
    print(f"[workers] {sent} sent; {' → '.join(timeline)}; {report}; stats {stats}")
    assert report.accepted == sent
    assert w2.proc.returncode == 0
    assert all(s.get("messages.stored", 0) > 0 for s in stats.values()), stats


async def test_a_poison_record_in_flowing_traffic(make_cluster):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from django.conf import settings

    cluster = make_cluster()
    worker = cluster.start_worker("w1")
    a, b = cluster.start_node("a"), cluster.start_node("b")
    w = await sync_to_async(_world)()
    clients = place(w, _placements(a, b))
    fleet = Fleet(clients)
    topic = f"{cluster.id}.messages"
    group = w["groups"][0]["conversation"]
    try:
        await fleet.open()
        traffic = Traffic(w, clients, every=0.1).start()
        await asyncio.sleep(2)
        # Keyed by the group's conversation: the same partition as its traffic.
        producer = Producer({"bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS, "acks": "all"})
        poison = f"poison {uuid.uuid4()}".encode()
        producer.produce(topic, key=group.encode(), value=poison)
        assert producer.flush(10) == 0
        injected_at = time.monotonic()
        await asyncio.sleep(3)
        sent = await traffic.stop()
        report = await settle(w, clients, cluster.env["DATABASE_URL"], label="poison")
    finally:
        await fleet.close()
    probe = Consumer(
        {
            "bootstrap.servers": settings.KAFKA_BOOTSTRAP_SERVERS,
            "group.id": f"probe-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    probe.assign([TopicPartition(f"{topic}.dlq", 0, 0)])
    dead = []
    deadline = time.monotonic() + 10
    while not dead and time.monotonic() < deadline:
        msg = probe.poll(0.5)
        if msg is not None and not msg.error():
            dead.append(msg)
    probe.close()
    print(f"[poison] {sent} sent, the poison record dead-lettered; {report}")
    assert [m.value() for m in dead] == [poison]
    assert dict(dead[0].headers())["reason"].decode().startswith("undecodable record")
    assert report.accepted == sent
    assert worker.alive() and injected_at
