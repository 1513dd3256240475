"""Sending a message: the checks before it is accepted (`check_send_message`),
the bus record it travels as, and the REST path's wait for durability. The
store step (conversations.store) takes it from the bus."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Case, When
from django.utils.translation import gettext

from accounts.models import User
from accounts.serializers import user_to_wire
from chatsite import kv, wire
from chatsite.bus import Record, get_bus
from chatsite.errors import (
    Blocked,
    Forbidden,
    GroupDisabled,
    Invalid,
    NotContact,
    NotFound,
    NotMember,
    RateLimited,
    TooLarge,
)
from chatsite.text import check_message_text
from contacts.selectors import Pair, check_may_talk, pair_joins
from conversations.members import direct_key, is_manager
from conversations.models import Conversation, ConversationKind, Member, Message, MessageKind
from conversations.selectors import access_conversation
from conversations.services import reply_target
from conversations.store import Incoming
from files.access import may_read_file
from files.models import File
from groups.models import Group, GroupStatus

logger = logging.getLogger(__name__)

TOPIC = "messages"
# What a forward copies and a bundle holds: messages people typed or sent as files.
SENDABLE_KINDS = (MessageKind.TEXT, MessageKind.FILE)
# What message.send takes as `kind`.
SEND_KINDS = (MessageKind.TEXT, MessageKind.FILE, MessageKind.BUNDLE)
# A bundle's stored content, as JSON, at most this many bytes.
MAX_BUNDLE_BYTES = 256 * 1024
BUNDLE_MIN, BUNDLE_MAX = 2, 100


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
    # Contract v3 (conversations.store.Incoming has the same).
    reply_to_id: int | None = None
    mentions: tuple[str, ...] = ()
    mention_ids: tuple[int, ...] = ()
    mention_all: bool = False
    forwarded_from: dict | None = None
    # A bundle's snapshot and the files its items carry.
    data: dict | None = None
    attachments: tuple[int, ...] = ()

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
                "r": self.reply_to_id,
                "mn": list(self.mentions) or None,
                "mp": list(self.mention_ids) or None,
                "ma": self.mention_all or None,
                "fw": self.forwarded_from,
                "d": self.data,
                "af": list(self.attachments) or None,
                "sock": socket_id,
                "ref": ref,
                "id": uuid.uuid4().hex,
                # When it was accepted, for the store-latency metric.
                "ts": time.time(),
            }
        )


def decode_records(records: list[Record]) -> tuple[list[tuple[Record, Incoming]], list[tuple[Record, str]]]:
    """(each record with what it carries; those that cannot be decoded, with why)."""
    decoded: list[tuple[Record, Incoming]] = []
    rejected: list[tuple[Record, str]] = []
    for record in records:
        try:
            decoded.append((record, decode_record(record.value)))
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append((record, f"undecodable record: {exc}"))
    return decoded, rejected


def decode_record(value: bytes) -> Incoming:
    """The inverse of SendDraft.record; raises ValueError/KeyError/TypeError on garbage."""
    data = wire.loads(value)
    if not isinstance(data, dict) or data.get("v") != 1:
        raise ValueError("unknown record version")
    kind = data["k"]
    if kind not in SEND_KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    content, attachments = data.get("d"), data.get("af") or []
    if kind == MessageKind.BUNDLE and not isinstance(content, dict):
        raise TypeError("a bundle needs its content")
    if not all(isinstance(x, int) for x in attachments):
        raise TypeError("attachments must be file keys")
    conversation_id, sender_id = int(data["c"]), int(data["s"])
    text, file_id, cmid = data.get("t"), data.get("f"), data["m"]
    if text is not None and not isinstance(text, str):
        raise TypeError("text must be a string")
    if not isinstance(cmid, str) or not cmid:
        raise TypeError("client_msg_id must be a string")
    reply_to_id, mentions, mention_ids = data.get("r"), data.get("mn") or [], data.get("mp") or []
    forwarded_from = data.get("fw")
    if reply_to_id is not None and not isinstance(reply_to_id, int):
        raise TypeError("reply_to must be a message key")
    if not all(isinstance(x, str) for x in mentions) or not all(isinstance(x, int) for x in mention_ids):
        raise TypeError("mentions must be ids")
    if forwarded_from is not None and not isinstance(forwarded_from, dict):
        raise TypeError("forwarded_from must be an object")
    return Incoming(
        data=content if kind == MessageKind.BUNDLE else None,
        attachments=attachments or None,
        reply_to_id=reply_to_id,
        mentions=mentions or None,
        mention_ids=mention_ids or None,
        mention_all=data.get("ma") is True,
        forwarded_from=forwarded_from,
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


def message_budget(user: User) -> tuple[str, int, int]:
    """(bucket prefix, rate per s, burst) of a user's messages, edits and
    reactions: a bot has a budget of its own (docs/bots.md)."""
    if user.is_bot:
        return "botmsg", settings.LIMIT_BOT_MESSAGES_PER_S, settings.LIMIT_BOT_MESSAGES_BURST
    return "msg", settings.LIMIT_MESSAGES_PER_S, settings.LIMIT_MESSAGES_BURST


def check_send_rate(*, user: User) -> None:
    prefix, rate, burst = message_budget(user)
    decision = kv.store().token_bucket(f"{prefix}:{user.pk}", rate=rate, burst=burst)
    if not decision.allowed:
        raise RateLimited(gettext("You are sending messages too fast."), retry_after=decision.retry_after)


# --------------------------------------------------------------------------- checks


def _clean_client_msg_id(value: object) -> str:
    parsed = wire.parse_uuid(value.lower() if isinstance(value, str) else value)
    if parsed is None:
        raise Invalid.field("client_msg_id", gettext("A UUID made by the client."))
    return str(parsed)


def _clean_text(value: object, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    check_message_text(value, field="content", what=gettext("A message"))
    if not value.strip():
        if required:
            raise Invalid.field("content", gettext("Must not be empty."))
        return None
    return value


def _direct_peer_id(conversation: Conversation, user_id: int) -> int:
    low, high = (int(x) for x in conversation.direct_key.split(":"))  # type: ignore[union-attr]
    return high if low == user_id else low


def _check_direct(sender_id: int, peer_id: int) -> None:
    """The pair rule (contacts.selectors): `blocked` or `not_contact` unless the two may talk."""
    check_may_talk(user_id=sender_id, other_id=peer_id)


def _check_group(conversation: Conversation, member: Member | None) -> None:
    """The sender is a current member of an active group."""
    if member is None:
        raise NotFound(gettext("No such conversation."))
    if member.left_seq is not None:
        raise NotMember()
    if conversation.group.status != GroupStatus.ACTIVE:  # type: ignore[union-attr]
        raise GroupDisabled()


def _membership(**conversation_filter) -> Member | None:
    # A slice, not .first(): a unique lookup needs no ORDER BY (hot path).
    rows = list(Member.objects.select_related("conversation").filter(**conversation_filter)[:1])
    return rows[0] if rows else None


def _clean_target(*, conversation: object, to: object) -> tuple[str, uuid.UUID]:
    """The shape of a message's target, `("conversation" | "user" | "group", id)`,
    checked before anything is looked up: a malformed one is `invalid`."""
    if (conversation is None) == (to is None):
        raise Invalid.field("conversation", gettext("Give exactly one of `conversation` or `to`."))
    if conversation is not None:
        cid = wire.parse_uuid(conversation)
        if cid is None:
            raise Invalid.field("conversation", gettext("Must be a conversation id."))
        return "conversation", cid
    if not isinstance(to, dict) or len(to) != 1 or not ({"user", "group"} & set(to)):
        raise Invalid.field("to", gettext('Must be {"user": id} or {"group": id}.'))
    which = "user" if "user" in to else "group"
    uid = wire.parse_uuid(to[which])
    if uid is None:
        raise Invalid.field("to", gettext("Must be a user id.") if which == "user" else gettext("Must be a group id."))
    return which, uid


def resolve_target(
    *, sender: User, conversation: object = None, to: object = None
) -> tuple[Conversation, Member | None]:
    """The conversation a message goes to, and the sender's membership in it,
    from exactly one of `conversation` (an id) or `to` ({"user": id} or {"group": id}).
    `to` only finds an existing conversation; it never creates one. A
    conversation the sender never belonged to is `not_found`."""
    which, uid = _clean_target(conversation=conversation, to=to)
    if which == "conversation":
        member = _membership(conversation__uuid=uid, user=sender)
        if member is None:
            raise NotFound(gettext("No such conversation."))
        return member.conversation, member
    if which == "user":
        peer_id = User.objects.filter(uuid=uid).values_list("pk", flat=True).first()
        if peer_id is None:
            raise NotFound(gettext("No such user."))

        member = _membership(conversation__direct_key=direct_key(sender.pk, peer_id), user=sender)
        if member is None:
            _check_direct(sender.pk, peer_id)  # blocked or not_contact, whichever applies
            raise NotContact()
        return member.conversation, member
    member = _membership(conversation__group__uuid=uid, user=sender)
    if member is None:
        raise NotFound(gettext("No such group."))
    return member.conversation, member


def check_may_post(
    *, sender: User, conversation: object = None, to: object = None
) -> tuple[Conversation, Member | None]:
    """What decides whether `sender` may post in a conversation at all (the
    pair rule in a direct chat; a current member of an active group), and
    nothing about the message: for sends, and for slash commands, which
    reach a bot instead of the conversation."""
    target, member = resolve_target(sender=sender, conversation=conversation, to=to)
    if target.kind == ConversationKind.DIRECT:
        if member is None:
            raise NotFound(gettext("No such conversation."))
        _check_direct(sender.pk, _direct_peer_id(target, sender.pk))
    else:
        _check_group(target, member)
    return target, member


def check_send_message(
    *,
    sender: User,
    client_msg_id: object,
    kind: object,
    content: object = None,
    file: object = None,
    conversation: object = None,
    to: object = None,
    reply_to: object = None,
    mentions: object = None,
    mention_all: object = None,
    forward_of: object = None,
    bundle: object = None,
) -> SendDraft:
    """Validate and authorise a message; writes nothing.

    A client_msg_id the sender already used answers with the first copy
    (`existing`), whatever the rest of the frame says. Otherwise: the target
    conversation (contact and block rules for direct ones; membership and
    status for groups), the kind, the text (1..MAX_TEXT code points, no NUL)
    and the file (one the sender uploaded); or, for a forward, the original.
    Then what contract v3 adds: the quoted message, the mentions and @all
    (`_check_extras`).

    The usual case (a conversation id) costs one query: see `_lookup`."""
    cmid = _clean_client_msg_id(client_msg_id)
    # A malformed target is `invalid` even for a client_msg_id already stored.
    _clean_target(conversation=conversation, to=to)
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
    # Every shape first: only then is anything looked up (the file, the target).
    mention_uuids = _clean_mentions(mentions)
    if mention_all is not None and not isinstance(mention_all, bool):
        raise Invalid.field("mention_all", gettext("true or false."))
    if reply_to is not None and wire.parse_uuid(reply_to) is None:
        raise Invalid.field("reply_to", gettext("Must be a message id."))
    file_id = None
    forwarded_from = None
    snapshot, attachments = None, ()
    if forward_of is not None:
        if any(value is not None for value in (kind, content, file, bundle)):
            raise Invalid.field(
                "forward_of", gettext("A forward takes no kind, content, file or bundle: it copies the original's.")
            )
        original = _forward_source(sender, forward_of)
        kind, text, file_id = original.kind, original.text, original.file_id
        forwarded_from = original.forwarded_from or {
            "sender": original.sender_id,
            "created_at": wire.iso(original.created_at),
        }
    elif kind not in SEND_KINDS:
        raise Invalid.field("kind", gettext('Must be "text", "file" or "bundle".'))
    elif kind == MessageKind.BUNDLE:
        if content is not None or file is not None:
            raise Invalid.field("bundle", gettext("A bundle takes no content or file: it holds the messages listed."))
        text = None
        snapshot, attachments = _bundle_snapshot(sender, bundle)
    elif bundle is not None:
        raise Invalid.field("bundle", gettext('Only for kind "bundle".'))
    elif kind == MessageKind.TEXT:
        if file is not None:
            raise Invalid.field("file", gettext("Only for kind file."))
        text = _clean_text(content, required=True)
    else:
        text = _clean_text(content, required=False)
        file_uuid = wire.parse_uuid(file)
        if file_uuid is None:
            raise Invalid.field("file", gettext("A file id is required for kind file."))
        file_obj = File.objects.filter(uuid=file_uuid).only("id", "owner_id").first()
        if file_obj is None or not _may_send_file(sender, file_obj):
            raise NotFound(gettext("No such file."))
        file_id = file_obj.pk
    if found is not None:
        if found.member_id is None:
            raise NotFound(gettext("No such conversation."))
        if found.kind == ConversationKind.DIRECT:
            found.pair.check_may_talk()  # type: ignore[union-attr]
        else:
            if found.left_seq is not None:
                raise NotMember()
            if found.group_status != GroupStatus.ACTIVE:
                raise GroupDisabled()
        target_id, target_uuid, target_kind = found.conversation_id, str(conv_uuid), found.kind
    else:
        target, _ = check_may_post(sender=sender, conversation=conversation, to=to)
        target_id, target_uuid, target_kind = target.pk, str(target.uuid), target.kind
    extras = _check_extras(
        sender=sender,
        conversation_id=target_id,
        conversation_uuid=target_uuid,
        conversation_kind=target_kind,
        reply_to=reply_to,
        mention_uuids=mention_uuids,
        mention_all=mention_all is True,
    )
    return SendDraft(
        conversation_id=target_id,
        conversation_uuid=target_uuid,
        sender_id=sender.pk,
        kind=kind,  # type: ignore[arg-type]
        text=text,
        file_id=file_id,
        client_msg_id=cmid,
        forwarded_from=forwarded_from,
        data=snapshot,
        attachments=attachments,
        **extras,
    )


# --------------------------------------------------------------------------- granted sends


@dataclass(frozen=True)
class SendGrant:
    """That a sender may send to a conversation, as a full check found it: a
    socket keeps it (Connection.grants) until the sender's access changes, so
    that its next plain messages there need no database round."""

    conversation_id: int
    conversation_uuid: str


# The frame of a plain text message to a conversation: nothing else in it
# needs the database (a reply, mentions, a file, a forward or a bundle do).
GRANTABLE_FIELDS = frozenset({"type", "ref", "client_msg_id", "kind", "content", "conversation"})
# What check_send_message raises when the sender may not (or no longer) send
# to the conversation: a grant for it ends.
SEND_REFUSALS = (NotFound, NotMember, Blocked, NotContact, GroupDisabled)


def grant_for(draft: SendDraft) -> SendGrant | None:
    """What a socket may keep of a draft check_send_message returned for a
    frame that named its conversation by id: nothing for a repeat (its target
    was not checked)."""
    if draft.existing is not None:
        return None
    return SendGrant(conversation_id=draft.conversation_id, conversation_uuid=draft.conversation_uuid)


def check_send_granted(*, grant: SendGrant, sender_id: int, client_msg_id: object, content: object) -> SendDraft:
    """check_send_message for a plain text message to a conversation the
    sender holds a grant for: the checks that need no database (the
    client_msg_id, the text). A client_msg_id used before is not looked up
    here: the store step answers a repeat with its first copy. Raises like
    check_send_message; a caller may then run the full check, which answers
    a repeat's bad frame with the first copy as well."""
    return SendDraft(
        conversation_id=grant.conversation_id,
        conversation_uuid=grant.conversation_uuid,
        sender_id=sender_id,
        kind=MessageKind.TEXT,
        text=_clean_text(content, required=True),
        file_id=None,
        client_msg_id=_clean_client_msg_id(client_msg_id),
    )


