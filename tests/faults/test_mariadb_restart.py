"""MariaDB restarted under traffic, on a private mariadbd (the shared server is
never touched). While it is down, sends answer `unavailable` and the worker
retries its batch; once it is back, writes resume, REST and WebSocket requests
succeed at once (no stale-connection error), and nothing accepted is lost."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.client import Fleet
from tests.faults.common import Traffic, place, settle
from tests.harness import MariaDB, free_port
from tests.seed import seed_in

pytestmark = [pytest.mark.real_services, pytest.mark.faults]


@pytest.fixture
def mariadb(tmp_path):
    server = MariaDB(tmp_path / "mariadb", port=free_port()).install().start()
    yield server
    server.stop()


@pytest.mark.parametrize("how", ["restart", "crash"])
async def test_mariadb_restart_under_traffic(make_cluster, mariadb, tmp_path, how):
    cluster = make_cluster(db_url=mariadb.create_database("wsc_faults"))
    cluster.manage("migrate", "--noinput")
    w = seed_in(
        cluster.node_env("seed"), prefix="db", users=4, pairs=[(0, 1), (0, 2), (2, 3), (1, 3)], groups=[[0, 1, 2]]
    )
    cluster.start_worker("w1")
    a, b = cluster.start_node("a"), cluster.start_node("b")
    clients = place(w, [(0, [a.ws, b.ws]), (1, [b.ws, a.ws]), (2, [a.ws, b.ws]), (3, [b.ws, a.ws])])
    fleet = Fleet(clients)
    try:
        await fleet.open()
        traffic = Traffic(w, clients, every=0.2).start()
        await asyncio.sleep(2)

        if how == "crash":
            mariadb.kill()
        else:
            mariadb.stop()
        down_at = time.monotonic()
        await asyncio.sleep(4)
        unavailable_while_down = sum(c.errors["unavailable"] for c in clients)
        mariadb.start()
        back_at = time.monotonic()

        # REST at once on both nodes, each request on whatever connection the
        # node kept from before the restart: none may fail.
        statuses = []
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(10):
                for node in (a, b):
                    for user in w["users"]:
                        answer = await http.get(
                            f"{node.http}/api/v1/conversations", headers={"Authorization": f"Bearer {user['token']}"}
                        )
                        statuses.append(answer.status_code)
        rest_done = time.monotonic() - back_at
        await asyncio.sleep(3)
        sent = await traffic.stop()
        report = await settle(w, clients, cluster.env["DATABASE_URL"], label=f"mariadb {how}")
    finally:
        await fleet.close()
    # (`rate_limited` is the clients' own retries spending their budget.)
    late_errors = [
        (c.name, code) for c in clients for code, _, at in c.error_refs if at > back_at + 1.0 and code != "rate_limited"
    ]
    print(
        f"[mariadb {how}] {sent} sent; down {back_at - down_at:.1f}s; {unavailable_while_down} `unavailable` "
        f"while down; {len(statuses)} REST requests in the {rest_done:.1f}s after it returned: "
        f"{sorted(set(statuses))}; worker retries: {len(cluster.grep('failed; retrying'))}"
    )
    # The outage was real: the worker could not store while it lasted. The
    # clients need not feel it: a send on a socket's grant needs no database,
    # so the broker accepts it and the worker stores it once MariaDB is back
    # (a socket's first send to a conversation is `unavailable` meanwhile).
    assert len(cluster.grep("failed; retrying")) > 0, "the outage was not felt"
    assert set(statuses) == {200}, statuses
    assert late_errors == [], f"errors after the database returned: {late_errors}"
    assert report.accepted == sent
    assert all(c.closes == [] for c in clients)
