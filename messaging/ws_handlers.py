"""WebSocket frames of the message pipeline (docs/protocol/websocket.md)."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from chatsite import kv, metrics, realtime, wire
from chatsite.bus import get_bus
from chatsite.errors import ChatError, Invalid, Unavailable
from chatsite.gateway.registry import frame_handler
from conversations.render import render_messages, render_one
from conversations.selectors import clean_cursors, sync_for
from conversations.services import announce_read, do_mark_read
from messaging.actions.edit import do_edit_message
from messaging.actions.react import do_react
from messaging.actions.recall import do_recall_message
from messaging.actions.send import (
    GRANTABLE_FIELDS,
    SEND_REFUSALS,
    TOPIC,
    SendDraft,
    check_send_granted,
    check_send_message,
    grant_for,
    message_budget,
)
from messaging.actions.typing import check_typing

logger = logging.getLogger(__name__)


class _Submission:
    """One message.send this socket submitted, until its `stored` ack: its
    state is "pending" until the `accepted` ack went out. The bus's answer
    acts only on its own submission (a client_msg_id sent again after it was
    stored is a submission of its own, and the first one's late confirmation
    must not answer for it)."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = PENDING


PENDING, ACCEPTED = "pending", "accepted"


def _acks(conn) -> dict[str, _Submission]:
    """conn.state["acks"]: client_msg_id → the submission in flight."""
    acks = conn.state.get("acks")
    if acks is None:
        acks = conn.state["acks"] = {}
        conn.state["own_frame_hook"] = _own_frame
    return acks


def _accepted_frame(client_msg_id: str, ref: str | None) -> dict:
    return {"type": "message.ack", "client_msg_id": client_msg_id, "ref": ref, "status": "accepted"}


def _own_frame(conn, text: str) -> None:
    """The `stored` ack for this socket. If the broker's confirmation has not
    come back yet (the worker can be faster than the delivery report), the
    `accepted` ack goes out first: acks always arrive accepted → stored."""
    frame = wire.loads(text)
    if frame.get("type") == "message.ack" and frame.get("status") == "stored":
        cmid = frame.get("client_msg_id")
        submission = _acks(conn).pop(cmid, None)
        if submission is not None and submission.state == PENDING:
            conn.push_text(wire.dumps(_accepted_frame(cmid, frame.get("ref"))))
    conn.push_text(text)


def _on_durable(
    conn, future: asyncio.Future, client_msg_id: str, ref: str | None, submission: _Submission, recheck: dict | None
) -> None:
    """The broker's answer for a submitted message (a done callback, on the
    loop): `accepted`, unless the `stored` ack already brought it, or the error
    (for a message sent on a grant, after looking for an earlier copy: `recheck`
    is its frame)."""
    acks = _acks(conn)
    mine = acks.get(client_msg_id) is submission
    if future.cancelled():
        if mine:
            del acks[client_msg_id]
        return
    err = future.exception()
    if err is None:
        metrics.messages_accepted.inc()
        if mine and submission.state == PENDING:
            submission.state = ACCEPTED
            conn.push_text(wire.dumps(_accepted_frame(client_msg_id, ref)))
        return
    metrics.bus_errors.inc()
    if not isinstance(err, ChatError):
        logger.error("bus submit failed", exc_info=err)
        err = Unavailable(gettext_lazy("The message could not be queued; retry later."))
    if not mine:  # stored meanwhile (its acks went out), or another submission's now
        return
    del acks[client_msg_id]
    if recheck is not None:
        asyncio.ensure_future(_answer_refused_grant(conn, recheck, err, ref))
    else:
        conn.push_error(err, ref)


def _message_budget(user) -> tuple[str, float, int]:
    # The same bucket as check_send_rate (REST), so both count together.
    return message_budget(user)


# How long a socket trusts a send grant without hearing otherwise: access
# changes are announced (chat.access); this bounds what one lost announcement
# can let through.
GRANT_TTL_S = 60.0
# Grants a socket keeps at most (one per conversation it sends to).
MAX_GRANTS = 1000


def _grant_key(frame: dict) -> tuple[str, str] | None:
    key = frame.get("conversation")
    # Ids in any case name one conversation: one grant, keyed as the server writes ids.
    return ("send", key.lower()) if isinstance(key, str) else None


