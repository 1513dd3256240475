"""Reads: conversations a user may see, history pages, sync, search."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, F, Q

from accounts.models import User
from chatsite.errors import Invalid, NotFound
from chatsite.rawmodels import Columns
from chatsite.wire import parse_uuid
from messaging.models import Conversation, ConversationKind, ConversationMember, Message

HISTORY_DEFAULT = 50
HISTORY_MAX = 100
SYNC_MAX_FRAMES = 1000
SYNC_MAX_CURSORS = 2000
SEARCH_MAX = 50


@dataclass(frozen=True)
class Access:
    """A user's view of one conversation: which seqs they may read."""

    conversation: Conversation
    member: ConversationMember

    @property
    def is_current(self) -> bool:
        return self.member.left_seq is None

    @property
    def first_seq(self) -> int:
        """The first seq the user may read."""
        return self.member.visible_from_seq + 1

    @property
    def last_seq(self) -> int:
        """The last seq the user may read (now)."""
        if self.member.left_seq is not None:
            return min(self.member.left_seq, self.conversation.last_seq)
        return self.conversation.last_seq


def access_conversation(*, user: User, conversation_id: object) -> Access:
    """The conversation and the user's membership (current or former). A
    conversation the user never belonged to is `not_found`: existence never leaks."""
    cid = parse_uuid(conversation_id)
    if cid is None:
        raise NotFound("No such conversation.")
    # Hand-written (chatsite.rawmodels): every history page and read starts here.
    from groups.models import Group

    m, c, g = Columns(ConversationMember, "m"), Columns(Conversation, "c"), Columns(Group, "g")
    sql = (
        f"SELECT {m.sql}, {c.sql}, {g.sql} FROM {m.table} JOIN {c.table} ON c.id = m.conversation_id "
        f"LEFT JOIN {g.table} ON g.id = c.group_id WHERE c.uuid = %s AND m.user_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Conversation._meta.get_field("uuid").get_db_prep_value(cid, connection), user.pk])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such conversation.")
    member = m.load(row)
    conversation = c.load(row, m.width)
    conversation.group = g.load(row, m.width + c.width)
    member.conversation = conversation
    return Access(conversation=conversation, member=member)


