"""Frames and steps the call tests share."""

from __future__ import annotations

from asgiref.sync import sync_to_async

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\no=- 1257335486146524233 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


def candidate(n: int) -> dict:
    return {
        "candidate": f"candidate:{n} 1 udp 2122260223 192.0.2.{n} 5440{n % 10} typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }


async def frames(ws, n: int, timeout: float = 3.0) -> list[dict]:
    """The next `n` frames (presence frames passed over), in order."""
    out = []
    while len(out) < n:
        frame = await ws.recv(timeout)
        if frame.get("type") != "presence":
            out.append(frame)
    return out


async def invite(caller_ws, callee, *, media: str = "audio", ref: str | None = None) -> str:
    """Call `callee` from `caller_ws`; returns the call id from `call.ringing`."""
    frame = {"type": "call.invite", "to": str(callee.uuid), "media": media, "sdp": OFFER}
    if ref is not None:
        frame["ref"] = ref
    await caller_ws.send(frame)
    ringing = await caller_ws.expect("call.ringing")
    return ringing["call_id"]


async def establish(caller_ws, callee_ws, callee, *, media: str = "audio") -> str:
    """An active call between the two sockets; every frame of the set-up consumed."""
    call_id = await invite(caller_ws, callee, media=media)
    await callee_ws.expect("call.incoming")
    await callee_ws.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER})
    assert (await caller_ws.expect("call.accepted"))["sdp"] == ANSWER
    assert (await callee_ws.expect("call.accepted"))["call_id"] == call_id
    return call_id


async def expect_end(ws, call_id: str, timeout: float = 3.0) -> tuple[dict, dict]:
    """The call message (`message.new`), then `call.ended`, as every party's socket gets them."""
    message = await ws.expect("message.new", timeout)
    ended = await ws.expect("call.ended", timeout)
    assert ended["call_id"] == call_id
    assert message["message"]["kind"] == "call"
    assert message["message"]["content"]["call_id"] == call_id
    return message["message"], ended


def call_row(call_id: str):
    from calls.models import Call

    return Call.objects.get(uuid=call_id)


acall_row = sync_to_async(call_row)


def call_messages(a, b) -> list[dict]:
    """The content of every `kind: "call"` message in the pair's direct conversation, in seq order."""
    from conversations.members import direct_key
    from conversations.models import Message

    return [
        {"content": m.data, "sender": m.sender_id}
        for m in Message.objects.filter(conversation__direct_key=direct_key(a.pk, b.pk), kind="call").order_by("seq")
    ]


acall_messages = sync_to_async(call_messages)
