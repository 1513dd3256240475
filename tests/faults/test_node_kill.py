"""A server node killed (SIGKILL) with 1,000 clients on it: they reconnect to
the other node with backoff and jitter, sync, and resend what was not
acknowledged; nothing is lost or doubled. Runs on the shared MariaDB, Redis
and broker (nothing there is restarted), with a key and topic prefix of its
own."""

from __future__ import annotations

import asyncio
import os
import resource
import time

import pytest
from asgiref.sync import sync_to_async

from tests.client import Fleet
from tests.faults.common import Traffic, place, reconnect_summary, settle
from tests.seed import world as make_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services, pytest.mark.faults]

USERS = int(os.environ.get("FAULTS_NODE_KILL_USERS", "500"))  # two sockets each
SENDERS = 100
RECONNECT_BOUND_S = 45.0


@pytest.mark.timeout(600)
async def test_a_node_killed_with_1000_clients(make_cluster):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * USERS + 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8 * USERS + 1024), hard))
    cluster = make_cluster(
        LIMIT_MESSAGES_PER_S=50, LIMIT_MESSAGES_BURST=200, REALTIME_SOCKET_QUEUE=5000, DATABASE_CONN_MAX_AGE=60
    )
    cluster.start_worker("w1")
    cluster.start_worker("w2", wait_assigned=False)
    a, b = cluster.start_node("a"), cluster.start_node("b")
    cluster.workers[1].wait_for_log("assigned")
    seeded = time.monotonic()
    w = await sync_to_async(make_world)(prefix="nk", users=USERS, pairs=[(n, n + 1) for n in range(0, USERS, 2)])
    print(f"\n[node kill] seeded {USERS} users in {time.monotonic() - seeded:.1f}s")
    # Every user twice on node A; each client falls back to node B.
    clients = place(w, [(n, [a.ws, b.ws]) for n in range(USERS)] * 2, backoff_base=0.5, backoff_max=5.0)
    fleet = Fleet(clients)
    try:
        opened = await fleet.open(concurrency=50, timeout=180)
        print(f"[node kill] {len(clients)} sockets on node A in {opened:.1f}s")
        senders = clients[:: len(clients) // SENDERS][:SENDERS]
        traffic = Traffic(w, senders, every=1.0).start()
        await asyncio.sleep(4)

        a.kill()
        killed_at = time.monotonic()
        back = await fleet.wait(lambda c: c.synced.is_set() and c.closes, RECONNECT_BOUND_S, what="reconnected")
        print(f"[node kill] all {len(clients)} clients reconnected to node B and synced {back:.1f}s after the kill")
        await asyncio.sleep(3)
        sent = await traffic.stop()
        report = await settle(w, clients, cluster.env["DATABASE_URL"], timeout=120, label="node kill")
    finally:
        await fleet.close()
    print(f"[node kill] {sent} messages sent; {reconnect_summary(clients)}")
    assert {code for c in clients for code in c.closes} == {1006}
    assert all(c.server_history[-1] == b.ws for c in clients)
    # Every message sent is stored once (the oracle rules out doubles and
    # checks that each one acknowledged is stored) and its sender knows it
    # (its outbox emptied). A send in flight when the node died may have lost
    # its ack with the node: its sender then learns of it from `sync` instead,
    # so `accepted` may fall a few short of `sent`, never `stored`.
    assert report.stored == sent
    assert report.accepted >= sent - SENDERS
    assert max(t for c in clients for t in c.reconnect_s) <= RECONNECT_BOUND_S
    assert killed_at
