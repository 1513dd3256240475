"""Calls across two real daphne nodes sharing MariaDB and Redis, with real
WebSocket clients (`websockets`): relay and busy across nodes, and timers that
fire when a node is killed without any chance to clean up."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async

from calls.tests.helpers import ANSWER, OFFER, acall_messages, acall_row, candidate
from conftest import login_tokens

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class Node:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc, self.port, self.log_path = proc, port, log_path

    def ws_url(self, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/?token={token}"

    def kill(self) -> None:
        """SIGKILL: no disconnect hook, no cleanup, as when a machine dies."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def start_node(django_db_setup, django_db_blocker, tmp_path):
    """`start(name, **settings)`: a daphne node (the supported alternative to
    uvicorn; tests/cluster covers uvicorn nodes) on this test database."""
    from conftest import serving

    with contextlib.ExitStack() as stack:

        def start(name: str, **settings: object) -> Node:
            env = {"NODE_ID": f"calls-{name}", "LOG_LEVEL": "INFO", **settings}
            served = stack.enter_context(serving("daphne", django_db_blocker, tmp_path, env=env, name=name))
            return Node(served.proc, served.port, served.log_path)

        yield start


class Client:
    """A real WebSocket client."""

    def __init__(self, ws) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, node: Node, user, *, token: str | None = None) -> Client:
        """A new login session of `user`, or the session of `token` (the same device)."""
        if token is None:
            token = (await sync_to_async(login_tokens)(user))["access"]
        client = cls(await websockets.connect(node.ws_url(token)))
        assert (await client.recv())["type"] == "hello"
        # Frames are handled after the connect hooks: the pong means they ran.
        await client.send({"type": "ping"})
        await client.expect("pong")
        return client

    async def send(self, frame: dict) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self, timeout: float = 5.0) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def expect(self, frame_type: str, timeout: float = 5.0) -> dict:
        while True:
            frame = await self.recv(timeout)
            if frame.get("type") != "presence":
                assert frame.get("type") == frame_type, f"expected {frame_type}, got {frame}"
                return frame

    async def silent(self, seconds: float = 0.5) -> None:
        try:
            frame = await self.recv(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {frame}")

    async def close(self) -> None:
        await self.ws.close()


async def test_a_call_across_two_nodes(start_node, alice, bob, dave):
    node_a, node_b = start_node("a"), start_node("b")
    a = await Client.open(node_a, alice)
    b_on_a, b_on_b = await Client.open(node_a, bob), await Client.open(node_b, bob)
    d = await Client.open(node_b, dave)
    try:
        await a.send({"type": "call.invite", "to": str(bob.uuid), "media": "video", "sdp": OFFER})
        call_id = (await a.expect("call.ringing"))["call_id"]
        for b in (b_on_a, b_on_b):
            assert (await b.expect("call.incoming"))["call_id"] == call_id
        await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(1)})

        # Busy is decided by the shared database, whichever node the caller is on.
        await d.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
        assert {(await d.recv())["type"], (await d.recv())["type"]} == {"error", "call.ended"}

        # Accepted on the other node: the answer, the held candidate and the relay cross nodes.
        await b_on_b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
        assert (await a.expect("call.accepted"))["sdp"] == ANSWER
        assert (await b_on_b.expect("call.accepted"))["call_id"] == call_id
        assert (await b_on_b.expect("call.ice"))["candidate"] == candidate(1)
        assert (await b_on_a.expect("call.answered_elsewhere"))["call_id"] == call_id
        await b_on_b.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(2)})
        assert (await a.expect("call.ice"))["candidate"] == candidate(2)
        await b_on_a.silent()

        await b_on_b.send({"type": "call.hangup", "call_id": call_id})
        for c in (a, b_on_a, b_on_b):
            assert (await c.expect("message.new"))["message"]["content"]["outcome"] == "completed"
            assert (await c.expect("call.ended"))["outcome"] == "completed"
        assert [m["content"]["outcome"] for m in await acall_messages(alice, bob)] == ["completed"]
    finally:
        for c in (a, b_on_a, b_on_b, d):
            await c.close()


async def test_a_killed_node_fails_its_users_calls(start_node, alice, bob):
    """Bob's node dies (SIGKILL: no disconnect hook). His lease is no longer
    renewed by anyone, and Alice's node ends the call as failed."""
    timers = {"CALL_RECONNECT_GRACE_S": 2, "CALL_SWEEP_INTERVAL_S": 1}
    node_a, node_b = start_node("a", **timers), start_node("b", **timers)
    a, b = await Client.open(node_a, alice), await Client.open(node_b, bob)
    try:
        await a.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
        call_id = (await a.expect("call.ringing"))["call_id"]
        await b.expect("call.incoming")
        await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
        await a.expect("call.accepted")
        await asyncio.sleep(1.5)  # past the grace while both are there: nothing happens
        assert (await acall_row(call_id)).state == "active"
        node_b.kill()
        await a.silent(1.5)
        assert (await a.expect("message.new", timeout=6))["message"]["content"]["outcome"] == "failed"
        ended = await a.expect("call.ended")
        assert (ended["outcome"], ended["by"]) == ("failed", None)
        assert (await acall_row(call_id)).outcome == "failed"
    finally:
        await a.close()


