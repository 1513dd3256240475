"""Sending messages: the checks before a message is accepted, and the hooks
other apps use to post system and call messages through the same store path."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from accounts.models import User
from chatsite import kv, wire
from chatsite.bus import get_bus
from chatsite.errors import (
    Blocked,
    GroupDisabled,
    Invalid,
    NotContact,
    NotFound,
    NotMember,
    RateLimited,
    TooLarge,
)
from contacts.models import Block, Contact
from files.models import File
from messaging.models import Conversation, ConversationKind, ConversationMember, Message, MessageKind
from messaging.store import Incoming, store_messages

logger = logging.getLogger(__name__)

TOPIC = "messages"
SENDABLE_KINDS = (MessageKind.TEXT, MessageKind.FILE)


@dataclass(frozen=True)
class SendDraft:
    """A message that passed every check and may be accepted."""

    conversation_id: int
    conversation_uuid: str
    sender_id: int
    kind: str
    text: str | None
    file_id: int | None
    client_msg_id: str
    # Set when this client_msg_id was stored before: answer with its ack.
    existing: Message | None = None

    def record(self, *, socket_id: str | None, ref: str | None) -> bytes:
        return wire.dumps_bytes(
            {
                "v": 1,
                "c": self.conversation_id,
                "s": self.sender_id,
                "k": self.kind,
                "t": self.text,
                "f": self.file_id,
                "m": self.client_msg_id,
                "sock": socket_id,
                "ref": ref,
                "id": uuid.uuid4().hex,
                # When it was accepted, for the store-latency metric.
                "ts": time.time(),
            }
        )


def decode_record(value: bytes) -> Incoming:
    """The inverse of SendDraft.record; raises ValueError/KeyError/TypeError on garbage."""
    data = wire.loads(value)
    if not isinstance(data, dict) or data.get("v") != 1:
        raise ValueError("unknown record version")
    kind = data["k"]
    if kind not in SENDABLE_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    conversation_id, sender_id = int(data["c"]), int(data["s"])
    text, file_id, cmid = data.get("t"), data.get("f"), data["m"]
    if text is not None and not isinstance(text, str):
        raise TypeError("text must be a string")
    if not isinstance(cmid, str) or not cmid:
        raise TypeError("client_msg_id must be a string")
    return Incoming(
        conversation_id=conversation_id,
        sender_id=sender_id,
        kind=kind,
        text=text,
        file_id=int(file_id) if file_id is not None else None,
        client_msg_id=cmid,
        socket_id=data.get("sock"),
        ref=data.get("ref"),
        send_id=data["id"] if isinstance(data.get("id"), str) and len(data["id"]) <= 32 else None,
        accepted_at=float(data["ts"]) if isinstance(data.get("ts"), (int, float)) else None,
    )


# --------------------------------------------------------------------------- rate


def check_send_rate(*, user_id: int) -> None:
    decision = kv.store().token_bucket(
        f"msg:{user_id}", rate=settings.LIMIT_MESSAGES_PER_S, burst=settings.LIMIT_MESSAGES_BURST
    )
    if not decision.allowed:
        raise RateLimited("You are sending messages too fast.", retry_after=decision.retry_after)


# --------------------------------------------------------------------------- checks


def _clean_client_msg_id(value: object) -> str:
    parsed = wire.parse_uuid(value.lower() if isinstance(value, str) else value)
    if parsed is None:
        raise Invalid.field("client_msg_id", "A UUID made by the client.")
    return str(parsed)


def _clean_text(value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise Invalid.field("content", "Must be a string.")
    if len(value) > settings.MAX_TEXT:
        raise TooLarge(f"A message may have at most {settings.MAX_TEXT} characters.")
    if "\x00" in value:
        raise Invalid.field("content", "Must not contain NUL characters.")
    if not value.strip():
        if required:
            raise Invalid.field("content", "Must not be empty.")
        return None
    return value


def _direct_peer_id(conversation: Conversation, user_id: int) -> int:
    low, high = (int(x) for x in conversation.direct_key.split(":"))  # type: ignore[union-attr]
    return high if low == user_id else low


def _check_direct(sender_id: int, peer_id: int) -> None:
    """A block either way → `blocked`; otherwise not contacts → `not_contact`. One query."""
    sql = (
        f"SELECT EXISTS(SELECT 1 FROM {_t(Contact)} WHERE owner_id = %s AND other_id = %s), "
        f"EXISTS(SELECT 1 FROM {_t(Block)} WHERE (blocker_id = %s AND blocked_id = %s) "
        f"OR (blocker_id = %s AND blocked_id = %s))"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [sender_id, peer_id, sender_id, peer_id, peer_id, sender_id])
        is_contact, is_blocked = cursor.fetchone()
    if is_blocked:
        raise Blocked()
    if not is_contact:
        raise NotContact()


def _check_group(conversation: Conversation, member: ConversationMember | None) -> None:
    from groups.models import GroupStatus

    if member is None:
        raise NotFound("No such conversation.")
    if member.left_seq is not None:
        raise NotMember()
    if conversation.group.status != GroupStatus.ACTIVE:  # type: ignore[union-attr]
        raise GroupDisabled()


def _membership(**conversation_filter) -> ConversationMember | None:
    # A slice, not .first(): a unique lookup needs no ORDER BY (hot path).
    rows = list(
        ConversationMember.objects.select_related("conversation", "conversation__group").filter(**conversation_filter)[
            :1
        ]
    )
    return rows[0] if rows else None


def resolve_target(
    *, sender: User, conversation: object = None, to: object = None
) -> tuple[Conversation, ConversationMember | None]:
    """The conversation a message goes to, and the sender's membership in it,
    from exactly one of `conversation` (an id) or `to` ({"user": id} or {"group": id}).
    `to` only finds an existing conversation; it never creates one. A
    conversation the sender never belonged to is `not_found`."""
    if (conversation is None) == (to is None):
        raise Invalid.field("conversation", "Give exactly one of `conversation` or `to`.")
    if conversation is not None:
        cid = wire.parse_uuid(conversation)
        if cid is None:
            raise Invalid.field("conversation", "Must be a conversation id.")
        member = _membership(conversation__uuid=cid, user=sender)
        if member is None:
            raise NotFound("No such conversation.")
        return member.conversation, member
    if not isinstance(to, dict) or len(to) != 1 or not ({"user", "group"} & set(to)):
        raise Invalid.field("to", 'Must be {"user": id} or {"group": id}.')
    if "user" in to:
        peer_uuid = wire.parse_uuid(to["user"])
        if peer_uuid is None:
            raise Invalid.field("to", "Must be a user id.")
        peer_id = User.objects.filter(uuid=peer_uuid).values_list("pk", flat=True).first()
        if peer_id is None:
            raise NotFound("No such user.")
        from messaging.conversations import direct_key

        member = _membership(conversation__direct_key=direct_key(sender.pk, peer_id), user=sender)
        if member is None:
            _check_direct(sender.pk, peer_id)  # blocked or not_contact, whichever applies
            raise NotContact()
        return member.conversation, member
    group_uuid = wire.parse_uuid(to["group"])
    if group_uuid is None:
        raise Invalid.field("to", "Must be a group id.")
    member = _membership(conversation__group__uuid=group_uuid, user=sender)
    if member is None:
        raise NotFound("No such group.")
    return member.conversation, member


def check_send_message(
    *,
    sender: User,
    client_msg_id: object,
    kind: object,
    content: object = None,
    file: object = None,
    conversation: object = None,
    to: object = None,
) -> SendDraft:
    """Validate and authorise a message; writes nothing.

    A client_msg_id the sender already used answers with the first copy
    (`existing`), whatever the rest of the frame says. Otherwise: the target
    conversation (contact and block rules for direct ones; membership and
    status for groups), the kind, the text (1..MAX_TEXT code points, no NUL)
    and the file (one the sender uploaded).

    The usual case (a conversation id) costs one query: see `_lookup`."""
    cmid = _clean_client_msg_id(client_msg_id)
    conv_uuid = wire.parse_uuid(conversation) if conversation is not None and to is None else None
    found = _lookup(sender_id=sender.pk, conversation_uuid=conv_uuid, client_msg_id=cmid) if conv_uuid else None
    existing_id = found.existing_id if found is not None else _existing_id(sender_id=sender.pk, client_msg_id=cmid)
    if existing_id is not None:
        existing = Message.objects.select_related("conversation", "sender__avatar", "file").get(pk=existing_id)
        return SendDraft(
            conversation_id=existing.conversation_id,
            conversation_uuid=str(existing.conversation.uuid),
            sender_id=sender.pk,
            kind=existing.kind,
            text=existing.text,
            file_id=existing.file_id,
            client_msg_id=cmid,
            existing=existing,
        )
    if kind not in SENDABLE_KINDS:
        raise Invalid.field("kind", 'Must be "text" or "file".')
    file_id = None
    if kind == MessageKind.TEXT:
        if file is not None:
            raise Invalid.field("file", "Only for kind file.")
        text = _clean_text(content, required=True)
    else:
        text = _clean_text(content, required=False)
        file_uuid = wire.parse_uuid(file)
        if file_uuid is None:
            raise Invalid.field("file", "A file id is required for kind file.")
        file_obj = File.objects.filter(uuid=file_uuid).only("id", "owner_id").first()
        if file_obj is None or not _may_send_file(sender, file_obj):
            raise NotFound("No such file.")
        file_id = file_obj.pk
    if found is not None:
        if found.member_id is None:
            raise NotFound("No such conversation.")
        if found.kind == ConversationKind.DIRECT:
            if found.is_blocked:
                raise Blocked()
            if not found.is_contact:
                raise NotContact()
        else:
            from groups.models import GroupStatus

            if found.left_seq is not None:
                raise NotMember()
            if found.group_status != GroupStatus.ACTIVE:
                raise GroupDisabled()
        target_id, target_uuid = found.conversation_id, str(conv_uuid)
    else:
        target, member = resolve_target(sender=sender, conversation=conversation, to=to)
        if target.kind == ConversationKind.DIRECT:
            if member is None:
                raise NotFound("No such conversation.")
            _check_direct(sender.pk, _direct_peer_id(target, sender.pk))
        else:
            _check_group(target, member)
        target_id, target_uuid = target.pk, str(target.uuid)
    return SendDraft(
        conversation_id=target_id,
        conversation_uuid=target_uuid,
        sender_id=sender.pk,
        kind=kind,  # type: ignore[arg-type]
        text=text,
        file_id=file_id,
        client_msg_id=cmid,
    )


# --------------------------------------------------------------------------- the hot path in SQL
#
# Every message passes these checks, so they are written as plain SQL: the
# ORM spent about 0.8 ms of CPU compiling each query on this hardware, more
# than the database took to answer. Table and column names come from the
# models, so a rename cannot silently break them.


@dataclass(frozen=True)
class _Found:
    conversation_id: int
    kind: str
    direct_key: str | None
    group_status: str | None
    member_id: int | None
    left_seq: int | None
    existing_id: int | None
    # For direct conversations: the peer, and whether the sender has them as a
    # contact and whether either blocks the other.
    peer_id: int | None = None
    is_contact: bool = False
    is_blocked: bool = False


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _lookup(*, sender_id: int, conversation_uuid, client_msg_id: str) -> _Found | None:
    """One query: the conversation, the sender's membership, the group's status,
    whether this client_msg_id is already stored and, for a direct
    conversation, the contact and block state of the pair. None: no such
    conversation."""
    from groups.models import Group

    inner = (
        f"SELECT c.id AS cid, c.kind, c.direct_key, g.status, cm.id AS mid, cm.left_seq, "
        f"(SELECT m.id FROM {_t(Message)} m WHERE m.sender_id = %s AND m.client_msg_id = %s) AS existing, "
        f"(SELECT o.user_id FROM {_t(ConversationMember)} o WHERE o.conversation_id = c.id AND o.user_id <> %s "
        f"AND c.kind = 'direct' LIMIT 1) AS peer "
        f"FROM {_t(Conversation)} c "
        f"LEFT JOIN {_t(ConversationMember)} cm ON cm.conversation_id = c.id AND cm.user_id = %s "
        f"LEFT JOIN {_t(Group)} g ON g.id = c.group_id "
        f"WHERE c.uuid = %s"
    )
    sql = (
        f"SELECT x.cid, x.kind, x.direct_key, x.status, x.mid, x.left_seq, x.existing, x.peer, "
        f"EXISTS(SELECT 1 FROM {_t(Contact)} WHERE owner_id = %s AND other_id = x.peer), "
        f"EXISTS(SELECT 1 FROM {_t(Block)} WHERE (blocker_id = %s AND blocked_id = x.peer) "
        f"OR (blocker_id = x.peer AND blocked_id = %s)) "
        f"FROM ({inner}) x"
    )
    # In the order the placeholders appear: the outer EXISTS first, then the inner query's.
    params = [sender_id, sender_id, sender_id, sender_id, client_msg_id, sender_id, sender_id, conversation_uuid.hex]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    *head, is_contact, is_blocked = row
    return _Found(*head, is_contact=bool(is_contact), is_blocked=bool(is_blocked))


def _existing_id(*, sender_id: int, client_msg_id: str) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {_t(Message)} WHERE sender_id = %s AND client_msg_id = %s", [sender_id, client_msg_id]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _may_send_file(sender: User, file: File) -> bool:
    if file.owner_id == sender.pk:
        return True
    from files.selectors import may_read_file

    return may_read_file(user=sender, file=file)


def do_send_message(*, draft: SendDraft) -> None:
    """The REST path: hand the message to the bus and wait until it is durable
    (broker ack, or stored by the in-process bus). Every socket of the sender
    gets `message.new` once it is stored."""
    if draft.existing is not None:
        return
    get_bus().publish_sync(
        topic=TOPIC, key=draft.conversation_uuid, value=draft.record(socket_id=None, ref=draft.client_msg_id)
    )


# --------------------------------------------------------------------------- system and call messages


def post_system_message(
    *,
    conversation: Conversation,
    event: str,
    actor: User | None,
    targets: list[User] | tuple[User, ...] = (),
    changes: dict | None = None,
) -> Message:
    """Record a group event (`group_created`, `member_added`, `member_removed`,
    `member_left`, `group_updated`, `owner_transferred`, `recall`) as a
    `kind: "system"` message, through the same store path as chat messages.
    Call it inside the transaction that makes the change: the message is
    stored with it and fanned out when it commits."""
    content = {
        "event": event,
        "actor": str(actor.uuid) if actor is not None else None,
        "targets": [str(u.uuid) for u in targets],
        "changes": changes or {},
    }
    [stored] = store_messages(
        [
            Incoming(
                conversation_id=conversation.pk,
                sender_id=actor.pk if actor is not None else None,
                kind=MessageKind.SYSTEM,
                data=content,
            )
        ]
    )
    return stored.message


def post_call_message(
    *, conversation: Conversation, caller: User, call_id: str, media: str, outcome: str, duration_s: int
) -> Message:
    """Record an ended call as a `kind: "call"` message in the direct conversation."""
    [stored] = store_messages(
        [
            Incoming(
                conversation_id=conversation.pk,
                sender_id=caller.pk,
                kind=MessageKind.CALL,
                data={"call_id": call_id, "media": media, "outcome": outcome, "duration_s": duration_s},
            )
        ]
    )
    return stored.message


# --------------------------------------------------------------------------- read cursors


@dataclass(frozen=True)
class ReadMoved:
    conversation: Conversation
    seq: int
    # The frame others get; None when coalesced away (groups: one per reader per second).
    announce_after_s: float | None


def _clean_seq(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Invalid.field("seq", "A whole number.")
    return value


def do_mark_read(*, user: User, conversation_id: object, seq: object) -> ReadMoved | None:
    """Move the user's read cursor forward (never back), up to what exists.

    The other members get `read` (in groups at most one per reader per second:
    a read inside the second is announced when it ends), the user's own
    sockets get `conversation.updated`. None when nothing moved."""
    from messaging.selectors import access_conversation

    target = _clean_seq(seq)
    access = access_conversation(user=user, conversation_id=conversation_id)
    target = min(target, access.last_seq)
    moved = ConversationMember.objects.filter(pk=access.member.pk, read_seq__lt=target).update(read_seq=target)
    if not moved:
        return None
    access.member.read_seq = target
    _announce_own_state(user=user, member=access.member)
    delay = announce_read(conversation=access.conversation, user=user)
    return ReadMoved(conversation=access.conversation, seq=target, announce_after_s=delay)


def announce_read(*, conversation: Conversation, user: User) -> float | None:
    """Send `read` with the user's current cursor to the other members now, or
    return how long to wait (groups: at most one per reader per second)."""
    from chatsite.events import send_event_on_commit
    from messaging.selectors import current_member_ids

    if conversation.kind == ConversationKind.GROUP:
        wait = kv.store().cooldown(f"readev:{conversation.pk}:{user.pk}", seconds=1.0)
        if wait:
            return wait
    member = ConversationMember.objects.filter(conversation=conversation, user=user).only("read_seq").first()
    if member is None:
        return None
    others = [uid for uid in current_member_ids(conversation=conversation) if uid != user.pk]
    send_event_on_commit(
        user_ids=others,
        frame={"type": "read", "conversation": str(conversation.uuid), "user": str(user.uuid), "seq": member.read_seq},
    )
    return None


def _announce_own_state(*, user: User, member: ConversationMember) -> None:
    """`conversation.updated` to the user's sockets after their own state changed."""
    from chatsite.events import send_event_on_commit
    from messaging.conversation_wire import conversation_for

    send_event_on_commit(
        user_ids=[user.pk],
        frame={"type": "conversation.updated", "conversation": conversation_for(user=user, member_id=member.pk)},
    )


