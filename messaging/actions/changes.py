"""What edits, reactions and pins share: finding the message a change is
about and checking the caller may change it (the same checks and codes as
message.send), and telling the members with a frame rendered for each of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext

from accounts.models import User
from chatsite import realtime, wire
from chatsite.errors import Invalid, NotFound
from chatsite.events import deliver_envelopes_on_commit
from contacts.selectors import check_may_talk
from conversations.models import ConversationKind, Member, Message, MessageKind
from conversations.render import Around, load_around, render
from conversations.selectors import Access, access_conversation, direct_peer_id, who_hears
from messaging.actions.send import _check_group


@dataclass(frozen=True)
class Target:
    message: Message
    access: Access


def lock_target(*, user: User, message_id: object) -> Target:
    """The message (locked until the transaction ends) and the caller's view
    of its conversation. Call inside transaction.atomic(). A message the
    caller may not read is `not_found`; then the checks of message.send:
    `blocked` / `not_contact` (direct), `not_member` / `group_disabled`."""
    mid = wire.parse_uuid(message_id)
    if mid is None:
        raise Invalid.field("message", gettext("Must be a message id."))
    message = Message.objects.select_for_update().select_related("conversation").filter(uuid=mid).first()
    if message is None:
        raise NotFound(gettext("No such message."))
    access = access_conversation(user=user, conversation_id=str(message.conversation.uuid))
    if not access.first_seq <= message.seq <= access.last_seq:
        raise NotFound(gettext("No such message."))
    conversation = access.conversation
    if conversation.kind == ConversationKind.DIRECT:
        check_may_talk(user_id=user.pk, other_id=direct_peer_id(conversation, user.pk))
    else:
        _check_group(conversation, access.member)
    return Target(message=message, access=access)


def refuse_events_on(message: Message, *, field: str = "message") -> None:
    """Reactions and pins are for messages people sent, not recalled ones."""
    if message.kind == MessageKind.SYSTEM or message.recalled:
        raise Invalid.field(field, gettext("Not a system or recalled message."))


def readers_of(message: Message, *, actor_id: int | None) -> list[tuple[int, int]]:
    """(user id, visible_from_seq) of the current members who may read it
    and hear of what `actor_id` did to it (who_hears: in a direct chat whose
    two people are blocked apart, the actor alone)."""
    readers = [
        (uid, start)
        for uid, start in Member.objects.filter(
            conversation_id=message.conversation_id, left_seq__isnull=True
        ).values_list("user_id", "visible_from_seq")
        if start < message.seq
    ]
    if len(readers) == 2:
        kind = message.conversation.kind
        hear = set(who_hears(kind=kind, user_ids=[uid for uid, _ in readers], actor_id=actor_id))
        readers = [(uid, start) for uid, start in readers if uid in hear]
    return readers


def send_per_reader_on_commit(
    *,
    message: Message,
    build: Callable[[dict], dict],
    caller: User | None,
    socket_id: str | None,
    ref: str | None,
    around: Around | None = None,
) -> None:
    """`build(Message as the reader sees it)` to every socket of every
    current member who may read `message`; the caller's socket whose frame
    caused it gets it with `ref`. Readers who see the message alike (the
    same own reactions, the same quote) share one rendering. Outside a
    transaction it goes at once."""
    around = around or load_around([message])
    own_emojis: dict[int, set[str]] = {}
    for emoji, users in around.reactions.get(message.pk, []):
        for pk, _ in users:
            own_emojis.setdefault(pk, set()).add(emoji)
    quoted = around.quoted.get(message.reply_to_id) if message.reply_to_id else None
    variants: dict[tuple, list[tuple[int, int]]] = {}
    for uid, start in readers_of(message, actor_id=caller.pk if caller is not None else None):
        key = (frozenset(own_emojis.get(uid, ())), quoted is not None and quoted.seq <= start)
        variants.setdefault(key, []).append((uid, start))
    envelopes: list[tuple[list[int], dict]] = []
    for readers in variants.values():
        reader_id, start = readers[0]
        frame = build(render(message, around, reader_id=reader_id, visible_from=start))
        others = [uid for uid, _ in readers if caller is None or uid != caller.pk]
        if others:
            envelopes.append((others, realtime.frame_envelope(frame)))
        if len(others) < len(readers):
            if socket_id is not None:
                own = {**frame, "ref": ref}
                envelopes.append(([caller.pk], realtime.split_envelope(socket_id, own, frame)))
            else:
                envelopes.append(([caller.pk], realtime.frame_envelope(frame)))
    deliver_envelopes_on_commit(envelopes)