async def test_after_a_node_dies_the_device_that_reconnects_keeps_the_call(start_node, alice, bob):
    """Bob's node dies (SIGKILL: no disconnect hook, so his endpoint stays bound
    to a socket that is gone). His device reconnects to node A in the same
    login session; once the endpoint's lease is quiet, node A's sweeper hands
    it to the new socket: Alice's candidates reach it and the call outlives
    the grace. Another device of Bob's cannot take it over while it may still
    be alive."""
    timers = {"CALL_RECONNECT_GRACE_S": 8, "CALL_SWEEP_INTERVAL_S": 1}
    node_a, node_b = start_node("a", **timers), start_node("b", **timers)
    token = (await sync_to_async(login_tokens)(bob))["access"]
    a, b = await Client.open(node_a, alice), await Client.open(node_b, bob, token=token)
    clients = [a]
    try:
        await a.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
        call_id = (await a.expect("call.ringing"))["call_id"]
        await b.expect("call.incoming")
        await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
        await a.expect("call.accepted")
        node_b.kill()
        b_again = await Client.open(node_a, bob, token=token)
        other = await Client.open(node_a, bob)
        clients += [b_again, other]
        await other.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(1)})
        assert (await other.expect("error"))["code"] == "call_state"
        await asyncio.sleep(6.5)  # the endpoint's lease quiet (5 sweeps), handed over on the next
        await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(2)})
        assert (await b_again.expect("call.ice"))["candidate"] == candidate(2)
        await b_again.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(3)})
        assert (await a.expect("call.ice"))["candidate"] == candidate(3)
        await a.silent(4)  # past the grace since the node died
        assert (await acall_row(call_id)).state == "active"
        await b_again.send({"type": "call.hangup", "call_id": call_id})
        assert (await a.expect("message.new"))["message"]["content"]["outcome"] == "completed"
        assert (await a.expect("call.ended"))["outcome"] == "completed"
    finally:
        for c in clients:
            await c.close()


async def test_the_ring_timer_survives_the_node_that_started_it(start_node, alice, bob):
    """The call is started on node B, which then dies; Alice reconnects to node
    A within the grace, and node A's sweeper ends the call as missed on time."""
    timers = {"CALL_RING_TIMEOUT_S": 3, "CALL_RECONNECT_GRACE_S": 5, "CALL_SWEEP_INTERVAL_S": 1}
    node_a, node_b = start_node("a", **timers), start_node("b", **timers)
    a_on_b = await Client.open(node_b, alice)
    b = await Client.open(node_a, bob)
    await a_on_b.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
    call_id = (await a_on_b.expect("call.ringing"))["call_id"]
    await b.expect("call.incoming")
    node_b.kill()
    a = await Client.open(node_a, alice)
    try:
        assert (await b.expect("message.new", timeout=6))["message"]["content"]["outcome"] == "missed"
        assert (await b.expect("call.ended"))["outcome"] == "missed"
        assert (await a.expect("message.new"))["message"]["content"]["outcome"] == "missed"
        assert (await a.expect("call.ended"))["outcome"] == "missed"
        row = await acall_row(call_id)
        assert (row.outcome, row.ended_at >= row.started_at) == ("missed", True)
        assert (row.ended_at - row.started_at).total_seconds() >= 3
        assert len(await acall_messages(alice, bob)) == 1
    finally:
        await a.close()
        await b.close()


async def test_busy_is_cluster_wide(start_node, alice, bob, dave):
    node_a, node_b = start_node("a"), start_node("b")
    a, d = await Client.open(node_a, alice), await Client.open(node_b, dave)
    b = await Client.open(node_b, bob)
    try:
        frame = {"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER}
        # Both at once, on different nodes: exactly one rings.
        await asyncio.gather(a.send(frame), d.send(frame))
        first = {c: (await c.recv())["type"] for c in (a, d)}
        assert sorted(first.values()) in (["call.ended", "call.ringing"], ["call.ringing", "error"]), first
        [loser] = [c for c, kind in first.items() if kind != "call.ringing"]
        assert {first[loser], (await loser.recv())["type"]} == {"error", "call.ended"}
        assert (await b.expect("call.incoming"))["from"]["id"] in {str(alice.uuid), str(dave.uuid)}
        await b.silent()
        from calls.models import Call

        outcomes = await sync_to_async(lambda: sorted(Call.objects.values_list("state", flat=True)))()
        assert outcomes == ["ended", "ringing"]
    finally:
        for c in (a, b, d):
            await c.close()
