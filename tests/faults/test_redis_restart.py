"""Redis restarted under traffic (a private redis-server: the shared one is
never touched). Every node loses its pub/sub subscription, so every socket
must notice and close with 1012 (or be resubscribed): the client reconnects
with backoff, syncs and resends its outbox. Never a socket that silently hears
nothing: after the restart, new messages reach every client in real time."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from tests.client import Fleet
from tests.faults.common import Traffic, place, reconnect_summary, settle
from tests.harness import RedisServer
from tests.seed import world as make_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services, pytest.mark.faults]


async def test_a_node_that_loses_redis_closes_its_sockets_with_1012(make_cluster, tmp_path):
    """The smallest case: one node, one socket, Redis goes away. The socket
    must be closed with 1012 at once, and a socket opened while Redis is down
    too (never left open and deaf)."""
    redis = RedisServer(tmp_path / "redis").start()
    cluster = make_cluster(redis_url=redis.url())
    cluster.services.append(redis)
    node = cluster.start_node("a")
    w = await sync_to_async(make_world)(prefix="r1", users=1)
    # (no reconnect within the test)
    client, late = place(w, [(0, [node.ws]), (0, [node.ws])], backoff_base=30, backoff_max=30)
    try:
        await client.open()
        redis.stop()
        started = time.monotonic()
        await Fleet([client]).wait(lambda c: c.closes, 5, what="saw the socket closed")
        print(f"closed with {client.closes} after {time.monotonic() - started:.2f}s")
        assert client.closes == [1012], cluster.grep("close")
        late.start()
        await Fleet([late]).wait(lambda c: c.closes, 8, what="saw the socket closed")
        assert late.closes == [1012] and late.hello is None, cluster.grep("Error")
    finally:
        await Fleet([client, late]).close()


@pytest.mark.parametrize("how", ["restart", "kill"])
async def test_redis_restart_under_traffic(make_cluster, tmp_path, how):
    redis = RedisServer(tmp_path / "redis").start()
    cluster = make_cluster(redis_url=redis.url())
    cluster.services.append(redis)
    cluster.start_worker("w1")
    a, b = cluster.start_node("a"), cluster.start_node("b")
    w = await sync_to_async(make_world)(
        prefix="rr", users=6, pairs=[(0, n) for n in range(1, 6)] + [(1, 2), (3, 4)], groups=[[0, 1, 2, 3, 4, 5]]
    )
    # Users split across the nodes; user 0 on both; user 5 only listens.
    clients = place(
        w,
        [
            (0, [a.ws, b.ws]),
            (0, [b.ws, a.ws]),
            (1, [a.ws, b.ws]),
            (2, [b.ws, a.ws]),
            (3, [a.ws, b.ws]),
            (4, [b.ws, a.ws]),
            (5, [a.ws, b.ws]),
        ],
    )
    fleet = Fleet(clients)
    try:
        await fleet.open()
        traffic = Traffic(w, clients[:-1], every=0.2).start()
        await asyncio.sleep(2)

        stopped_at = time.monotonic()
        if how == "kill":
            redis.kill()
        else:
            redis.stop()
        await asyncio.sleep(3)
        # Every socket noticed: none is left open on a node without its subscription.
        await fleet.wait(lambda c: len(c.closes) >= 1, 10, what="saw their socket closed")
        redis = RedisServer(tmp_path / "redis", port=redis.port).start()
        cluster.services.append(redis)
        restarted_at = time.monotonic()
        await fleet.wait(lambda c: c.synced.is_set(), 30, what="reconnected and synced")
        back = time.monotonic() - restarted_at
        await asyncio.sleep(2)
        sent = await traffic.stop()

        # Fresh messages after the restart reach every member in real time,
        # without any reconnect: nobody is subscribed to nothing.
        closes_before = [len(c.closes) for c in clients]
        report = await settle(w, clients, cluster.env["DATABASE_URL"], label=f"redis {how}")
        group = w["groups"][0]["conversation"]
        late = await clients[2].send_message(group, "after the restart")
        await fleet.wait(
            lambda c: any(m.get("client_msg_id") == late for m in c.messages.values()),
            10,
            what="heard the message sent after the restart",
        )
        assert [len(c.closes) for c in clients] == closes_before, "a socket had to reconnect to hear it"
    finally:
        await fleet.close()
    codes = {code for c in clients for code in c.closes}
    print(
        f"[redis {how}] {sent} sent; down {restarted_at - stopped_at:.1f}s; everyone back "
        f"{back:.2f}s after Redis returned; {reconnect_summary(clients)}"
    )
    assert codes <= {1012}, f"sockets closed with {codes}, expected 1012 only"
    # Every send was stored (its ack may have died with the socket: sync brought it back).
    assert report.stored >= sent and not report.problems, report.problems