# --------------------------------------------------------------------------- replies, mentions, forwards

MAX_MENTIONS = 50


def _clean_mentions(value: object) -> list[str]:
    """Up to MAX_MENTIONS user ids; repeats count once, order kept."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_MENTIONS:
        raise Invalid.field(
            "mentions", gettext("A list of at most %(max_mentions)s user ids.") % {"max_mentions": MAX_MENTIONS}
        )
    out: list[str] = []
    for item in value:
        uid = wire.parse_uuid(item)
        if uid is None:
            raise Invalid.field("mentions", gettext("Each mention is a user id."))
        if str(uid) not in out:
            out.append(str(uid))
    return out


def _check_extras(
    *,
    sender: User,
    conversation_id: int,
    conversation_uuid: str,
    conversation_kind: str,
    reply_to: object,
    mention_uuids: list[str],
    mention_all: bool,
) -> dict:
    """The quoted message (one of this conversation the sender may read),
    the mentioned users (current members; in a direct conversation the two
    of them) and @all (groups, owners and admins, LIMIT_MENTION_ALL_PER_HOUR
    per group). No query when the message has none of them."""
    out: dict = {}
    if reply_to is not None:
        access = access_conversation(user=sender, conversation_id=conversation_uuid)
        out["reply_to_id"] = reply_target(user=sender, access=access, value=reply_to).pk
    if mention_uuids:
        found = dict(
            Member.objects.filter(
                conversation_id=conversation_id, left_seq__isnull=True, user__uuid__in=mention_uuids
            ).values_list("user__uuid", "user_id")
        )
        ids = {str(k): v for k, v in found.items()}
        missing = [u for u in mention_uuids if u not in ids]
        if missing:
            raise Invalid.field("mentions", gettext("Only members of this conversation can be mentioned."))
        out["mentions"] = tuple(mention_uuids)
        out["mention_ids"] = tuple(ids[u] for u in mention_uuids)
    if mention_all:
        if conversation_kind != ConversationKind.GROUP:
            raise Invalid.field("mention_all", gettext("Only in a group."))
        if not is_manager(conversation_id=conversation_id, user_id=sender.pk):
            raise Forbidden(gettext("Only the group's owner and admins can mention everyone."))
        count, ttl = kv.store().counter_incr(f"mentionall:{conversation_id}", window_s=3600)
        if count > settings.LIMIT_MENTION_ALL_PER_HOUR:
            raise RateLimited(gettext("@all was used too often in this group; try again later."), retry_after=ttl)
        out["mention_all"] = True
    return out


def _bundle_snapshot(sender: User, value: object) -> tuple[dict, tuple[int, ...]]:
    """A merged forward: 2–100 messages of one conversation the sender may
    read, none a system, call, bundle or recalled message, copied in seq
    order with a title. Returns the stored content and its files."""
    if not isinstance(value, list) or not BUNDLE_MIN <= len(value) <= BUNDLE_MAX:
        raise Invalid.field(
            "bundle",
            gettext("A list of %(bundle_min)s to %(bundle_max)s message ids.")
            % {"bundle_min": BUNDLE_MIN, "bundle_max": BUNDLE_MAX},
        )
    ids = []
    for item in value:
        mid = wire.parse_uuid(item)
        if mid is None:
            raise Invalid.field("bundle", gettext("Each item is a message id."))
        if mid not in ids:
            ids.append(mid)
    if len(ids) < BUNDLE_MIN:
        raise Invalid.field(
            "bundle", gettext("At least %(bundle_min)s different messages.") % {"bundle_min": BUNDLE_MIN}
        )
    messages = list(Message.objects.filter(uuid__in=ids).select_related("conversation"))
    if len(messages) != len(ids):
        raise NotFound(gettext("No such message."))
    if len({m.conversation_id for m in messages}) != 1:
        raise Invalid.field("bundle", gettext("Messages of one conversation."))
    source = messages[0].conversation
    access = access_conversation(user=sender, conversation_id=str(source.uuid))
    if any(not access.first_seq <= m.seq <= access.last_seq for m in messages):
        raise NotFound(gettext("No such message."))
    if any(m.kind not in SENDABLE_KINDS or m.recalled for m in messages):
        raise Invalid.field("bundle", gettext("Only text and file messages that are not recalled."))
    _require_files(sender, {m.file_id for m in messages if m.file_id})
    messages.sort(key=lambda m: m.seq)
    content = {
        "title": _bundle_title(sender, source),
        "items": [
            {
                "sender": m.sender_id,
                "kind": m.kind,
                "content": m.text,
                "file": m.file_id,
                "created_at": wire.iso(m.created_at),
            }
            for m in messages
        ],
    }
    if len(wire.dumps_bytes(content)) > MAX_BUNDLE_BYTES:
        raise TooLarge(
            gettext("A merged forward may hold at most %(n)s KiB of messages.") % {"n": MAX_BUNDLE_BYTES // 1024}
        )
    return content, tuple(sorted({m.file_id for m in messages if m.file_id}))


def _bundle_title(sender: User, conversation: Conversation) -> str:
    """ "Chat history of A and B" (a direct conversation) or "Group chat history"."""
    if conversation.kind != ConversationKind.DIRECT:
        return "Group chat history"
    people = User.objects.filter(conversation_states__conversation=conversation).order_by(
        Case(When(pk=sender.pk, then=0), default=1), "pk"
    )
    names = [user_to_wire(u)["nickname"] or u.username for u in people]
    return "Chat history of " + " and ".join(names[:2])


def _forward_source(sender: User, value: object) -> Message:
    """The message a forward copies: a text or file message, not recalled,
    that the sender may read, in any conversation."""
    mid = wire.parse_uuid(value)
    if mid is None:
        raise Invalid.field("forward_of", gettext("Must be a message id."))
    original = (
        Message.objects.filter(uuid=mid)
        .select_related("conversation")
        .only(
            "uuid",
            "seq",
            "kind",
            "text",
            "file_id",
            "sender_id",
            "created_at",
            "recalled",
            "forwarded_from",
            "conversation__uuid",
        )
        .first()
    )
    if original is None:
        raise NotFound(gettext("No such message."))
    access = access_conversation(user=sender, conversation_id=str(original.conversation.uuid))
    if not access.first_seq <= original.seq <= access.last_seq:
        raise NotFound(gettext("No such message."))
    if original.kind not in SENDABLE_KINDS or original.recalled:
        raise Invalid.field(
            "forward_of", gettext("Only text and file messages that are not recalled can be forwarded.")
        )
    if original.file_id:
        _require_files(sender, {original.file_id})
    return original


def _require_files(sender: User, file_ids: set[int]) -> None:
    """A forward or a merged forward copies its messages' files: each must be
    one the sender may still read, as for a file sent directly. A member who
    has left a group keeps its history to read, not its files, and must not
    get them back by forwarding the messages that hold them."""
    if not file_ids:
        return
    files = list(File.objects.filter(pk__in=file_ids).only("id", "owner_id"))
    if len(files) != len(file_ids) or not all(_may_send_file(sender, f) for f in files):
        raise NotFound(gettext("No such file."))


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
    # For direct conversations: the peer, and where the sender stands with them.
    peer_id: int | None = None
    pair: Pair | None = None


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _lookup(*, sender_id: int, conversation_uuid, client_msg_id: str) -> _Found | None:
    """One query: the conversation, the sender's membership, the group's status,
    whether this client_msg_id is already stored and, for a direct
    conversation, the contact and block state of the pair. None: no such
    conversation."""
    # Joins only: MariaDB built three temporary tables per send for the
    # earlier form (a derived table and correlated EXISTS subqueries). For a
    # direct conversation `o` is the one other member; for a group it joins nothing.
    pair_columns, pair_from = pair_joins("%s", "o.user_id")
    sql = (
        f"SELECT c.id, c.kind, c.direct_key, g.status, cm.id, cm.left_seq, ex.id, o.user_id, {pair_columns} "
        f"FROM {_t(Conversation)} c "
        f"LEFT JOIN {_t(Member)} cm ON cm.conversation_id = c.id AND cm.user_id = %s "
        f"LEFT JOIN {_t(Group)} g ON g.conversation_id = c.id "
        f"LEFT JOIN {_t(Message)} ex ON ex.sender_id = %s AND ex.client_msg_id = %s "
        f"LEFT JOIN {_t(Member)} o ON c.kind = 'direct' AND o.conversation_id = c.id AND o.user_id <> %s "
        f"{pair_from}"
        f"WHERE c.uuid = %s"
    )
    # In the order the placeholders appear.
    params = [sender_id, sender_id, client_msg_id, sender_id, sender_id, sender_id, sender_id, conversation_uuid.hex]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    *head, contacts, blocks, blocked_by = row
    return _Found(*head, pair=Pair(contacts=bool(contacts), blocks=bool(blocks), blocked_by=bool(blocked_by)))


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