def _granted(conn, frame: dict) -> SendDraft | None:
    """The draft of a plain text message to a conversation this socket was
    allowed to send to (conn.grants), made without the database; None when the
    full check must run (no grant, an expired one, a frame with more in it, or
    a frame the quick checks refuse: the full check gives the answer, which
    for a repeat is its first copy)."""
    key = _grant_key(frame)
    held = conn.grants.get(key) if key is not None else None
    if held is None or frame.get("kind") != "text" or not GRANTABLE_FIELDS.issuperset(frame):
        return None
    grant, until = held
    if until < asyncio.get_running_loop().time():
        del conn.grants[key]
        return None
    try:
        return check_send_granted(
            grant=grant, sender_id=conn.user_id, client_msg_id=frame.get("client_msg_id"), content=frame.get("content")
        )
    except ChatError:
        return None


async def _checked(conn, frame: dict) -> SendDraft:
    """check_send_message in the database thread; a frame that names its
    conversation by id leaves a grant for the next ones, unless the user's
    access changed while it was checked. A refusal ends the conversation's
    grant: the database has the last word, even if a `chat.access` was lost."""
    epoch, key = conn.grants_epoch, _grant_key(frame)
    try:
        draft = await conn.run_sync(
            check_send_message,
            sender=conn.user,
            client_msg_id=frame.get("client_msg_id"),
            kind=frame.get("kind"),
            content=frame.get("content"),
            file=frame.get("file"),
            conversation=frame.get("conversation"),
            to=frame.get("to"),
            reply_to=frame.get("reply_to"),
            mentions=frame.get("mentions"),
            mention_all=frame.get("mention_all"),
            forward_of=frame.get("forward_of"),
            bundle=frame.get("bundle"),
        )
    except SEND_REFUSALS:
        if key is not None:
            conn.grants.pop(key, None)
        raise
    grant = grant_for(draft) if key is not None and frame.get("to") is None else None
    if grant is not None and conn.grants_epoch == epoch and key[1] == grant.conversation_uuid:
        if len(conn.grants) >= MAX_GRANTS:
            conn.grants.clear()
        conn.grants[key] = (grant, asyncio.get_running_loop().time() + GRANT_TTL_S)
    return draft


async def _answer_existing(conn, draft: SendDraft, ref: str | None) -> None:
    """A repeat of a stored message: both acks of its first copy."""
    message = await conn.run_sync(_existing_wire, message=draft.existing, reader_id=conn.user_id)
    conn.push_text(wire.dumps(_accepted_frame(draft.client_msg_id, ref)))
    conn.push_text(
        wire.dumps(
            {
                "type": "message.ack",
                "client_msg_id": draft.client_msg_id,
                "ref": ref,
                "status": "stored",
                "message": message,
            }
        )
    )


async def _answer_refused_grant(conn, frame: dict, err: ChatError, ref: str | None) -> None:
    """A message sent on a grant that the bus refused (the broker is down).
    The grant skipped the lookup of an earlier copy: if this repeats a stored
    message, its first copy's acks answer it, as they would have without the
    grant (they need no broker); otherwise the bus's error."""
    try:
        draft = await _checked(conn, frame)
    except ChatError as refusal:
        conn.push_error(refusal, ref)
        return
    if draft.existing is not None:
        await _answer_existing(conn, draft, ref)
    else:
        conn.push_error(err, ref)


@frame_handler("message.send", ref_field="client_msg_id", budget=_message_budget)
async def handle_message_send(conn, frame: dict) -> None:
    granted = _granted(conn, frame)
    draft = granted or await _checked(conn, frame)
    ref = frame["ref"]
    if draft.existing is not None:
        await _answer_existing(conn, draft, ref)
        return
    acks = _acks(conn)
    if draft.client_msg_id in acks:
        # The same message is already in flight from this socket: its acks will answer.
        return
    submission = acks[draft.client_msg_id] = _Submission()
    # Submitted now, in frame order (one partition per conversation keeps it);
    # its confirmation answers in a callback, so the next frame is not held up.
    try:
        future = get_bus().submit(
            topic=TOPIC,
            key=draft.conversation_uuid,
            value=draft.record(socket_id=conn.socket_id, ref=ref),
        )
    except BaseException as exc:
        acks.pop(draft.client_msg_id, None)
        if granted is not None and isinstance(exc, ChatError):
            await _answer_refused_grant(conn, frame, exc, ref)
            return
        raise
    recheck = frame if granted is not None else None
    future.add_done_callback(lambda done: _on_durable(conn, done, draft.client_msg_id, ref, submission, recheck))


