"""Reactions (contract v3 §4, §8): any member who may read a message adds
or removes one emoji; at most MAX_DISTINCT emoji per message."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext

from accounts.models import User
from chatsite import kv, realtime
from chatsite.emojis import normalize_emoji
from chatsite.errors import Conflict, Invalid, RateLimited
from chatsite.events import deliver_envelopes_on_commit
from conversations.models import Message, Reaction
from conversations.render import reactions_by_message, reactions_wire
from conversations.services import post_system_message
from messaging.actions.changes import lock_target, refuse_events_on, send_per_reader_on_commit

logger = logging.getLogger(__name__)

MAX_DISTINCT = 20
# One user changes the reactions on one message at most this often.
CHANGES_PER_WINDOW, WINDOW_S = 5, 10


@dataclass(frozen=True)
class Reacted:
    # The frame for the caller's socket when nothing changed (no one else is
    # told); None when the members (the caller's sockets too) get it on commit.
    unchanged_frame: dict | None


def _frame(message: Message, conversation_uuid: str, reactions: list[dict], seq: int | None) -> dict:
    return {
        "type": "message.reactions",
        "conversation": conversation_uuid,
        "message": str(message.uuid),
        "reactions": reactions,
        "seq": seq,
    }


def do_react(
    *,
    user: User,
    message_id: object,
    emoji: object,
    op: object,
    socket_id: str | None = None,
    ref: str | None = None,
) -> Reacted:
    """Add or remove the caller's `emoji` on a message. A change stores a
    silent `reaction` event carrying the whole list (without `me`) and sends
    every member who may read the message `message.reactions` (with their
    own `me`). Adding one already there, or removing one that is not, stores
    nothing and answers the caller alone with the current list."""
    if op not in ("add", "remove"):
        raise Invalid.field("op", gettext('"add" or "remove".'))
    normalized = normalize_emoji(emoji)
    if normalized is None:
        raise Invalid.field("emoji", gettext("Exactly one emoji."))
    with transaction.atomic():
        target = lock_target(user=user, message_id=message_id)
        message = target.message
        refuse_events_on(message)
        conversation_uuid = str(target.access.conversation.uuid)
        mine = Reaction.objects.filter(message=message, user=user, emoji=normalized)
        if (op == "add") == mine.exists():
            current = reactions_wire(reactions_by_message([message.pk]).get(message.pk, []), reader_id=user.pk)
            return Reacted(unchanged_frame=_frame(message, conversation_uuid, current, message.reaction_seq))
        count, ttl = kv.store().counter_incr(f"react:{user.pk}:{message.pk}", window_s=WINDOW_S)
        if count > CHANGES_PER_WINDOW:
            raise RateLimited(gettext("You are changing reactions on this message too fast."), retry_after=ttl)
        if op == "add":
            present = set(Reaction.objects.filter(message=message).values_list("emoji", flat=True).distinct())
            if normalized not in present and len(present) >= MAX_DISTINCT:
                raise Conflict(
                    gettext("A message can have at most %(max_distinct)s different reactions.")
                    % {"max_distinct": MAX_DISTINCT}
                )
            try:
                with transaction.atomic():
                    Reaction.objects.create(message=message, user=user, emoji=normalized)
            except IntegrityError:  # pragma: no cover - the message row lock serialises these
                pass
        else:
            mine.delete()
        # Read directly: the first reaction on a message has no reaction_seq yet.
        now_listed = reactions_by_message([message.pk]).get(message.pk, [])
        stored = [
            {"emoji": r["emoji"], "count": r["count"], "users": r["users"]}
            for r in reactions_wire(now_listed, reader_id=None)
        ]
        event = post_system_message(
            conversation=target.access.conversation,
            event="reaction",
            actor=user,
            targets=[message.sender] if message.sender_id else [],
            changes={"message": str(message.uuid), "seq": message.seq, "reactions": stored},
        )
        message.reaction_seq = event.seq
        message.save(update_fields=["reaction_seq"])
        # The socket that asked is answered at once; the members (the caller's
        # other sockets too) through the coalescer.
        own = _frame(
            message,
            conversation_uuid,
            reactions_wire(now_listed, reader_id=user.pk),
            event.seq,
        )
        if socket_id is not None:
            own_envelope = realtime.split_envelope(socket_id, {**own, "ref": ref}, None)
            deliver_envelopes_on_commit([([user.pk], own_envelope)])
        transaction.on_commit(lambda: coalescer.announce(message.pk, event.seq), robust=True)
    return Reacted(unchanged_frame=None)


# --------------------------------------------------------------------------- telling the members


class _Coalescer:
    """Telling a message's readers of its reactions, at most once per
    REACTIONS_COALESCE_MS per message (per server process).

    The first change after a quiet spell goes out at once; changes inside the
    window that follows are told together when it ends, in one
    `message.reactions` with the list as it is then and every event seq it
    stands for (`seqs`). A storm of reactions on one message in a big group
    costs each member a few frames a second, not one per reaction."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # message pk -> (window end, seqs waiting, flush timer or None)
        self._windows: dict[int, tuple[float, list[int], threading.Timer | None]] = {}

    def announce(self, message_pk: int, seq: int) -> None:
        window_s = settings.REACTIONS_COALESCE_MS / 1000
        now = time.monotonic()
        with self._lock:
            if len(self._windows) > 1000:
                self._windows = {k: w for k, w in self._windows.items() if w[0] > now or w[1]}
            window = self._windows.get(message_pk)
            if window_s <= 0 or window is None or (now >= window[0] and not window[1]):
                self._windows[message_pk] = (now + window_s, [], None)
                send_now = True
            else:
                until, seqs, timer = window
                seqs.append(seq)
                if timer is None:
                    timer = threading.Timer(max(0.0, until - now), self._flush, args=(message_pk,))
                    timer.daemon = True
                    timer.start()
                    self._windows[message_pk] = (until, seqs, timer)
                send_now = False
        if send_now:
            _tell_readers(message_pk, [seq])

    def _flush(self, message_pk: int) -> None:
        window_s = settings.REACTIONS_COALESCE_MS / 1000
        with self._lock:
            _, seqs, _ = self._windows.get(message_pk, (0.0, [], None))
            self._windows[message_pk] = (time.monotonic() + window_s, [], None)
        try:
            if seqs:
                _tell_readers(message_pk, seqs)
        except Exception:
            logger.exception("telling the readers of message %s of its reactions failed", message_pk)
        finally:
            connection.close()  # this timer's thread is done with its connection


coalescer = _Coalescer()


def _tell_readers(message_pk: int, seqs: list[int]) -> None:
    """`message.reactions` with the list as it is now, rendered for each reader."""
    message = Message.objects.select_related("conversation").filter(pk=message_pk).first()
    if message is None:
        return
    # A message recalled since (inside the window, or before an on-commit
    # announce ran) is still told, its list empty now: readers count `seqs`
    # as held, and a seq never told is a gap they would have to sync.
    conversation_uuid = str(message.conversation.uuid)
    covered = sorted(set(seqs))

    def build(wire: dict) -> dict:
        return {**_frame(message, conversation_uuid, wire["reactions"], covered[-1]), "seqs": covered}

    send_per_reader_on_commit(message=message, build=build, caller=None, socket_id=None, ref=None)