# --------------------------------------------------------------------------- per-user conversation state


def do_open_conversation(*, user: User, peer: object = None, group: object = None) -> ConversationMember:
    """Find (and un-hide) the user's conversation with a contact or a group.
    Never creates one with a non-contact."""
    if (peer is None) == (group is None):
        raise Invalid.field("peer", "Give exactly one of `peer` or `group`.")
    to = {"user": peer} if peer is not None else {"group": group}
    conversation, member = resolve_target(sender=user, to=to)
    if member is None:
        raise NotFound("No such conversation.")
    if conversation.kind == ConversationKind.DIRECT:
        if not Contact.objects.filter(owner=user, other_id=_direct_peer_id(conversation, user.pk)).exists():
            raise NotContact()
    elif member.left_seq is not None:
        raise NotMember()
    if member.hidden:
        member.hidden = False
        member.save(update_fields=["hidden", "updated_at"])
        _announce_own_state(user=user, member=member)
    return member


def do_update_conversation_state(
    *, user: User, conversation_id: object, pinned: object = None, muted: object = None
) -> ConversationMember:
    """Pin or mute; the user's other sockets get `conversation.updated`."""
    from messaging.selectors import access_conversation

    member = access_conversation(user=user, conversation_id=conversation_id).member
    fields = []
    for name, value in (("pinned", pinned), ("muted", muted)):
        if value is None:
            continue
        if not isinstance(value, bool):
            raise Invalid.field(name, "true or false.")
        if getattr(member, name) != value:
            setattr(member, name, value)
            fields.append(name)
    if fields:
        member.save(update_fields=[*fields, "updated_at"])
        _announce_own_state(user=user, member=member)
    return member