def _existing_wire(*, message, reader_id: int) -> dict:
    return render_one(message, reader_id=reader_id)


# --------------------------------------------------------------------------- sync


def _sync_frames(*, user, cursors) -> tuple[list[str], bool, list[str]]:
    result = sync_for(user=user, cursors=clean_cursors(cursors))
    messages = [m for _, m in result.messages]
    rendered = render_messages(
        messages, reader_id=user.pk, visible_from=lambda m: result.visible_from[m.conversation_id]
    )
    frames = [wire.dumps({"type": "message.new", "message": message, "sync": True}) for message in rendered]
    return frames, result.more, result.gone


@frame_handler("sync")
async def handle_sync(conn, frame: dict) -> None:
    frames, more, gone = await conn.run_sync(_sync_frames, user=conn.user, cursors=frame.get("cursors"))
    for text in frames:
        conn.push_text(text)
    await conn.send_frame({"type": "sync.done", "more": more, "gone": gone, "ref": frame["ref"]})


# --------------------------------------------------------------------------- read


@frame_handler("read")
async def handle_read(conn, frame: dict) -> None:
    conversation = frame.get("conversation")
    if wire.parse_uuid(conversation) is None:
        # A frame's shape (not a conversation id at all) is `invalid`, as for
        # message.send; an id of no conversation the caller may read is `not_found`.
        raise Invalid.field("conversation", gettext("Must be a conversation id."))
    moved = await conn.run_sync(do_mark_read, user=conn.user, conversation_id=conversation, seq=frame.get("seq"))
    if moved is not None and moved.announce_after_s:
        loop = asyncio.get_running_loop()
        key = f"read:{moved.conversation.pk}"
        pending = conn.state.setdefault("read_pending", set())
        if key not in pending:
            pending.add(key)

            def later(conversation=moved.conversation) -> None:
                pending.discard(key)
                asyncio.ensure_future(conn.run_sync(announce_read, conversation=conversation, user=conn.user))

            loop.call_later(moved.announce_after_s + 0.01, later)


# --------------------------------------------------------------------------- typing


@frame_handler("typing")
async def handle_typing(conn, frame: dict) -> None:
    conversation = frame.get("conversation")
    if wire.parse_uuid(conversation) is None:
        raise Invalid.field("conversation", gettext("Must be a conversation id."))
    # Ids are accepted in any case; the relay (and the cooldown key) use the
    # id as the server writes it, so members can match it to their list.
    conversation = conversation.lower()
    # At most one relay per sender and conversation every LIMIT_TYPING_INTERVAL_S;
    # extra frames are dropped silently (they carry no information).
    if settings.LIMIT_TYPING_INTERVAL_S:
        wait = await kv.store().acooldown(
            f"typing:{conn.user_id}:{conversation[:64]}", seconds=settings.LIMIT_TYPING_INTERVAL_S
        )
        if wait:
            return
    recipients = await conn.run_sync(check_typing, user=conn.user, conversation_id=conversation)
    if recipients:
        await realtime.adeliver(
            recipients,
            realtime.frame_envelope({"type": "typing", "conversation": conversation, "user": str(conn.user.uuid)}),
        )


# --------------------------------------------------------------------------- recall


@frame_handler("message.recall")
async def handle_recall(conn, frame: dict) -> None:
    await conn.run_sync(do_recall_message, user=conn.user, message_id=frame.get("message"))


# --------------------------------------------------------------------------- edit and react


async def _change(conn, frame: dict, action, **fields) -> None:
    """An edit or a reaction: the members (this socket too, with the frame's
    `ref`) are told by the action; a change that changed nothing is answered
    here, to this socket alone."""
    result = await conn.run_sync(
        action, user=conn.user, message_id=frame.get("message"), socket_id=conn.socket_id, ref=frame["ref"], **fields
    )
    if result.unchanged_frame is not None:
        await conn.send_frame({**result.unchanged_frame, "ref": frame["ref"]})


@frame_handler("message.edit", budget=_message_budget)
async def handle_edit(conn, frame: dict) -> None:
    await _change(conn, frame, do_edit_message, content=frame.get("content"))


@frame_handler("message.react", budget=_message_budget)
async def handle_react(conn, frame: dict) -> None:
    await _change(conn, frame, do_react, emoji=frame.get("emoji"), op=frame.get("op"))
