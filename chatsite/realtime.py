"""How events reach sockets: per-user fan-out over the channel layer.

Every socket's consumer joins one group, its user's (`user_group`), and
events go to users' groups, never to per-conversation groups: removal,
blocking and disabling then take effect at once, on every node. The layer is
`CHANNEL_LAYERS["default"]` (chatsite.layers.UserLayer unless configured
otherwise); any Channels layer with groups works, ours adds a batched send.

The messages (their `type` names a handler of the gateway's consumer and
never comes from a client's frame):

    chat.frame   {"text"}                    the frame to every socket of the user
    chat.after   {"text"}                    the same, for an answer to what a socket
                                              ran (a bot's ephemeral reply): a socket
                                              still running a command sends its ack
                                              first (Connection.answers_after)
    chat.split   {"socket", "own", "others"}  one socket gets `own`, the user's
                                              others get `others` (None: nothing)
    chat.topic   {"topic", "text"}           only sockets subscribed to `topic` (presence)
    ws.close     {"code", "session", "socket"}  close the user's sockets (those of
                                              one login session, or one socket)
    chat.access  {}                          the user's access changed (a block, a
                                              contact removed, a group left or
                                              disabled): sockets drop what they
                                              cached of it (Connection.grants)

Real-time delivery is a fast path: the database is the truth, and a socket
that falls behind or loses the layer's subscription is closed with 1012 so
that its client reconnects and syncs.
"""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chatsite import lifespan, wire

CLOSE_RESUBSCRIBE = 1012

Message = dict
Delivery = tuple[Iterable[int], Message]


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


# ---------------------------------------------------------------- messages


def _text(frame: dict | str) -> str:
    return frame if isinstance(frame, str) else wire.dumps(frame)


def frame_envelope(frame: dict | str) -> Message:
    return {"type": "chat.frame", "text": _text(frame)}


def after_envelope(frame: dict | str) -> Message:
    return {"type": "chat.after", "text": _text(frame)}


def split_envelope(socket_id: str, own: dict | str, others: dict | str | None) -> Message:
    return {
        "type": "chat.split",
        "socket": socket_id,
        "own": _text(own),
        "others": None if others is None else _text(others),
    }


def topic_envelope(topic: str, frame: dict | str) -> Message:
    return {"type": "chat.topic", "topic": topic, "text": _text(frame)}


def access_envelope() -> Message:
    return {"type": "chat.access"}


def close_envelope(code: int, *, session_id: str | None = None, socket_id: str | None = None) -> Message:
    return {"type": "ws.close", "code": code, "session": session_id, "socket": socket_id}


# ---------------------------------------------------------------- delivery


def _groups(items: Iterable[Delivery]) -> list[tuple[list[str], Message]]:
    return [(groups, message) for user_ids, message in items if (groups := [user_group(u) for u in set(user_ids)])]


def deliver_many(items: Iterable[Delivery]) -> None:
    """Send each message to every socket of its users, from synchronous code
    (on-commit hooks, the worker), in one round trip where the layer can."""
    batch = _groups(items)
    if not batch:
        return
    layer = get_channel_layer()
    if has_extension(layer, "group_send_many_sync"):
        layer.group_send_many_sync(batch)
    else:
        async_to_sync(_send_each)(layer, batch)


def deliver(user_ids: Iterable[int], message: Message) -> None:
    deliver_many([(user_ids, message)])


async def adeliver_many(items: Iterable[Delivery]) -> None:
    batch = _groups(items)
    if not batch:
        return
    layer = get_channel_layer()
    if has_extension(layer, "group_send_many"):
        await layer.group_send_many(batch)
    else:
        await _send_each(layer, batch)


async def adeliver(user_ids: Iterable[int], message: Message) -> None:
    await adeliver_many([(user_ids, message)])


def has_extension(layer, method: str) -> bool:
    """Whether `layer` has a method beyond Channels' layer API (ours:
    group_send_many, group_send_many_sync, listen, close). Looked up on the
    class: RedisPubSubChannelLayer answers unknown attributes from a per-loop
    layer, which needs a running loop."""
    return callable(getattr(type(layer), method, None))


async def _send_each(layer, batch: list[tuple[list[str], Message]]) -> None:
    for groups, message in batch:
        for group in groups:
            await layer.group_send(group, message)


@lifespan.on_shutdown("channel layer")
async def _close_layer() -> None:
    """Stop this process's subscription (layers that keep one)."""
    layer = get_channel_layer()
    if has_extension(layer, "close"):
        await layer.close()
