"""Call signalling over real WebSocket clients (websocket.md "Calls";
reliability-security.md group G), in both the embedded and the real-services run."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.serializers import user_to_wire
from calls.models import Call, CallSlot
from calls.tests.helpers import (
    ANSWER,
    OFFER,
    acall_messages,
    acall_row,
    candidate,
    establish,
    expect_end,
    frames,
    invite,
)


async def drain(ws, quiet: float = 0.5) -> list[dict]:
    """Every frame until `quiet` seconds pass without one."""
    out = []
    while not await ws.comm.receive_nothing(timeout=quiet):
        out.append(await ws.recv())
    return out


pytestmark = pytest.mark.django_db(transaction=True)


async def test_happy_path_with_two_callee_sockets(connect, alice, bob):
    a1, a2 = await connect(alice), await connect(alice)
    b1, b2 = await connect(bob), await connect(bob)

    await a1.send({"type": "call.invite", "to": str(bob.uuid), "media": "video", "sdp": OFFER, "ref": "inv-1"})
    ringing = await a1.expect("call.ringing")
    call_id = ringing["call_id"]
    assert ringing == {"type": "call.ringing", "call_id": call_id, "to": user_to_wire(bob), "ref": "inv-1"}
    assert await a2.expect("call.ringing") == {"type": "call.ringing", "call_id": call_id, "to": user_to_wire(bob)}
    for b in (b1, b2):
        assert await b.expect("call.incoming") == {
            "type": "call.incoming",
            "call_id": call_id,
            "from": user_to_wire(alice),
            "media": "video",
            "sdp": OFFER,
        }

    # The caller's candidates before the answer are held, not sent to anyone.
    await a1.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(1)})
    await a1.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(2)})
    for ws in (a1, a2, b1, b2):
        await ws.silent()

    await b2.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert await a1.expect("call.accepted") == {"type": "call.accepted", "call_id": call_id, "sdp": ANSWER}
    assert await a2.expect("call.accepted") == {"type": "call.accepted", "call_id": call_id}
    assert await b2.expect("call.accepted") == {"type": "call.accepted", "call_id": call_id, "ref": call_id}
    for n in (1, 2):
        assert await b2.expect("call.ice") == {
            "type": "call.ice",
            "call_id": call_id,
            "from": str(alice.uuid),
            "candidate": candidate(n),
        }
    assert await b1.expect("call.answered_elsewhere") == {"type": "call.answered_elsewhere", "call_id": call_id}
    for ws in (a1, a2, b1, b2):
        await ws.silent()

    # ICE both ways, only between the inviting and the accepting socket.
    await b2.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(3)})
    assert await a1.expect("call.ice") == {
        "type": "call.ice",
        "call_id": call_id,
        "from": str(bob.uuid),
        "candidate": candidate(3),
    }
    await a1.send({"type": "call.ice", "call_id": call_id, "candidate": {"candidate": ""}})
    assert await b2.expect("call.ice") == {
        "type": "call.ice",
        "call_id": call_id,
        "from": str(alice.uuid),
        "candidate": {"candidate": ""},
    }
    for ws in (a1, a2, b1, b2):
        await ws.silent()

    # The first accept won: the other callee socket cannot accept any more.
    await b1.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    error = await b1.expect("error")
    assert error["code"] == "call_state" and error["ref"] == call_id
    row = await acall_row(call_id)
    assert row.state == "active" and row.answered_at is not None and row.held_candidates == [] and row.offer is None

    await asyncio.sleep(0.6)
    # Hanging up works from any socket of a party, here the caller's other one.
    await a2.send({"type": "call.hangup", "call_id": call_id, "ref": "bye"})
    messages, endings = [], []
    for ws in (a1, a2, b1, b2):
        message, ended = await expect_end(ws, call_id)
        messages.append(message)
        endings.append(ended)
    row = await acall_row(call_id)
    assert row.state == "ended" and row.outcome == "completed" and row.ended_by_id == alice.pk
    assert row.duration_s == int((row.ended_at - row.answered_at).total_seconds() + 0.5) >= 1
    expected = {"type": "call.ended", "call_id": call_id, "by": str(alice.uuid), "outcome": "completed"}
    expected["duration_s"] = row.duration_s
    assert endings == [expected, {**expected, "ref": "bye"}, expected, expected]
    content = {"call_id": call_id, "media": "video", "outcome": "completed", "duration_s": row.duration_s}
    assert all(m == messages[0] for m in messages)
    assert messages[0]["content"] == content and messages[0]["sender"]["id"] == str(alice.uuid)
    assert await acall_messages(alice, bob) == [{"content": content, "sender": alice.pk}]
    assert not await sync_to_async(CallSlot.objects.exists)()
    for ws in (a1, a2, b1, b2):
        await ws.silent()


async def test_simultaneous_accepts_one_wins(connect, alice, bob):
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    call_id = await invite(a, bob)
    await b1.expect("call.incoming")
    await b2.expect("call.incoming")
    accept = {"type": "call.accept", "call_id": call_id, "sdp": ANSWER}
    await asyncio.gather(b1.send(accept), b2.send(accept))
    got = [sorted(f["type"] for f in await drain(ws)) for ws in (b1, b2)]
    # The winner gets its ack only; the loser `answered_elsewhere` and an error
    # for its own accept, in either order.
    assert sorted(got) == [["call.accepted"], ["call.answered_elsewhere", "error"]]
    assert (await a.expect("call.accepted"))["sdp"] == ANSWER
    await a.silent()


async def test_first_accept_wins_in_order(connect, alice, bob):
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    call_id = await invite(a, bob)
    await b1.expect("call.incoming")
    await b2.expect("call.incoming")
    await b1.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await b1.expect("call.accepted"))["ref"] == call_id
    assert await b2.expect("call.answered_elsewhere") == {"type": "call.answered_elsewhere", "call_id": call_id}
    await b2.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await b2.expect("error"))["code"] == "call_state"
    assert (await a.expect("call.accepted"))["sdp"] == ANSWER
    await a.silent()
    await b1.silent()


async def test_reject(connect, alice, bob):
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    call_id = await invite(a, bob)
    await b1.expect("call.incoming")
    await b2.expect("call.incoming")
    await b1.send({"type": "call.reject", "call_id": call_id, "reason": "in a meeting"})
    for ws in (a, b1, b2):
        message, ended = await expect_end(ws, call_id)
        assert message["content"] == {"call_id": call_id, "media": "audio", "outcome": "rejected", "duration_s": 0}
        expected = {
            "type": "call.ended",
            "call_id": call_id,
            "by": str(bob.uuid),
            "outcome": "rejected",
            "duration_s": 0,
            "reason": "in a meeting",
        }
        assert ended == ({**expected, "ref": call_id} if ws is b1 else expected)
    row = await acall_row(call_id)
    assert (row.state, row.outcome, row.duration_s, row.answered_at) == ("ended", "rejected", 0, None)
    assert len(await acall_messages(alice, bob)) == 1


async def test_cancel(connect, alice, bob):
    a, b = await connect(alice), await connect(bob)
    call_id = await invite(a, bob)
    await b.expect("call.incoming")
    await a.send({"type": "call.cancel", "call_id": call_id})
    for ws in (a, b):
        message, ended = await expect_end(ws, call_id)
        assert message["content"]["outcome"] == "cancelled"
        assert ended["outcome"] == "cancelled" and ended["by"] == str(alice.uuid) and ended["duration_s"] == 0
    row = await acall_row(call_id)
    assert (row.state, row.outcome) == ("ended", "cancelled")
    # A cancelled call takes no more signals.
    await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await b.expect("error"))["code"] == "call_state"
    await a.silent()


async def test_busy_callee_and_busy_caller(connect, alice, bob, dave):
    a, b, d = await connect(alice), await connect(bob), await connect(dave)
    call_id = await invite(a, bob)
    await b.expect("call.incoming")

    # Dave calls Bob, who is being rung by Alice.
    await d.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER, "ref": "d-1"})
    got = {f["type"]: f for f in await frames(d, 2)}
    assert set(got) == {"error", "call.ended"}
    assert got["error"]["code"] == "busy" and got["error"]["ref"] == "d-1"
    busy_id = got["call.ended"]["call_id"]
    assert got["call.ended"] == {
        "type": "call.ended",
        "call_id": busy_id,
        "by": None,
        "outcome": "busy",
        "duration_s": 0,
        "ref": "d-1",
    }
    for ws in (a, b, d):
        await ws.silent()
    busy = await acall_row(busy_id)
    assert (busy.caller_id, busy.callee_id, busy.state, busy.outcome) == (dave.pk, bob.pk, "ended", "busy")
    assert await acall_messages(dave, bob) == []

    # Bob, being rung, tries to call Dave: he is the busy one.
    await b.send({"type": "call.invite", "to": str(dave.uuid), "media": "video", "sdp": OFFER})
    got = {f["type"]: f for f in await frames(b, 2)}
    assert got["error"]["code"] == "busy" and got["call.ended"]["outcome"] == "busy"
    await d.silent()
    await a.silent()

    # Alice's call was untouched by either attempt and still works.
    await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await a.expect("call.accepted"))["sdp"] == ANSWER
    # Now both are in an active call: Dave still gets busy.
    await d.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
    assert {f["type"] for f in await frames(d, 2)} == {"error", "call.ended"}
    # The callee of a busy attempt does not even learn the call exists.
    await b.send({"type": "call.accept", "call_id": busy_id, "sdp": ANSWER})
    assert (await b.expect("call.accepted"))["ref"] == call_id
    assert (await b.expect("error"))["code"] == "not_found"


async def test_missed_after_the_ring_timeout(connect, alice, bob, settings):
    settings.CALL_RING_TIMEOUT_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    call_id = await invite(a, bob, media="video")
    await b1.expect("call.incoming")
    await b2.expect("call.incoming")
    await a.silent(0.6)
    for ws in (a, b1, b2):
        message, ended = await expect_end(ws, call_id)
        assert message["content"] == {"call_id": call_id, "media": "video", "outcome": "missed", "duration_s": 0}
        assert ended == {"type": "call.ended", "call_id": call_id, "by": None, "outcome": "missed", "duration_s": 0}
    row = await acall_row(call_id)
    assert (row.state, row.outcome, row.ended_by_id, row.ring_deadline) == ("ended", "missed", None, None)
    assert len(await acall_messages(alice, bob)) == 1
    for ws in (a, b1, b2):
        await ws.silent(0.5)
    assert not await sync_to_async(CallSlot.objects.exists)()


async def test_missed_when_the_callee_is_offline(connect, alice, bob, settings):
    settings.CALL_RING_TIMEOUT_S = 1
    settings.CALL_RECONNECT_GRACE_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    a = await connect(alice)
    call_id = await invite(a, bob)
    # An offline callee is not a failure: the call rings out as missed.
    _, ended = await expect_end(a, call_id)
    assert ended["outcome"] == "missed"
    # And Bob, back online, can be called again (no busy slot was left behind).
    b = await connect(bob)
    await invite(a, bob)
    await b.expect("call.incoming")


async def test_a_callee_socket_that_connects_while_it_rings_rings_too(connect, ws_connect, alice, bob):
    a = await connect(alice)
    call_id = await invite(a, bob, media="video")
    b = await ws_connect(bob)  # its first frame after `hello` is the ringing call
    assert await b.expect("call.incoming") == {
        "type": "call.incoming",
        "call_id": call_id,
        "from": user_to_wire(alice),
        "media": "video",
        "sdp": OFFER,
    }
    await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await a.expect("call.accepted"))["sdp"] == ANSWER
    # Once active, a new socket of either party is not rung.
    b2 = await connect(bob)
    await b2.silent()


async def test_failed_when_a_party_has_no_socket_for_the_grace(connect, alice, bob, settings):
    settings.CALL_RECONNECT_GRACE_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    a, b = await connect(alice), await connect(bob)
    call_id = await establish(a, b, bob)
    await b.close()
    # Not before the grace: Bob may come back.
    await a.silent(0.9)
    message, ended = await expect_end(a, call_id)
    assert ended == {
        "type": "call.ended",
        "call_id": call_id,
        "by": None,
        "outcome": "failed",
        "duration_s": ended["duration_s"],
    }
    row = await acall_row(call_id)
    assert (row.outcome, row.duration_s) == ("failed", ended["duration_s"])
    assert message["content"] == {
        "call_id": call_id,
        "media": "audio",
        "outcome": "failed",
        "duration_s": row.duration_s,
    }


async def test_failed_when_the_caller_leaves_while_it_rings(connect, alice, bob, settings):
    settings.CALL_RECONNECT_GRACE_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    a, b = await connect(alice), await connect(bob)
    call_id = await invite(a, bob)
    await b.expect("call.incoming")
    await a.close()
    await b.silent(0.9)
    _, ended = await expect_end(b, call_id)
    assert ended["outcome"] == "failed" and ended["by"] is None


async def test_reconnecting_within_the_grace_keeps_the_call(connect, alice, bob, settings):
    settings.CALL_RECONNECT_GRACE_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    a, b1 = await connect(alice), await connect(bob)
    call_id = await establish(a, b1, bob)
    await b1.close()
    await asyncio.sleep(0.5)
    b2 = await connect(bob)
    # The media endpoint closed: what Alice sends meanwhile has nowhere to go...
    await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(1)})
    await b2.silent()
    # ...until Bob's new socket signals: it takes the endpoint over.
    await b2.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(2)})
    assert (await a.expect("call.ice"))["candidate"] == candidate(2)
    await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(3)})
    assert (await b2.expect("call.ice"))["candidate"] == candidate(3)
    # Well past the grace, the call is still up.
    await a.silent(1.5)
    await b2.silent(0.1)
    assert (await acall_row(call_id)).state == "active"
    # Another socket of Bob's cannot grab it while b2 holds it.
    b3 = await connect(bob)
    await b3.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(4)})
    assert (await b3.expect("error"))["code"] == "call_state"
    await a.silent()
    await b2.send({"type": "call.hangup", "call_id": call_id})
    _, ended = await expect_end(a, call_id)
    assert ended["outcome"] == "completed" and ended["by"] == str(bob.uuid)


async def test_a_third_user_cannot_touch_the_call(connect, alice, bob, carol):
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    call_id = await invite(a, bob)
    await b.expect("call.incoming")
    attempts = [
        {"type": "call.accept", "call_id": call_id, "sdp": ANSWER},
        {"type": "call.ice", "call_id": call_id, "candidate": candidate(1)},
        {"type": "call.reject", "call_id": call_id},
        {"type": "call.cancel", "call_id": call_id},
        {"type": "call.hangup", "call_id": call_id},
        {"type": "call.ice", "call_id": str(uuid.uuid4()), "candidate": candidate(1)},
    ]
    for frame in attempts:
        await c.send(frame)
        error = await c.expect("error")
        assert error["code"] == "not_found" and error["ref"] == frame["call_id"], error
    for ws in (a, b, c):
        await ws.silent()
    # The call is as it was, and the parties still reach each other.
    await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await a.expect("call.accepted"))["sdp"] == ANSWER
    await c.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(2)})
    assert (await c.expect("error"))["code"] == "not_found"
    await b.expect("call.accepted")
    await b.silent()
    await a.silent()


async def test_the_server_says_who_a_signal_is_from(connect, alice, bob, carol):
    a, b = await connect(alice), await connect(bob)
    call_id = await establish(a, b, bob)
    await a.send(
        {"type": "call.ice", "call_id": call_id, "candidate": candidate(1), "from": str(carol.uuid), "to": "x"}
    )
    assert await b.expect("call.ice") == {
        "type": "call.ice",
        "call_id": call_id,
        "from": str(alice.uuid),
        "candidate": candidate(1),
    }


async def test_signals_that_do_not_fit_the_state(connect, alice, bob):
    a, b = await connect(alice), await connect(bob)
    call_id = await invite(a, bob)
    await b.expect("call.incoming")

    async def refused(ws, frame: dict) -> None:
        await ws.send({"call_id": call_id, **frame})
        error = await ws.expect("error")
        assert error["code"] == "call_state" and error["ref"] == call_id, (frame, error)

    # Ringing.
    await refused(a, {"type": "call.accept", "sdp": ANSWER})
    await refused(b, {"type": "call.cancel"})
    await refused(a, {"type": "call.reject"})
    await refused(a, {"type": "call.hangup"})
    await refused(b, {"type": "call.hangup"})
    await refused(b, {"type": "call.ice", "candidate": candidate(1)})
    await a.silent()
    await b.silent()
    # Active.
    await b.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    await a.expect("call.accepted")
    await b.expect("call.accepted")
    await refused(b, {"type": "call.accept", "sdp": ANSWER})
    await refused(b, {"type": "call.reject"})
    await refused(a, {"type": "call.cancel"})
    assert (await acall_row(call_id)).state == "active"
    # Ended.
    await b.send({"type": "call.hangup", "call_id": call_id})
    await expect_end(a, call_id)
    await expect_end(b, call_id)
    await refused(a, {"type": "call.ice", "candidate": candidate(1)})
    await refused(b, {"type": "call.hangup"})
    await refused(a, {"type": "call.cancel"})
    await a.silent()
    await b.silent()
    assert len(await acall_messages(alice, bob)) == 1


async def test_non_contacts_and_blocked_pairs_cannot_call(connect, alice, bob, carol):
    from contacts.models import Block

    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    await c.send({"type": "call.invite", "to": str(alice.uuid), "media": "audio", "sdp": OFFER})
    assert (await c.expect("error"))["code"] == "not_contact"
    await a.send({"type": "call.invite", "to": str(carol.uuid), "media": "audio", "sdp": OFFER, "ref": "r"})
    assert await a.expect("error") == {
        "type": "error",
        "code": "not_contact",
        "message": "This user is not your contact.",
        "ref": "r",
    }
    await sync_to_async(Block.objects.create)(blocker=bob, blocked=alice)
    await a.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
    assert (await a.expect("error"))["code"] == "blocked"
    # The blocker cannot call the one they block either.
    await b.send({"type": "call.invite", "to": str(alice.uuid), "media": "video", "sdp": OFFER})
    assert (await b.expect("error"))["code"] == "blocked"
    for ws in (a, b, c):
        await ws.silent()
    assert not await sync_to_async(Call.objects.exists)()


BIG = "a" * 16400


def deep(levels: int) -> list:
    """A list nested `levels` deep (frames may nest up to 1024; the server's
    JSON encoder stops at 255)."""
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "frame, code",
    [
        ({"media": "audio", "sdp": "v=0"}, "invalid"),
        ({"media": "audio", "sdp": None}, "invalid"),
        ({"media": "audio"}, "invalid"),
        ({"media": "audio", "sdp": {"type": "answer", "sdp": "v=0"}}, "invalid"),
        ({"media": "audio", "sdp": {"type": "offer", "sdp": ""}}, "invalid"),
        ({"media": "audio", "sdp": {"type": "offer", "sdp": "v=0", "extra": 1}}, "invalid"),
        ({"media": "audio", "sdp": {"type": "offer", "sdp": ["v=0"]}}, "invalid"),
        ({"media": "audio", "sdp": {"type": "offer", "sdp": BIG}}, "too_large"),
        ({"media": "audio", "sdp": {"type": "offer", "sdp": deep(300)}}, "invalid"),
        ({"media": "audio", "sdp": {"type": deep(300), "sdp": "v=0"}}, "invalid"),
        ({"media": "audio", "sdp": {"type": "offer", "sdp": "v=0", "extra": deep(300)}}, "invalid"),
        ({"media": "screen", "sdp": OFFER}, "invalid"),
        ({"media": None, "sdp": OFFER}, "invalid"),
        ({"media": "audio", "sdp": OFFER, "to": "not-an-id"}, "invalid"),
        ({"media": "audio", "sdp": OFFER, "to": 42}, "invalid"),
        ({"media": "audio", "sdp": OFFER, "to": str(uuid.UUID(int=7))}, "not_found"),
        ({"media": "audio", "sdp": OFFER, "to": "self"}, "invalid"),
    ],
)
async def test_bad_invites_are_refused(connect, alice, bob, frame, code):
    a, b = await connect(alice), await connect(bob)
    to = frame.pop("to", str(bob.uuid))
    await a.send({"type": "call.invite", "to": str(alice.uuid) if to == "self" else to, **frame})
    assert (await a.expect("error"))["code"] == code
    await b.silent()
    assert not await sync_to_async(Call.objects.exists)()


@pytest.mark.parametrize(
    "candidate_value, code",
    [
        ("candidate:1 1 udp 1 192.0.2.1 1 typ host", "invalid"),
        ({"sdpMid": "0"}, "invalid"),
        ({"candidate": 5}, "invalid"),
        ({"candidate": "x", "sdpMLineIndex": -1}, "invalid"),
        ({"candidate": "x", "sdpMLineIndex": True}, "invalid"),
        ({"candidate": "x", "sdpMid": 3}, "invalid"),
        ({"candidate": "x", "relayTo": "carol"}, "invalid"),
        ({"candidate": "a" * 1100}, "too_large"),
        ({"candidate": "x", "sdpMid": deep(300)}, "invalid"),
        ({"candidate": "x", "relayTo": deep(300)}, "invalid"),
    ],
)
async def test_bad_candidates_are_refused(connect, alice, bob, candidate_value, code):
    a, b = await connect(alice), await connect(bob)
    call_id = await establish(a, b, bob)
    await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate_value})
    error = await a.expect("error")
    assert error["code"] == code and error["ref"] == call_id
    await b.silent()


async def test_bad_accepts_and_ids(connect, alice, bob):
    a, b = await connect(alice), await connect(bob)
    call_id = await invite(a, bob)
    await b.expect("call.incoming")
    for frame, code in [
        ({"type": "call.accept", "call_id": call_id, "sdp": OFFER}, "invalid"),
        ({"type": "call.accept", "call_id": call_id, "sdp": {"type": "answer", "sdp": BIG}}, "too_large"),
        ({"type": "call.accept", "call_id": "nope", "sdp": ANSWER}, "invalid"),
        ({"type": "call.accept", "sdp": ANSWER}, "invalid"),
        ({"type": "call.reject", "call_id": call_id, "reason": "x" * 65}, "invalid"),
        ({"type": "call.reject", "call_id": call_id, "reason": 3}, "invalid"),
    ]:
        await b.send(frame)
        assert (await b.expect("error"))["code"] == code, frame
    await a.silent()
    assert (await acall_row(call_id)).state == "ringing"


async def test_signals_have_their_own_rate_limit(connect, alice, bob, settings):
    settings.LIMIT_CALL_SIGNALS_PER_S = 1
    settings.LIMIT_CALL_SIGNALS_BURST = 5
    a, b = await connect(alice), await connect(bob)
    call_id = await establish(a, b, bob)  # Alice spent one signal on the invite
    for n in range(6):
        await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(n)})
    error = await a.expect("error")
    assert error["code"] == "rate_limited" and error["retry_after"] >= 1 and error["ref"] == call_id
    relayed = [(await b.expect("call.ice"))["candidate"] for _ in range(4)]
    assert relayed == [candidate(n) for n in range(4)]
    await b.silent()
    # Messages are not limited by calls' bucket (and the other way round).
    assert (await acall_row(call_id)).state == "active"


async def test_invites_per_minute_are_limited(connect, alice, bob, settings):
    settings.LIMIT_CALL_INVITES_PER_MIN = 2
    a, b = await connect(alice), await connect(bob)
    for _ in range(2):
        call_id = await invite(a, bob)
        await b.expect("call.incoming")
        await a.send({"type": "call.cancel", "call_id": call_id})
        await expect_end(a, call_id)
        await expect_end(b, call_id)
    await a.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
    assert (await a.expect("error"))["code"] == "rate_limited"
    await b.silent()


async def test_a_block_ends_a_live_call_at_once(connect, alice, bob):
    from contacts.services import do_block

    a, b = await connect(alice), await connect(bob)
    call_id = await establish(a, b, bob)
    await sync_to_async(do_block)(user=bob, target_id=str(alice.uuid))
    for ws in (a, b):
        _, ended = await expect_end(ws, call_id)
        assert ended["outcome"] == "completed" and ended["by"] == str(bob.uuid)
    row = await acall_row(call_id)
    assert row.state == "ended"
    assert not await sync_to_async(CallSlot.objects.exists)()


async def test_removing_a_contact_ends_a_live_call_at_once(connect, alice, bob):
    from contacts.services import do_delete_contact

    a, b = await connect(alice), await connect(bob)
    call_id = await establish(a, b, bob)
    await sync_to_async(do_delete_contact)(user=alice, other_id=str(bob.uuid))
    for ws in (a, b):
        _, ended = await expect_end(ws, call_id)
        assert ended["outcome"] == "completed" and ended["by"] == str(alice.uuid)
        await ws.expect("contact.removed")
    assert (await acall_row(call_id)).state == "ended"
    assert not await sync_to_async(CallSlot.objects.exists)()


async def test_bots_are_not_called(connect, alice, user_factory):
    from contacts.services import do_connect

    bot = await sync_to_async(user_factory)("helper_bot", nickname="Helper", is_bot=True, bot_owner=alice)
    await sync_to_async(do_connect)(user=alice, other=bot)
    a = await connect(alice)
    await drain(a)
    await a.send({"type": "call.invite", "to": str(bot.uuid), "media": "audio", "sdp": OFFER, "ref": "r1"})
    error = await a.expect("error")
    assert (error["code"], error["ref"]) == ("forbidden", "r1")
    assert not await sync_to_async(Call.objects.exists)()


async def test_the_device_in_the_call_gone_fails_it_though_the_party_has_another_socket(connect, alice, bob, settings):
    """Bob's phone (b1) holds the call and vanishes; his laptop (b2) stays
    online, which renews his lease, but nothing holds the call's media:
    after the grace the call ends `failed` on every socket."""
    settings.CALL_RECONNECT_GRACE_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    a, b1, b2 = await connect(alice), await connect(bob), await connect(bob)
    call_id = await invite(a, bob)
    await b1.expect("call.incoming")
    await b2.expect("call.incoming")
    await b1.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    await a.expect("call.accepted")
    await b2.expect("call.answered_elsewhere")
    await b1.close()
    await a.silent(0.9)
    for ws in (a, b2):
        _, ended = await expect_end(ws, call_id)
        assert (ended["outcome"], ended["by"]) == ("failed", None)
    assert (await acall_row(call_id)).outcome == "failed"


async def test_a_reconnecting_device_keeps_the_call_without_signalling(connect, ws_connect, alice, bob, settings):
    """The same login session reconnecting (a new socket, the same device)
    gets its endpoint back from the sweeper: the peer's candidates reach it
    and the call outlives the grace, though it sends nothing."""
    from conftest import login_tokens

    settings.CALL_RECONNECT_GRACE_S = 1
    settings.CALL_SWEEP_INTERVAL_S = 0.2
    token = (await sync_to_async(login_tokens)(bob))["access"]
    a = await connect(alice)
    b1 = await ws_connect(bob, token=token)
    await b1.send({"type": "ping"})
    await b1.expect("pong")  # its connect hooks ran
    call_id = await establish(a, b1, bob)
    await b1.close()
    await asyncio.sleep(0.3)
    b2 = await ws_connect(bob, token=token)
    await asyncio.sleep(0.5)  # a sweep or two
    await a.send({"type": "call.ice", "call_id": call_id, "candidate": candidate(1)})
    assert (await b2.expect("call.ice"))["candidate"] == candidate(1)
    await a.silent(1.5)
    assert (await acall_row(call_id)).state == "active"
    # It holds the media now: its close releases it, and with nobody back the call fails.
    await b2.close()
    _, ended = await expect_end(a, call_id, timeout=4)
    assert ended["outcome"] == "failed"