def _page(access: Access, *, where: str, params: list, order: str, limit: int) -> list[Message]:
    """Readable messages of the conversation with their sender (and avatar)
    and file, in one hand-written query."""
    from accounts.models import User
    from files.models import File

    msg, u, a, f = Columns(Message, "msg"), Columns(User, "u"), Columns(File, "a"), Columns(File, "f")
    sql = (
        f"SELECT {msg.sql}, {u.sql}, {a.sql}, {f.sql} FROM {msg.table} "
        f"LEFT JOIN {u.table} ON u.id = msg.sender_id LEFT JOIN {a.table} ON a.id = u.avatar_id "
        f"LEFT JOIN {f.table} ON f.id = msg.file_id "
        f"WHERE msg.conversation_id = %s AND msg.seq >= %s AND msg.seq <= %s{where} ORDER BY msg.seq {order} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [access.conversation.pk, access.first_seq, access.last_seq, *params, limit])
        rows = cursor.fetchall()
    users: dict[int, object] = {}
    out = []
    for row in rows:
        message = msg.load(row)
        if message.sender_id is not None:
            sender = users.get(message.sender_id)
            if sender is None:
                sender = u.load(row, msg.width)
                sender.avatar = a.load(row, msg.width + u.width)
                users[message.sender_id] = sender
            message.sender = sender
        message.file = f.load(row, msg.width + u.width + a.width)
        message.conversation = access.conversation
        out.append(message)
    return out


def _readable(access: Access):
    return Message.objects.filter(
        conversation=access.conversation, seq__gte=access.first_seq, seq__lte=access.last_seq
    ).select_related("sender__avatar", "file")


def _int_param(value: object, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.isdigit() and len(value) < 19:
        number = int(value)
    else:
        raise Invalid.field(name, "A whole number.")
    if number < 0:
        raise Invalid.field(name, "A whole number.")
    return number


def history_page(
    *, access: Access, before: object = None, after: object = None, limit: object = None, client_msg_id: object = None
) -> tuple[list[Message], bool]:
    """Messages ascending by seq, keyset-paged: `before` a seq (older), `after`
    a seq (newer), or neither (the newest). Returns (messages, has_more)."""
    before_seq, after_seq = _int_param(before, "before"), _int_param(after, "after")
    if before_seq is not None and after_seq is not None:
        raise Invalid.field("before", "Give `before` or `after`, not both.")
    size = _int_param(limit, "limit")
    if size is None:
        size = HISTORY_DEFAULT
    if not 1 <= size <= HISTORY_MAX:
        raise Invalid.field("limit", f"From 1 to {HISTORY_MAX}.")
    if client_msg_id not in (None, ""):
        cmid = parse_uuid(client_msg_id.lower() if isinstance(client_msg_id, str) else client_msg_id)
        if cmid is None:
            raise Invalid.field("client_msg_id", "A UUID made by the client.")
        found = _page(
            access,
            where=" AND msg.sender_id = %s AND msg.client_msg_id = %s",
            params=[access.member.user_id, str(cmid)],
            order="ASC",
            limit=1,
        )
        return found, False
    if after_seq is not None:
        rows = _page(access, where=" AND msg.seq > %s", params=[after_seq], order="ASC", limit=size + 1)
        return rows[:size], len(rows) > size
    if before_seq is not None:
        rows = _page(access, where=" AND msg.seq < %s", params=[before_seq], order="DESC", limit=size + 1)
    else:
        rows = _page(access, where="", params=[], order="DESC", limit=size + 1)
    more = len(rows) > size
    return list(reversed(rows[:size])), more


def reads_of(*, access: Access) -> list[tuple[str, int]]:
    """Every current member's read cursor: (user uuid, read_seq)."""
    return list(
        ConversationMember.objects.filter(conversation=access.conversation, left_seq__isnull=True)
        .order_by("user_id")
        .values_list("user__uuid", "read_seq")
    )


# --------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SyncResult:
    messages: list[tuple[str, Message]]  # (conversation uuid, message), per conversation in seq order
    more: bool
    gone: list[str]


def clean_cursors(raw: object) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise Invalid.field("cursors", "An object of conversation id → last seq.")
    if len(raw) > SYNC_MAX_CURSORS:
        raise Invalid.field("cursors", f"At most {SYNC_MAX_CURSORS} conversations.")
    cursors: dict[str, int] = {}
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Invalid.field("cursors", "Each cursor is a whole number (the last seq you have).")
        cursors[key] = value
    return cursors


def sync_for(*, user: User, cursors: dict[str, int], max_frames: int = SYNC_MAX_FRAMES) -> SyncResult:
    """What the client lacks: after each named cursor (for a group the user
    left, up to the departure); after the read cursor for every other
    conversation of the user. Ids the user never belonged to are `gone`."""
    named = {}
    gone: list[str] = []
    for key in cursors:
        uid = parse_uuid(key)
        if uid is None:
            gone.append(key)
        else:
            named[str(uid)] = cursors[key]
    members = list(
        ConversationMember.objects.select_related("conversation").filter(
            Q(conversation__uuid__in=list(named)) | Q(left_seq__isnull=True), user=user
        )
    )
    seen = set()
    plan: list[tuple[Access, int]] = []
    for member in members:
        conv_uuid = str(member.conversation.uuid)
        seen.add(conv_uuid)
        access = Access(conversation=member.conversation, member=member)
        start = named[conv_uuid] if conv_uuid in named else member.read_seq
        start = max(start, member.visible_from_seq)
        if access.last_seq > start:
            plan.append((access, start))
    gone.extend(key for key in named if key not in seen)
    out: list[tuple[str, Message]] = []
    more = False
    for access, start in sorted(plan, key=lambda p: p[0].conversation.pk):
        room = max_frames - len(out)
        if room <= 0:
            more = True
            break
        rows = list(_readable(access).filter(seq__gt=start).order_by("seq")[: room + 1])
        if len(rows) > room:
            more = True
            rows = rows[:room]
        conv_uuid = str(access.conversation.uuid)
        out.extend((conv_uuid, m) for m in rows)
    return SyncResult(messages=out, more=more, gone=gone)


# --------------------------------------------------------------------------- search


def search_messages(*, user: User, q: object, conversation: object = None, before: object = None) -> list[Message]:
    """Messages whose text contains `q` literally (LIKE wildcards escaped by
    the ORM), newest first, only where the user may read them."""
    if not isinstance(q, str) or not 1 <= len(q.strip()) <= 100:
        raise Invalid.field("q", "From 1 to 100 characters.")
    if "\x00" in q:
        raise Invalid.field("q", "Must not contain NUL characters.")
    # One filter() call: every condition on the membership is about the same (joined) row.
    query = Message.objects.filter(
        Q(conversation__members__left_seq__isnull=True) | Q(seq__lte=F("conversation__members__left_seq")),
        conversation__members__user=user,
        seq__gt=F("conversation__members__visible_from_seq"),
        recalled=False,
        text__icontains=q.strip(),
    )
    if conversation not in (None, ""):
        cid = parse_uuid(conversation)
        if cid is None:
            raise Invalid.field("conversation", "Must be a conversation id.")
        query = query.filter(conversation__uuid=cid)
    if before is not None:
        mid = parse_uuid(before)
        anchor = Message.objects.filter(uuid=mid).values_list("pk", flat=True).first() if mid else None
        if anchor is None:
            raise Invalid.field("cursor", "Not a cursor from this list.")
        query = query.filter(pk__lt=anchor)
    return list(query.select_related("conversation", "sender__avatar", "file").order_by("-pk")[: SEARCH_MAX + 1])


# --------------------------------------------------------------------------- helpers for other apps


def current_member_ids(*, conversation: Conversation) -> list[int]:
    return list(
        ConversationMember.objects.filter(conversation=conversation, left_seq__isnull=True).values_list(
            "user_id", flat=True
        )
    )


def unread_counts(*, user: User, conversation_ids: list[int]) -> dict[int, int]:
    """Messages from others after the user's read cursor, per conversation (one query)."""
    if not conversation_ids:
        return {}
    rows = (
        Message.objects.filter(
            conversation_id__in=conversation_ids,
            conversation__members__user=user,
            seq__gt=F("conversation__members__read_seq"),
        )
        .exclude(sender=user)
        .values("conversation_id")
        .annotate(n=Count("id"))
    )
    return {row["conversation_id"]: row["n"] for row in rows}


def direct_peer_id(conversation: Conversation, user_id: int) -> int | None:
    if conversation.kind != ConversationKind.DIRECT or not conversation.direct_key:
        return None
    low, high = (int(x) for x in conversation.direct_key.split(":"))
    return high if low == user_id else low
