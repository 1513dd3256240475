"""The Conversation object on the wire, for one or many conversations of a user
in a fixed number of queries."""

from __future__ import annotations

from django.db.models import F
from django.db.models.functions import Coalesce

from accounts.models import User
from accounts.serializers import user_to_wire
from chatsite.drf import decode_cursor
from chatsite.wire import iso
from messaging.models import ConversationKind, ConversationMember, Message
from messaging.selectors import unread_counts
from messaging.serializers import message_to_wire

LIST_DEFAULT = 100
LIST_MAX = 200


def _members_query(user: User):
    return (
        ConversationMember.objects.filter(user=user)
        .select_related(
            "conversation", "conversation__group", "conversation__group__owner__avatar", "conversation__group__avatar"
        )
        .annotate(activity=Coalesce(F("conversation__last_message_at"), F("conversation__created_at")))
    )


def render(user: User, members: list[ConversationMember]) -> list[dict]:
    """Conversation objects for these memberships of `user` (5 queries at most)."""
    if not members:
        return []
    conv_ids = [m.conversation_id for m in members]
    # The newest message each member may see (the last one, unless they left or joined after it).
    wanted = {}
    for m in members:
        last = m.conversation.last_seq if m.left_seq is None else min(m.left_seq, m.conversation.last_seq)
        if last > m.visible_from_seq:
            wanted[m.conversation_id] = last
    last_messages: dict[int, Message] = {}
    if wanted:
        from django.db.models import Q

        condition = Q()
        for cid, seq in wanted.items():
            condition |= Q(conversation_id=cid, seq=seq)
        for message in Message.objects.filter(condition).select_related("sender__avatar", "file"):
            last_messages[message.conversation_id] = message
    direct_ids = [m.conversation_id for m in members if m.conversation.kind == ConversationKind.DIRECT]
    peers: dict[int, ConversationMember] = {}
    if direct_ids:
        for other in (
            ConversationMember.objects.filter(conversation_id__in=direct_ids)
            .exclude(user=user)
            .select_related("user__avatar")
        ):
            peers[other.conversation_id] = other
    group_ids = [m.conversation.group_id for m in members if m.conversation.group_id]
    roles: dict[int, str] = {}
    if group_ids:
        from groups.models import Membership

        roles = dict(Membership.objects.filter(user=user, group_id__in=group_ids).values_list("group_id", "role"))
    unread = unread_counts(user=user, conversation_ids=conv_ids)
    out = []
    for m in members:
        conv = m.conversation
        peer = peers.get(conv.pk)
        group_wire = None
        if conv.group_id:
            from groups.serializers import group_to_wire

            group_wire = group_to_wire(conv.group, my_role=roles.get(conv.group_id))
        last = last_messages.get(conv.pk)
        conv_uuid = str(conv.uuid)
        out.append(
            {
                "id": conv_uuid,
                "kind": conv.kind,
                "peer": user_to_wire(peer.user) if peer is not None else None,
                "group": group_wire,
                "last_seq": conv.last_seq if m.left_seq is None else min(m.left_seq, conv.last_seq),
                "read_seq": m.read_seq,
                "peer_read_seq": peer.read_seq if peer is not None else None,
                "unread": unread.get(conv.pk, 0),
                "last_message": message_to_wire(last, conversation_uuid=conv_uuid) if last is not None else None,
                "updated_at": iso(conv.last_message_at or conv.created_at),
                "pinned": m.pinned,
                "muted": m.muted,
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
    from django.db.models import Q

    from chatsite.drf import encode_cursor

    query = _members_query(user).filter(hidden=False, left_seq__isnull=True)
    after = decode_cursor(cursor, arity=3)
    if after is not None:
        pinned, activity, conv_uuid = after
        from django.utils.dateparse import parse_datetime

        from chatsite.wire import parse_uuid

        when = parse_datetime(activity) if isinstance(activity, str) else None
        if not isinstance(pinned, bool) or when is None or parse_uuid(conv_uuid) is None:
            from chatsite.errors import Invalid

            raise Invalid.field("cursor", "Not a cursor from this list.")
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
