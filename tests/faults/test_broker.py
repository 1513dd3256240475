"""The broker under faults, on a private Tansu instance (the shared one is never
touched).

Paused: SIGSTOP for 8 s while users send (like `docker pause`: the broker
keeps its state but answers nothing). Every send gets `unavailable` within
5 s, never silence and never an `accepted` for a message that is then lost;
clients resend with the same client_msg_id after it returns, and everything
is stored once.

Stopped and started again: this machine's broker keeps records in memory
only, so a stop loses every topic, record and committed offset. That cannot
prove durability (with a durable Kafka the records in flight would survive the
restart and be stored when it returns); what it does show is that a server and
a worker that lose their broker answer `unavailable` while it is gone, and
recover on their own when a broker is back on the same address: topics are
there again and new messages flow end to end.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from tests.client import Fleet
from tests.faults.common import Traffic, place, settle
from tests.harness import Broker
from tests.seed import world as make_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services, pytest.mark.faults]


ANSWER_WITHIN_S = 5.0
SLACK_S = 0.5  # the client's own clock and event loop


def _world():
    return make_world(prefix="bk", users=4, pairs=[(0, 1), (0, 2), (2, 3), (1, 3)], groups=[[0, 1, 2]])


def _placements(a, b):
    return [(0, [a.ws, b.ws]), (1, [b.ws, a.ws]), (2, [a.ws, b.ws]), (3, [b.ws, a.ws]), (0, [b.ws, a.ws])]


async def test_broker_paused_while_users_send(make_cluster, tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cluster = make_cluster(kafka=broker.bootstrap)
    cluster.services.append(broker)
    cluster.start_worker("w1")
    a, b = cluster.start_node("a"), cluster.start_node("b")
    w = await sync_to_async(_world)()
    clients = place(w, _placements(a, b))
    fleet = Fleet(clients)
    silent: set[str] = set()
    try:
        await fleet.open()
        traffic = Traffic(w, clients, every=0.2).start()
        await asyncio.sleep(2)
        broker.pause()
        paused_at = time.monotonic()
        while time.monotonic() - paused_at < 8:
            for c in clients:
                silent.update(c.unanswered(ANSWER_WITHIN_S + SLACK_S))
            await asyncio.sleep(0.1)
        broker.resume()
        unavailable_during_pause = sum(c.errors["unavailable"] for c in clients)
        await asyncio.sleep(3)
        sent = await traffic.stop()
        report = await settle(w, clients, cluster.env["DATABASE_URL"], timeout=30, label="broker paused")
    finally:
        await fleet.close()
    answers = sorted(t for c in clients for t in c.answer_s.get("unavailable", []))
    print(
        f"[broker paused] {sent} sent; {unavailable_during_pause} `unavailable` during the pause, "
        f"answered after {answers[0]:.2f}..{answers[-1]:.2f}s; {report}"
    )
    assert not silent, f"{len(silent)} sends got no answer within {ANSWER_WITHIN_S}s"
    assert unavailable_during_pause > 0, "the pause was not felt"
    assert answers[-1] <= ANSWER_WITHIN_S + SLACK_S
    assert report.accepted == sent
    assert all(c.closes == [] for c in clients), "nobody was disconnected"


async def test_broker_stopped_and_started_again(make_cluster, tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cluster = make_cluster(kafka=broker.bootstrap)
    cluster.services.append(broker)
    worker = cluster.start_worker("w1")
    a, b = cluster.start_node("a"), cluster.start_node("b")
    w = await sync_to_async(_world)()
    clients = place(w, _placements(a, b))
    fleet = Fleet(clients)
    try:
        await fleet.open()
        traffic = Traffic(w, clients, every=0.2).start()
        await asyncio.sleep(2)
        before = await traffic.stop()
        # Everything accepted so far is stored before the broker goes.
        await settle(w, clients, cluster.env["DATABASE_URL"], label="before the stop")

        broker.stop()
        stopped_at = time.monotonic()
        direct = w["direct"][0]["conversation"]
        cmid = await clients[0].send_message(direct, "while the broker is gone")
        await Fleet(clients[:1]).wait(lambda c: c.errors["unavailable"] > 0, ANSWER_WITHIN_S + 2, what="unavailable")
        first = clients[0].answer_s["unavailable"][0]
        assert first <= ANSWER_WITHIN_S + SLACK_S
        assert cmid not in clients[0].accepted
        await asyncio.sleep(3)  # the client keeps retrying; every try is refused
        assert cmid not in clients[0].accepted

        broker = Broker(tmp_path / "broker2", port=broker.port).start()
        cluster.services.append(broker)
        started_at = time.monotonic()
        traffic = Traffic(w, clients, every=0.2).start()
        await asyncio.sleep(3)
        after = await traffic.stop()
        report = await settle(w, clients, cluster.env["DATABASE_URL"], timeout=45, label="after a fresh broker")
        recovered = time.monotonic() - started_at
    finally:
        await fleet.close()
    print(
        f"[broker restart] {before} sent before, {after} + 1 after; first `unavailable` {first:.2f}s after the "
        f"stop ({started_at - stopped_at:.1f}s down); all stored and delivered {recovered:.1f}s after the new "
        f"broker started; {report}"
    )
    assert report.accepted == before + after + 1
    assert worker.alive() and a.alive() and b.alive()


async def test_a_worker_recreates_its_topics_on_a_fresh_broker(make_cluster, tmp_path):
    """The worker's half of recovering from a broker that lost its data: with
    no partition left it finds its topics gone, creates them (and their
    dead-letter topics) again and subscribes again; records then flow, and a
    poison record still reaches the dead-letter topic. Records are produced by
    a new producer here, as a node would once its own producer is replaced."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    from conversations.models import Conversation, Message
    from messaging.actions.send import SendDraft

    broker = Broker(tmp_path / "broker").start()
    cluster = make_cluster(kafka=broker.bootstrap)
    cluster.services.append(broker)
    worker = cluster.start_worker("w1")
    w = await sync_to_async(make_world)(prefix="rt", users=2, pairs=[(0, 1)])
    conversation = w["direct"][0]["conversation"]
    conversation_pk = await sync_to_async(lambda: Conversation.objects.get(uuid=conversation).pk)()

    broker.stop()
    broker = Broker(tmp_path / "broker2", port=broker.port).start()
    cluster.services.append(broker)
    started_at = time.monotonic()
    await asyncio.to_thread(worker.wait_for_log, "were missing: created again", 40)
    await asyncio.to_thread(worker.wait_for_log, "assigned [(", 40, count=2)
    recovered = time.monotonic() - started_at

    cmid = str(uuid.uuid4())
    record = SendDraft(
        conversation_id=conversation_pk,
        conversation_uuid=conversation,
        sender_id=w["users"][0]["pk"],
        kind="text",
        text="after a fresh broker",
        file_id=None,
        client_msg_id=cmid,
    ).record(socket_id=None, ref=None)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for value in (b"poison", record):
        producer.produce(f"{cluster.id}.messages", key=conversation.encode(), value=value)
    assert producer.flush(10) == 0
    deadline = time.monotonic() + 20
    while not await sync_to_async(Message.objects.filter(client_msg_id=cmid).exists)():
        assert time.monotonic() < deadline, worker.log()[-3000:]
        await asyncio.sleep(0.1)
    probe = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "probe", "auto.offset.reset": "earliest"})
    probe.assign([TopicPartition(f"{cluster.id}.messages.dlq", 0, 0)])
    dead = []
    while not dead and time.monotonic() < deadline:
        msg = probe.poll(0.5)
        if msg is not None and not msg.error():
            dead.append(msg.value())
    probe.close()
    print(f"[fresh broker] the worker consumed again {recovered:.1f}s after the new broker started")
    assert dead == [b"poison"]
