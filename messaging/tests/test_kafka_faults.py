"""The Kafka pipeline under faults, with real worker processes (real-services run only).

Oracle (checklist §3): every message that got `accepted` is stored exactly
once and every conversation's seq has no gap or duplicate."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.utils import translation
from django.utils.translation import gettext

from chatsite.testing import worker_env
from conversations.models import Message
from messaging.tests.helpers import new_id
from tests.harness import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def own_topics(settings):
    """A topic prefix of this test's own, so only the workers it starts consume it."""
    from chatsite import bus
    from chatsite.bus import kafka

    prefix = f"{settings.KAFKA_TOPIC_PREFIX}-{uuid.uuid4().hex[:8]}"
    settings.KAFKA_TOPIC_PREFIX = prefix
    bus.reset_bus()
    kafka._topics_ready.clear()
    kafka.ensure_topics(bus.topics())
    yield prefix
    bus.reset_bus()
    kafka._topics_ready.clear()


@pytest.fixture
def fast_limits(settings):
    settings.LIMIT_MESSAGES_PER_S = 10_000
    settings.LIMIT_MESSAGES_BURST = 10_000
    settings.LIMIT_FRAMES_PER_S = 10_000
    settings.LIMIT_FRAMES_BURST = 10_000


async def _send_many(ws, conversation: str, count: int) -> list[str]:
    ids = [new_id() for _ in range(count)]
    for n, cmid in enumerate(ids):
        await ws.send(
            {
                "type": "message.send",
                "client_msg_id": cmid,
                "conversation": conversation,
                "kind": "text",
                "content": f"{n}",
            }
        )
    return ids


async def _collect_acks(sockets, expected: int, timeout: float) -> tuple[set[str], set[str]]:
    """(accepted ids, stored ids) seen on these sockets until every accepted one is stored."""
    accepted: set[str] = set()
    stored: set[str] = set()
    deadline = time.monotonic() + timeout

    async def drain(ws):
        while time.monotonic() < deadline and (len(accepted) < expected or stored < accepted):
            # (a receive that times out would cancel the test application: peek first)
            if await ws.comm.receive_nothing(timeout=0.2, interval=0.01):
                continue
            frame = await ws.recv()
            if frame["type"] == "message.ack":
                (accepted if frame["status"] == "accepted" else stored).add(frame["client_msg_id"])
            elif frame["type"] == "error":
                raise AssertionError(f"unexpected error {frame}")

    await asyncio.gather(*(drain(ws) for ws in sockets))
    return accepted, stored


def _assert_oracle(conversation: str, accepted: set[str]) -> None:
    rows = list(Message.objects.filter(conversation__uuid=conversation).values_list("seq", "client_msg_id"))
    seqs = sorted(seq for seq, _ in rows)
    assert seqs == list(range(1, len(rows) + 1)), "seq has a gap or a duplicate"
    stored_ids = [cmid for _, cmid in rows if cmid]
    assert len(stored_ids) == len(set(stored_ids)), "a message was stored twice"
    assert accepted <= set(stored_ids), f"{len(accepted - set(stored_ids))} accepted messages were lost"


