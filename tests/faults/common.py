"""What the fault tests share: clients placed on nodes, steady traffic, and the
end of a scenario (everything acknowledged, delivered, and the oracle)."""

from __future__ import annotations

import asyncio
import random
import time

from asgiref.sync import sync_to_async

from tests import oracle
from tests.client import ChatClient, Fleet


def members_of(world: dict) -> dict[str, list[str]]:
    return {c["conversation"]: c["members"] for c in world["direct"] + world["groups"]}


def conversations_of(world: dict, user_id: str) -> list[str]:
    return [c["conversation"] for c in world["direct"] + world["groups"] if user_id in c["members"]]


def place(world: dict, placements: list[tuple[int, list[str]]], **kwargs) -> list[ChatClient]:
    """A client per (user index, servers in the order it tries them)."""
    clients = []
    for n, (index, servers) in enumerate(placements):
        user = world["users"][index]
        clients.append(
            ChatClient(
                token=user["token"],
                servers=servers,
                name=f"{user['username']}#{n}",
                conversations=conversations_of(world, user["id"]),
                **kwargs,
            )
        )
    return clients


class Traffic:
    """Each sender sends a text to one of its conversations every `every`
    seconds (with jitter), connected or not: while it is disconnected the
    message waits in its outbox, as in the product's client."""

    def __init__(self, world: dict, senders: list[ChatClient], *, every: float = 0.25) -> None:
        self.senders = senders
        self.every = every
        user_of = {u["token"]: u["id"] for u in world["users"]}
        self.targets = {c.name: conversations_of(world, user_of[c.token]) for c in senders}
        self.sent = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> Traffic:
        self._tasks = [asyncio.ensure_future(self._run(c)) for c in self.senders]
        return self

    async def _run(self, client: ChatClient) -> None:
        targets = self.targets[client.name]
        await asyncio.sleep(random.uniform(0, self.every))
        n = 0
        while not self._stop.is_set():
            await client.send_message(random.choice(targets), f"{client.name} {n}")
            n += 1
            self.sent += 1
            try:
                await asyncio.wait_for(self._stop.wait(), self.every * random.uniform(0.5, 1.5))
            except TimeoutError:
                pass

    async def stop(self) -> int:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.sent


async def settle(
    world: dict, clients: list[ChatClient], db_url: str, *, timeout: float = 60.0, label: str = ""
) -> oracle.Report:
    """Wait until every client is connected and synced, its outbox empty (every
    message it sent stored and acknowledged), and every client holds every
    stored message of its conversations; then run the oracle and return its
    report (it asserts nothing was lost, doubled or left unacknowledged)."""
    fleet = Fleet(clients)
    started = time.monotonic()
    await fleet.wait(lambda c: c.synced.is_set(), timeout, what="synced")
    await fleet.wait(lambda c: not c.outbox, timeout, what="emptied their outbox", explain=ChatClient.describe_outbox)
    members = members_of(world)
    expected = await sync_to_async(oracle.expected_by_user)(db_url, members)
    try:
        await fleet.wait(lambda c: oracle.delivered([c], expected), timeout, what="got every message")
    except TimeoutError:
        pass  # the oracle says who misses what
    report = await sync_to_async(oracle.check)(db_url, members=members, clients=clients)
    print(f"\n[{label}] settled in {time.monotonic() - started:.1f}s: {report}")
    assert not report.problems, report.problems
    return report


def reconnect_summary(clients: list[ChatClient]) -> str:
    times = sorted(t for c in clients for t in c.reconnect_s)
    if not times:
        return "no reconnects"
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return (
        f"{len(times)} reconnects: median {p(0.5):.2f}s, p95 {p(0.95):.2f}s, max {times[-1]:.2f}s "
        f"(close codes {sorted({code for c in clients for code in c.closes})})"
    )
