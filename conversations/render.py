"""Messages as one reader sees them (the Message object of contract v3).

A Message carries more than its own row: the message it quotes (rendered
from the original's current state), its reactions (with `me` for the
reader), and the first sender of a forward. `load_around` fetches those for
a page of messages in at most three queries; `render` puts them together
for one reader, whose window decides what a quote may show: a quoted message
from before the reader joined has `excerpt: ""`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from accounts.models import User
from accounts.serializers import user_to_wire
from conversations.models import Message, MessageKind, Reaction
from conversations.serializers import excerpt_of, message_to_wire
from files.models import File
from files.serializers import file_to_wire

# `users` in a reaction lists at most this many (the first to react).
REACTION_USERS_SHOWN = 20


@dataclass
class Around:
    """What a page of messages needs beyond their rows."""

    # Quoted messages by pk (with sender and file).
    quoted: dict[int, Message] = field(default_factory=dict)
    # Per message pk: [(emoji, [(user pk, user uuid), ...]), ...] in order of first use.
    reactions: dict[int, list[tuple[str, list[tuple[int, str]]]]] = field(default_factory=dict)
    # The first senders of forwarded copies and the senders of bundle items,
    # as User objects on the wire, by pk.
    users: dict[int, dict] = field(default_factory=dict)
    # Files in bundle items, as File objects on the wire, by pk.
    files: dict[int, dict] = field(default_factory=dict)


def load_around(messages: Iterable[Message], *, reactions: bool = True) -> Around:
    """One query for each kind of thing the messages need (none when none
    needs it). `reactions=False` for messages known to have none (new ones)."""
    messages = list(messages)
    around = Around()
    quoted_ids = {m.reply_to_id for m in messages if m.reply_to_id and not m.recalled}
    if quoted_ids:
        for q in Message.objects.filter(pk__in=quoted_ids).select_related("sender__avatar", "file"):
            around.quoted[q.pk] = q
    people = {
        m.forwarded_from.get("sender")
        for m in messages
        if m.forwarded_from and isinstance(m.forwarded_from.get("sender"), int)
    }
    bundled_files: set[int] = set()
    for m in messages:
        if m.kind == MessageKind.BUNDLE and not m.recalled and m.data:
            for item in m.data.get("items", ()):
                people.add(item.get("sender"))
                bundled_files.add(item.get("file"))
    people.discard(None)
    bundled_files.discard(None)
    if people:
        for user in User.objects.filter(pk__in=people).select_related("avatar"):
            around.users[user.pk] = user_to_wire(user)
    if bundled_files:
        for file in File.objects.filter(pk__in=bundled_files):
            around.files[file.pk] = file_to_wire(file)
    # Only a message someone has reacted to has a `reaction_seq` (do_react sets
    # it in the transaction that stores the reaction): most pages need no query.
    live = [m.pk for m in messages if not m.recalled and m.pk is not None and m.reaction_seq is not None]
    if reactions and live:
        around.reactions = reactions_by_message(live)
    return around


def reactions_by_message(message_ids: list[int]) -> dict[int, list[tuple[str, list[tuple[int, str]]]]]:
    """Per message pk: [(emoji, [(user pk, user uuid), ...]), ...], each
    emoji in order of first use and its users in the order they reacted."""
    rows = (
        Reaction.objects.filter(message_id__in=message_ids)
        .order_by("id")
        .values_list("message_id", "emoji", "user_id", "user__uuid")
    )
    grouped: dict[int, dict[str, list[tuple[int, str]]]] = {}
    for message_id, emoji, user_id, user_uuid in rows:
        grouped.setdefault(message_id, {}).setdefault(emoji, []).append((user_id, str(user_uuid)))
    return {mid: list(by_emoji.items()) for mid, by_emoji in grouped.items()}


def reactions_wire(entries: list[tuple[str, list[tuple[int, str]]]], *, reader_id: int | None) -> list[dict]:
    return [
        {
            "emoji": emoji,
            "count": len(users),
            "users": [u for _, u in users[:REACTION_USERS_SHOWN]],
            "me": reader_id is not None and any(pk == reader_id for pk, _ in users),
        }
        for emoji, users in entries
    ]


def reply_wire(quoted: Message, *, visible_from: int) -> dict:
    """`reply_to` of a message quoting `quoted`, for a reader who may read
    seqs above `visible_from`."""
    return {
        "id": str(quoted.uuid),
        "seq": quoted.seq,
        "sender": user_to_wire(quoted.sender) if quoted.sender_id else None,
        "kind": quoted.kind,
        "excerpt": excerpt_of(quoted) if quoted.seq > visible_from else "",
        "recalled": quoted.recalled,
    }


def render(
    message: Message,
    around: Around,
    *,
    reader_id: int | None,
    visible_from: int = 0,
    conversation_uuid: str | None = None,
    sender_wire: dict | None = None,
) -> dict:
    quoted = around.quoted.get(message.reply_to_id) if message.reply_to_id else None
    forwarded = message.forwarded_from
    bundle = message.kind == MessageKind.BUNDLE and not message.recalled and message.data
    return message_to_wire(
        message,
        conversation_uuid=conversation_uuid,
        sender_wire=sender_wire,
        reply_to=reply_wire(quoted, visible_from=visible_from) if quoted is not None else None,
        reactions=reactions_wire(around.reactions.get(message.pk, []), reader_id=reader_id),
        forwarded_sender=around.users.get(forwarded.get("sender")) if forwarded else None,
        content=bundle_content(message.data, around) if bundle else None,
    )


def bundle_content(data: dict, around: Around) -> dict:
    """A bundle's stored snapshot on the wire: each item's sender rendered from
    its user as it is now (a deleted account as the deleted user), its file
    as a File."""
    return {
        "title": data.get("title", ""),
        "items": [
            {
                "sender": around.users.get(item.get("sender")),
                "kind": item.get("kind"),
                "content": item.get("content"),
                "file": around.files.get(item.get("file")),
                "created_at": item.get("created_at"),
            }
            for item in data.get("items", ())
        ],
    }


def render_messages(
    messages: list[Message],
    *,
    reader_id: int | None,
    visible_from: int | Callable[[Message], int] = 0,
    conversation_uuid: str | None = None,
) -> list[dict]:
    """Messages for one reader. `visible_from` is the reader's window start
    (a seq, or a function of the message for several conversations)."""
    around = load_around(messages)
    window = visible_from if callable(visible_from) else (lambda _m: visible_from)
    # Each sender rendered once per page (a page is mostly two or a few people).
    senders: dict[int, dict] = {}

    def sender_of(m: Message) -> dict | None:
        if m.sender_id is None:
            return None
        wire = senders.get(m.sender_id)
        if wire is None:
            wire = senders[m.sender_id] = user_to_wire(m.sender)
        return wire

    return [
        render(
            m,
            around,
            reader_id=reader_id,
            visible_from=window(m),
            conversation_uuid=conversation_uuid,
            sender_wire=sender_of(m),
        )
        for m in messages
    ]


def render_one(message: Message, *, reader_id: int | None, visible_from: int = 0) -> dict:
    return render_messages([message], reader_id=reader_id, visible_from=visible_from)[0]