async def test_worker_killed_mid_batch_loses_and_duplicates_nothing(
    ws_connect, own_topics, alice, bob, direct, fast_limits, tmp_path
):
    group = f"{own_topics}-g"
    env = await sync_to_async(worker_env)(topic_prefix=own_topics, group=group)
    # The first worker commits its offsets only once a minute: whatever it has
    # stored when it is killed comes again to the second, which must absorb it.
    first_env = {**env, "KAFKA_COMMIT_INTERVAL_MS": "60000"}
    first = await sync_to_async(Worker("w1", env=first_env, log_path=tmp_path / "w1.log").start)()
    a = await ws_connect(alice)
    ids = await _send_many(a, direct, 400)
    # Kill it while it is storing: records stored, their offsets not committed.
    deadline = time.monotonic() + 20
    while await sync_to_async(Message.objects.filter(conversation__uuid=direct).count)() < 60:
        assert time.monotonic() < deadline, first.log()
        await asyncio.sleep(0.02)
    first.kill()
    second = Worker("w2", env=env, log_path=tmp_path / "w2.log")
    try:
        # Before it has its partitions it has not installed its SIGTERM handler
        # either; everything may already be acknowledged by then (the first
        # worker stored it and was killed before committing the offsets).
        await sync_to_async(second.start)()
        accepted, stored = await _collect_acks([a], expected=len(ids), timeout=60)
        assert accepted == set(ids), "every message was accepted (the broker stayed up)"
        await sync_to_async(_assert_oracle)(direct, accepted)
        assert stored == accepted
    finally:
        second.stop()
    # The survivor saw every record the killed worker had stored, and absorbed them.
    assert second.stats().get("messages.duplicates", 0) >= 60, second.log()[-4000:]


async def test_two_workers_many_senders_gapless(ws_connect, own_topics, alice, bob, direct, fast_limits, tmp_path):
    group = f"{own_topics}-g"
    env = await sync_to_async(worker_env)(topic_prefix=own_topics, group=group)
    workers = [Worker(f"w{n}", env=env, log_path=tmp_path / f"w{n}.log").spawn() for n in range(2)]
    try:
        for worker in workers:
            await sync_to_async(worker.wait_for_log)("assigned")
        sockets = [await ws_connect(alice), await ws_connect(alice), await ws_connect(bob), await ws_connect(bob)]
        batches = await asyncio.gather(*(_send_many(ws, direct, 50) for ws in sockets))
        expected = {cmid for batch in batches for cmid in batch}
        accepted, stored = await _collect_acks(sockets, expected=200, timeout=60)
        assert accepted == expected and stored == expected
        await sync_to_async(_assert_oracle)(direct, accepted)
        seqs = await sync_to_async(
            lambda: sorted(Message.objects.filter(conversation__uuid=direct).values_list("seq", flat=True))
        )()
        assert seqs == list(range(1, 201))
    finally:
        for worker in workers:
            worker.stop()


async def test_broker_down_answers_unavailable_within_5s(ws_connect, alice, bob, direct, settings):
    from chatsite import bus

    settings.KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:1"  # nothing listens there
    bus.reset_bus()
    try:
        a, b = await ws_connect(alice), await ws_connect(bob)
        # Alice's other device speaks Chinese: the broker's failure (reported
        # on the producer's thread) is told in its language.
        a_zh = await ws_connect(alice, headers=[(b"accept-language", b"zh-CN")])
        cmid, cmid_zh = new_id(), new_id()
        started = time.monotonic()
        for socket, client_msg_id in ((a, cmid), (a_zh, cmid_zh)):
            await socket.send(
                {
                    "type": "message.send",
                    "client_msg_id": client_msg_id,
                    "conversation": direct,
                    "kind": "text",
                    "content": "x",
                }
            )
        error = await a.expect("error", timeout=6)
        error_zh = await a_zh.expect("error", timeout=6)
        assert time.monotonic() - started <= 5.5
        assert error["code"] == "unavailable" and error["ref"] == cmid
        assert error_zh["code"] == "unavailable" and error_zh["ref"] == cmid_zh
        assert error["message"].startswith("The message broker did not confirm the message"), error
        with translation.override("zh-hans"):
            chinese = {
                gettext("The message broker did not confirm the message; retry later."),
                gettext("The message broker did not confirm the message in time; retry later."),
            }
        assert error_zh["message"] in chinese and "broker" not in error_zh["message"], error_zh
        await a.silent(0.5)
        await b.silent()
        assert not await sync_to_async(Message.objects.filter(client_msg_id__in=[cmid, cmid_zh]).exists)()
    finally:
        bus.reset_bus()
