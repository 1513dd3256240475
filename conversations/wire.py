"""The Conversation object on the wire, for one or many conversations of a user
in a fixed number of queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext

from accounts.models import User
from accounts.serializers import user_to_wire
from chatsite.drf import decode_cursor, encode_cursor
from chatsite.errors import Invalid
from chatsite.wire import iso, parse_moment, parse_uuid
from conversations.models import ConversationKind, Member, Message
from conversations.render import load_around
from conversations.render import render as render_message
from conversations.selectors import unread_counts, unread_mention_counts

LIST_DEFAULT = 100
LIST_MAX = 200


# Parts of a Conversation object that apps built on the core add, by field
# name: `fn(user, members)` returns {conversation id: value} for those of the
# user's memberships it knows about (groups adds `group`). One query each at
# most; a conversation none of them names gets None.
FieldSource = Callable[[User, list[Member]], dict[int, Any]]
_fields: dict[str, FieldSource] = {}


def register_field(name: str, source: FieldSource) -> None:
    """Called by an app's AppConfig.ready()."""
    _fields[name] = source


def _members_query(user: User):
    return (
        Member.objects.filter(user=user)
        .select_related("conversation")
        .annotate(activity=Coalesce(F("conversation__last_message_at"), F("conversation__created_at")))
    )


def _last_shown(members: list[Member], wanted: dict[int, int]) -> dict[int, Message]:
    """Each conversation's newest message that is not a silent event, up to
    the seq the member may see: one query, and one more per conversation whose
    newest message is a silent event (a recall was the last thing in it)."""
    found: dict[int, Message] = {}
    if not wanted:
        return found
    condition = Q()
    for cid, seq in wanted.items():
        condition |= Q(conversation_id=cid, seq=seq)
    related = ("sender__avatar", "file")
    for message in Message.objects.filter(condition).select_related(*related):
        found[message.conversation_id] = message
    visible_from = {m.conversation_id: m.visible_from_seq for m in members}
    for cid, message in list(found.items()):
        start = visible_from[cid]
        if message.silent or (message.target_seq is not None and message.target_seq <= start):
            earlier = (
                Message.objects.filter(
                    Q(target_seq__isnull=True) | Q(target_seq__gt=start),
                    conversation_id=cid,
                    seq__lt=message.seq,
                    seq__gt=start,
                    silent=False,
                )
                .select_related(*related)
                .order_by("-seq")
                .first()
            )
            if earlier is None:
                del found[cid]
            else:
                found[cid] = earlier
    return found


def _draft(m: Member) -> dict | None:
    if m.draft_updated_at is None:
        return None
    return {
        "text": m.draft_text,
        "reply_to": str(m.draft_reply_to) if m.draft_reply_to else None,
        "updated_at": iso(m.draft_updated_at),
    }


def render(user: User, members: list[Member]) -> list[dict]:
    """Conversation objects for these memberships of `user` (8 queries, up to
    three more when a last message quotes, is a forward or was reacted to,
    and one per conversation whose newest message is a silent event)."""
    if not members:
        return []
    conv_ids = [m.conversation_id for m in members]
    # The newest message each member may see (the last one, unless they left or joined after it).
    wanted = {}
    for m in members:
        last = m.conversation.last_seq if m.left_seq is None else min(m.left_seq, m.conversation.last_seq)
        if last > m.visible_from_seq:
            wanted[m.conversation_id] = last
    last_messages = _last_shown(members, wanted)
    direct_ids = [m.conversation_id for m in members if m.conversation.kind == ConversationKind.DIRECT]
    peers: dict[int, Member] = {}
    if direct_ids:
        for other in (
            Member.objects.filter(conversation_id__in=direct_ids).exclude(user=user).select_related("user__avatar")
        ):
            peers[other.conversation_id] = other
    around = load_around(last_messages.values())
    extra = {name: source(user, members) for name, source in _fields.items()}
    unread = unread_counts(user=user, conversation_ids=conv_ids)
    unread_mentions = unread_mention_counts(user=user, conversation_ids=conv_ids)
    out = []
    for m in members:
        conv = m.conversation
        peer = peers.get(conv.pk)
        last = last_messages.get(conv.pk)
        conv_uuid = str(conv.uuid)
        out.append(
            {
                "id": conv_uuid,
                "kind": conv.kind,
                "peer": user_to_wire(peer.user) if peer is not None else None,
                **{name: values.get(conv.pk) for name, values in extra.items()},
                "last_seq": conv.last_seq if m.left_seq is None else min(m.left_seq, conv.last_seq),
                "read_seq": m.read_seq,
                "peer_read_seq": peer.read_seq if peer is not None else None,
                "unread": unread.get(conv.pk, 0),
                "unread_mentions": unread_mentions.get(conv.pk, 0),
                "last_message": render_message(
                    last, around, reader_id=user.pk, visible_from=m.visible_from_seq, conversation_uuid=conv_uuid
                )
                if last is not None
                else None,
                "updated_at": iso(conv.last_message_at or conv.created_at),
                "pinned": m.pinned,
                "muted": m.muted,
                "draft": _draft(m),
                # Beyond the spec (which lets the server add fields): the list
                # leaves hidden ones out, so only conversation.updated and PATCH
                # answers can say true; other tabs learn of a hide from it.
                "hidden": m.hidden,
            }
        )
    return out


def conversation_for(*, user: User, member_id: int) -> dict:
    member = _members_query(user).get(pk=member_id)
    return render(user, [member])[0]


def list_page(*, user: User, cursor: str | None, limit: int) -> tuple[list[dict], str | None]:
    """The user's conversations: pinned first, then newest activity; hidden ones
    and groups the user left are not listed. Keyset-paged."""

    query = _members_query(user).filter(hidden=False, left_seq__isnull=True)
    after = decode_cursor(cursor, arity=3)
    if after is not None:
        pinned, activity, conv_uuid = after

        when = parse_moment(activity)
        if not isinstance(pinned, bool) or when is None or parse_uuid(conv_uuid) is None:
            raise Invalid.field("cursor", gettext("Not a cursor from this list."))
        query = query.filter(
            Q(pinned__lt=pinned)
            | Q(pinned=pinned, activity__lt=when)
            | Q(pinned=pinned, activity=when, conversation__uuid__lt=parse_uuid(conv_uuid))
        )
    members = list(query.order_by("-pinned", "-activity", "-conversation__uuid")[: limit + 1])
    more = len(members) > limit
    members = members[:limit]
    nxt = None
    if more and members:
        last = members[-1]
        nxt = encode_cursor([last.pinned, last.activity.isoformat(), str(last.conversation.uuid)])
    return render(user, members), nxt
