"""Writes of the conversation core: system and call messages through the
store step, read cursors, and each member's own state (pinned, muted,
hidden). Every action says who is told; events leave on commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from chatsite import kv, wire
from chatsite.errors import Invalid, NotFound, NotMember
from chatsite.events import reindex_on_commit, send_event_on_commit
from chatsite.text import check_message_text
from chatsite.wire import whole_number
from conversations.models import (
    SILENT_EVENTS,
    TARGETED_EVENTS,
    TOLD_BY_FRAME,
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageKind,
)
from conversations.selectors import Access, access_conversation, current_member_ids, who_hears
from conversations.store import Incoming, store_messages
from conversations.wire import conversation_for

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- system and call messages


# Events that change what a message says, so what search finds of it.
REINDEXED_EVENTS = frozenset({"edit", "recall"})


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
    stored with it and fanned out when it commits. A `recall`, an `edit` and a
    `reaction` are silent events (Message.silent); an `edit` and a `reaction`
    reach the members as message.edited / message.reactions (the caller
    sends them), not as `message.new`."""
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
                silent=event in SILENT_EVENTS,
                quiet=event in TOLD_BY_FRAME,
                target_seq=(changes or {}).get("seq") if event in TARGETED_EVENTS else None,
            )
        ]
    )
    if event in REINDEXED_EVENTS:
        reindex_on_commit(conversation_id=conversation.pk, key=str(conversation.uuid))
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
    if whole_number(value) is None:
        raise Invalid.field("seq", gettext("A whole number."))
    return value


def do_mark_read(*, user: User, conversation_id: object, seq: object) -> ReadMoved | None:
    """Move the user's read cursor forward (never back), up to what exists.

    The other members get `read` (in groups at most one per reader per second:
    a read inside the second is announced when it ends), the user's own
    sockets get `conversation.updated`. None when nothing moved."""

    target = _clean_seq(seq)
    access = access_conversation(user=user, conversation_id=conversation_id)
    target = min(target, access.last_seq)
    moved = Member.objects.filter(pk=access.member.pk, read_seq__lt=target).update(read_seq=target)
    if not moved:
        return None
    access.member.read_seq = target
    announce_own_state(user=user, member=access.member)
    delay = announce_read(conversation=access.conversation, user=user, member=access.member)
    return ReadMoved(conversation=access.conversation, seq=target, announce_after_s=delay)


def announce_read(*, conversation: Conversation, user: User, member: Member | None = None) -> float | None:
    """Send `read` with the user's current cursor to the other members now, or
    return how long to wait (groups: at most one per reader per second).
    `member`: the user's row as just moved (read again when not given: a
    delayed announcement tells the cursor as it is then)."""

    if conversation.kind == ConversationKind.GROUP:
        wait = kv.store().cooldown(f"readev:{conversation.pk}:{user.pk}", seconds=1.0)
        if wait:
            return wait
    if member is None:
        member = Member.objects.filter(conversation=conversation, user=user).only("read_seq", "left_seq").first()
    # A former member may still move their own cursor; the group no longer hears of it.
    if member is None or member.left_seq is not None:
        return None
    readers = who_hears(
        kind=conversation.kind, user_ids=current_member_ids(conversation=conversation), actor_id=user.pk
    )
    others = [uid for uid in readers if uid != user.pk]
    if not others:
        return None
    send_event_on_commit(
        user_ids=others,
        frame={"type": "read", "conversation": str(conversation.uuid), "user": str(user.uuid), "seq": member.read_seq},
    )
    return None


def announce_own_state(*, user: User, member: Member) -> None:
    """`conversation.updated` to the user's sockets after their own state changed."""

    send_event_on_commit(
        user_ids=[user.pk],
        frame={"type": "conversation.updated", "conversation": conversation_for(user=user, member_id=member.pk)},
    )


# --------------------------------------------------------------------------- each member's own state


def do_update_conversation_state(
    *, user: User, conversation_id: object, pinned: object = None, muted: object = None
) -> Member:
    """Pin or mute; the user's other sockets get `conversation.updated`."""

    member = access_conversation(user=user, conversation_id=conversation_id).member
    fields = []
    for name, value in (("pinned", pinned), ("muted", muted)):
        if value is None:
            continue
        if not isinstance(value, bool):
            raise Invalid.field(name, gettext("true or false."))
        if getattr(member, name) != value:
            setattr(member, name, value)
            fields.append(name)
    if fields:
        member.save(update_fields=[*fields, "updated_at"])
        announce_own_state(user=user, member=member)
    return member


def do_save_draft(*, user: User, conversation_id: object, text: object, reply_to: object = None) -> Member:
    """Save the user's draft in a conversation (`text` "" clears it, reply
    included). Private to the user and never a message: it does not move the
    conversation or un-hide it. The user's sockets get `conversation.updated`
    when it changed. A send in the conversation clears it (the store step)."""

    access = access_conversation(user=user, conversation_id=conversation_id)
    if not access.is_current:
        raise NotMember()
    check_message_text(text, field="text", what=gettext("A draft"))
    member = access.member
    if reply_to is not None and wire.parse_uuid(reply_to) is None:
        raise Invalid.field("reply_to", gettext("Must be a message id."))
    if text == "":
        wanted = ("", None)
    else:
        wanted = (text, None if reply_to is None else reply_target(user=user, access=access, value=reply_to).uuid)
    if (member.draft_text, member.draft_reply_to) == wanted:
        return member
    member.draft_text, member.draft_reply_to = wanted
    member.draft_updated_at = timezone.now() if text else None
    member.save(update_fields=["draft_text", "draft_reply_to", "draft_updated_at"])
    announce_own_state(user=user, member=member)
    return member


def reply_target(*, user: User, access: Access, value: object) -> Message:
    """The message a reply (or a draft's reply) quotes: one of this
    conversation that the user may read, not a `system` message, not recalled.
    Unknown or unreadable: `not_found`; another conversation's, a system or a
    recalled message: `invalid`."""
    mid = wire.parse_uuid(value)
    if mid is None:
        raise Invalid.field("reply_to", gettext("Must be a message id."))
    message = Message.objects.filter(uuid=mid).only("uuid", "conversation_id", "seq", "kind", "recalled").first()
    if message is None:
        raise NotFound(gettext("No such message."))
    if message.conversation_id != access.conversation.pk:
        other = Conversation.objects.filter(pk=message.conversation_id).values_list("uuid", flat=True).first()
        theirs = access_conversation(user=user, conversation_id=str(other))  # not_found unless readable
        if not theirs.first_seq <= message.seq <= theirs.last_seq:
            raise NotFound(gettext("No such message."))
        raise Invalid.field("reply_to", gettext("A message of this conversation."))
    if not access.first_seq <= message.seq <= access.last_seq:
        raise NotFound(gettext("No such message."))
    if message.kind == MessageKind.SYSTEM or message.recalled:
        raise Invalid.field("reply_to", gettext("Not a system or recalled message."))
    return message


def do_hide_conversation(*, user: User, conversation_id: object) -> None:
    """Hide from the user's list until a new message arrives; messages are kept."""

    member = access_conversation(user=user, conversation_id=conversation_id).member
    if not member.hidden:
        member.hidden = True
        member.save(update_fields=["hidden", "updated_at"])
        announce_own_state(user=user, member=member)