def do_hide_conversation(*, user: User, conversation_id: object) -> None:
    """Hide from the user's list until a new message arrives; messages are kept."""
    from messaging.selectors import access_conversation

    member = access_conversation(user=user, conversation_id=conversation_id).member
    if not member.hidden:
        member.hidden = True
        member.save(update_fields=["hidden", "updated_at"])
        _announce_own_state(user=user, member=member)


# --------------------------------------------------------------------------- typing


def check_typing(*, user: User, conversation_id: object) -> list[int]:
    """Who should see that `user` is typing: the other current members (a
    direct peer only while the two are contacts without a block). Writes nothing."""
    from messaging.selectors import access_conversation, current_member_ids

    access = access_conversation(user=user, conversation_id=conversation_id)
    if access.conversation.kind == ConversationKind.DIRECT:
        _check_direct(user.pk, _direct_peer_id(access.conversation, user.pk))
    else:
        _check_group(access.conversation, access.member)
    return [uid for uid in current_member_ids(conversation=access.conversation) if uid != user.pk]


# --------------------------------------------------------------------------- recall


def do_recall_message(*, user: User, message_id: object, now=None) -> Message:
    """Recall a message: the sender within RECALL_WINDOW_S, a group's owner and
    admins any message of their group. The content and the file are removed;
    the message stays as a placeholder with its seq. Members get
    `message.recalled`, and a `system` message (event `recall`) records it so
    `sync` carries the change to devices that were offline."""
    from django.db import transaction
    from django.utils import timezone

    from chatsite.errors import Conflict, Forbidden
    from chatsite.events import send_event_on_commit
    from messaging.selectors import access_conversation, current_member_ids

    mid = wire.parse_uuid(message_id)
    if mid is None:
        raise Invalid.field("message", "Must be a message id.")
    now = now or timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().select_related("conversation").filter(uuid=mid).first()
        if message is None:
            raise NotFound("No such message.")
        access = access_conversation(user=user, conversation_id=str(message.conversation.uuid))
        if not (access.first_seq <= message.seq <= access.last_seq):
            raise NotFound("No such message.")
        if message.kind not in SENDABLE_KINDS:
            raise Forbidden("Only text and file messages can be recalled.")
        if message.recalled:
            raise Conflict("This message was already recalled.")
        conversation = access.conversation
        moderator = False
        if conversation.kind == ConversationKind.GROUP:
            if access.member.left_seq is not None:
                raise NotMember()
            _check_group(conversation, access.member)
            from groups.models import Membership, Role

            moderator = Membership.objects.filter(
                group_id=conversation.group_id, user=user, role__in=[Role.OWNER, Role.ADMIN]
            ).exists()
        own_in_time = (
            message.sender_id == user.pk and (now - message.created_at).total_seconds() <= settings.RECALL_WINDOW_S
        )
        if not (own_in_time or moderator):
            raise Forbidden("You can only recall your own messages within 2 minutes.")
        file = message.file
        message.recalled = True
        message.recalled_at = now
        message.text = None
        message.data = None
        message.file = None
        message.save(update_fields=["recalled", "recalled_at", "text", "data", "file"])
        if file is not None:
            _discard_file_if_unused(file)
        send_event_on_commit(
            user_ids=current_member_ids(conversation=conversation),
            frame={
                "type": "message.recalled",
                "conversation": str(conversation.uuid),
                "message": str(message.uuid),
                "seq": message.seq,
            },
        )
        post_system_message(
            conversation=conversation,
            event="recall",
            actor=user,
            targets=[message.sender] if message.sender_id else [],
            changes={"message": str(message.uuid), "seq": message.seq},
        )
    return message


def _discard_file_if_unused(file: File) -> None:
    """Remove a recalled message's file from storage unless something else uses it."""
    from groups.models import Group

    if (
        Message.objects.filter(file=file).exists()
        or User.objects.filter(avatar=file).exists()
        or Group.objects.filter(avatar=file).exists()
    ):
        return
    from files import services as file_services

    file_services.delete_file(file=file)
