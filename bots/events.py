"""Outgoing events: what a bot hears at its events URL, and what its answer does.

1. **Plan** (`plan_messages`, `plan_command`; the `bots` consumer group on
   the bus, bots/bus_handlers.py): a stored message in a direct chat with a
   bot, a message that mentions a bot, and a slash command for a bot become a
   `Delivery` row each, keyed so a redelivered record adds nothing. The send
   path never waits for any of this.
2. **Send** (`send_due`, looped by `Sender` on threads of the bots worker, or
   of the embedded server): claim due rows (a lease in `next_at`, so several
   workers share them), POST the event signed the way Slack signs
   (`X-Slack-Request-Timestamp`, `X-Slack-Signature`) through
   chatsite.outbound (no private addresses, one deadline, size caps), and
   retry a failure with backoff (`RETRY_DELAYS_S`) up to BOT_EVENT_ATTEMPTS.
   A refusal by policy or a 4xx other than 408/429 is final. Each attempt
   reads again what the event is about (`_as_now`): a message recalled since,
   or a conversation the bot has left since, drops the event (`dropped`); a
   message edited since goes with its current text. The lease is renewed
   while the rows are worked on (`_renewing`), so an answer slower than
   LEASE_S is never claimed, and sent, by a second worker.
3. **Answer** (`_respond`): a 2xx answer may carry a reply in Slack's shape
   (`text`, `blocks`, `attachments`, `response_type`). `in_channel` posts it
   as the bot through the ordinary send path (its checks and its budget; a
   bot the product runs charges its answers itself, per asker, before its
   costly work: bots.internal);
   `ephemeral` shows it only on the sockets of the person who caused the
   event (a `bot.ephemeral` frame) and is never stored. A command's reply is
   ephemeral unless it says otherwise, a message's is posted.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.models import User, UserStatus
from accounts.serializers import user_to_wire
from bots import internal, slack
from bots.models import INTERNAL_PREFIX, Bot, Delivery, DeliveryState
from bots.selectors import live
from chatsite import outbound, realtime, signing, wire
from chatsite.errors import ChatError
from chatsite.sendloop import SendLoop
from conversations.models import ConversationKind, Member, Message, MessageKind
from conversations.selectors import access_conversation
from conversations.serializers import message_to_wire
from messaging.actions.send import check_send_message, check_send_rate, do_send_message

logger = logging.getLogger(__name__)

# After the first attempt fails: the waits before the next ones.
RETRY_DELAYS_S = (5, 30, 120, 600, 1800)
# How long claimed rows are this worker's without news from it. While they
# are worked on it renews the lease every LEASE_S / 3 (`_renewing`): an
# answer may take far longer (a model given ASSISTANT_LLM_TIMEOUT_S, up to
# 300 s; a row waiting for a free thread behind a slow batch), and a worker
# that dies frees its rows within LEASE_S.
LEASE_S = 60
POLL_S = 2.0
CLAIM_BATCH = 50
KEEP_DONE = timedelta(days=1)
USER_AGENT = "WebsocketChat-Bots/1"
_REPLY_NAMESPACE = uuid.UUID("3f1d6a52-8c0e-4b7e-a6c4-0d2b9e5f7a81")

_wake = threading.Event()


def wake() -> None:
    """New deliveries are due: the sender of this process looks now."""
    _wake.set()


# --------------------------------------------------------------------------- plan


def any_listening() -> bool:
    """Whether any bot has an events URL: one small query per batch, and
    without one nothing else is read. (Not cached: a bot that has just set its
    URL must hear of the next message.)"""
    return Bot.objects.exclude(events_url="").filter(user__status=UserStatus.ACTIVE).exists()


def _event(*, kind: str, key: str, bot: User, conversation, user: User, **extra) -> dict:
    return {
        "type": kind,
        "id": key,
        "bot": {"id": str(bot.uuid), "username": bot.username},
        "conversation": {"id": str(conversation.uuid), "kind": conversation.kind},
        "user": user_to_wire(user),
        "created_at": wire.now_iso(),
        **extra,
    }


def plan_messages(messages: list[Message]) -> int:
    """A Delivery for each (message, bot) the message is for: the bot is the
    other side of a direct chat, or is mentioned in a group. Never for a bot's
    own message, a system message or a recalled one. Idempotent."""
    wanted = [
        m
        for m in messages
        if m.kind not in (MessageKind.SYSTEM, MessageKind.CALL) and not m.recalled and m.sender_id is not None
    ]
    if not wanted or not any_listening():
        return 0
    bots_by_conversation: dict[int, list[User]] = {}
    rows = (
        Member.objects.select_related("user")
        .filter(
            live("user__"),
            conversation_id__in={m.conversation_id for m in wanted},
            left_seq__isnull=True,
            user__is_bot=True,
        )
        .exclude(user__bot__events_url="")
    )
    for member in rows:
        bots_by_conversation.setdefault(member.conversation_id, []).append(member.user)
    if not bots_by_conversation:
        return 0
    senders = {u.pk: u for u in User.objects.select_related("avatar").filter(pk__in={m.sender_id for m in wanted})}
    planned = []
    for message in wanted:
        for bot in bots_by_conversation.get(message.conversation_id, ()):
            if bot.pk == message.sender_id:
                continue
            direct = message.conversation.kind == ConversationKind.DIRECT
            if not direct and str(bot.uuid) not in (message.mentions or ()):
                continue
            # The event's id as the bot sees it: public ids only.
            key = f"msg:{message.uuid}:{bot.uuid}"
            sender = senders[message.sender_id]
            payload = _event(
                kind="message" if direct else "mention",
                key=key,
                bot=bot,
                conversation=message.conversation,
                user=sender,
                message=message_to_wire(message, sender_wire=user_to_wire(sender)),
            )
            planned.append(Delivery(bot_id=bot.pk, key=key, payload=payload))
    Delivery.objects.bulk_create(planned, ignore_conflicts=True)
    if planned:
        wake()
    return len(planned)


def plan_command(*, command_id: str, conversation, user: User, bot: User, name: str, text: str) -> None:
    """A Delivery of a slash command to its bot (idempotent by the command's id)."""
    key = f"cmd:{command_id}"
    payload = _event(
        kind="command",
        key=key,
        bot=bot,
        conversation=conversation,
        user=user,
        command=f"/{name}",
        text=text,
    )
    Delivery.objects.bulk_create([Delivery(bot_id=bot.pk, key=key, payload=payload)], ignore_conflicts=True)
    wake()


# --------------------------------------------------------------------------- send


def _claim(now) -> tuple[list[Delivery], datetime]:
    """Due deliveries this process now holds, and until when (LEASE_S)."""
    due = list(
        Delivery.objects.filter(state=DeliveryState.PENDING, next_at__lte=now)
        .order_by("next_at", "pk")
        .values_list("pk", "next_at")[:CLAIM_BATCH]
    )
    until = now + timedelta(seconds=LEASE_S)
    mine = []
    for pk, next_at in due:
        if Delivery.objects.filter(pk=pk, state=DeliveryState.PENDING, next_at=next_at).update(
            next_at=until, attempts=F("attempts") + 1
        ):
            mine.append(pk)
    return list(Delivery.objects.select_related("bot__user").filter(pk__in=mine).order_by("pk")), until


@contextmanager
def _renewing(pks: list[int], until: datetime) -> Iterator[None]:
    """Keep the lease on `pks` while the block runs: every LEASE_S / 3 a
    thread moves it on for the rows still pending and still held (a row
    finished, or waiting for its retry, has left the lease and is not
    touched). The block may take as long as its calls do."""
    done = threading.Event()

    def renew() -> None:
        held = until
        try:
            while not done.wait(LEASE_S / 3):
                later = timezone.now() + timedelta(seconds=LEASE_S)
                try:
                    Delivery.objects.filter(pk__in=pks, state=DeliveryState.PENDING, next_at=held).update(next_at=later)
                    held = later
                except Exception:  # the database for a moment: the next round tries again
                    logger.warning("could not renew the lease of %d bot events", len(pks), exc_info=True)
        finally:
            connection.close()

    thread = threading.Thread(target=renew, name="bot-event-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def send_due(*, pool: ThreadPoolExecutor | None = None) -> dict[str, int]:
    """Send what is due (in `pool`, else here); the counts of outcomes. The
    rows stay leased to this worker until each is done (`_renewing`)."""
    claimed, until = _claim(timezone.now())
    if not claimed:
        return {}
    with _renewing([d.pk for d in claimed], until):
        if pool is None:
            outcomes = [_deliver(d) for d in claimed]
        else:
            outcomes = list(pool.map(_deliver_in_thread, claimed))
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _deliver_in_thread(delivery: Delivery) -> str:
    try:
        return _deliver(delivery)
    finally:
        connection.close()


def _deliver(delivery: Delivery) -> str:
    bot = delivery.bot
    # Its owner may have been disabled since the event was planned: it stops with them.
    if not bot.events_url or not User.objects.filter(live(), pk=bot.user_id).exists():
        return _finish(delivery, DeliveryState.FAILED, "the bot has no events URL or is not active")
    payload, why = _as_now(delivery)
    if payload is None:
        return _finish(delivery, DeliveryState.DROPPED, why)
    delivery.payload = payload
    if bot.events_url.startswith(INTERNAL_PREFIX):
        return _deliver_internal(delivery, bot.events_url.removeprefix(INTERNAL_PREFIX))
    body = wire.dumps_bytes(delivery.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Chat-Delivery": delivery.key,
        **signing.signed_headers(bot.signing_secret, body),
    }
    try:
        response = outbound.post_json(bot.events_url, body, headers)
    except outbound.OutboundRefused as exc:
        return _finish(delivery, DeliveryState.FAILED, f"refused: {exc.reason}")
    except outbound.OutboundFailed as exc:
        return _retry(delivery, exc.reason)
    if 200 <= response.status < 300:
        _finish(delivery, DeliveryState.DELIVERED, "")
        _respond(delivery, response.body)
        return "delivered"
    if response.status in (408, 429) or response.status >= 500:
        return _retry(delivery, f"HTTP {response.status}")
    return _finish(delivery, DeliveryState.FAILED, f"HTTP {response.status}")


def _as_now(delivery: Delivery) -> tuple[dict | None, str]:
    """The event as it may be sent now, else (None, why not). Read again at
    every attempt, since a retry may come half an hour after the plan: the
    bot must still be in the conversation (a bot removed from a group hears
    nothing more from it) and, for a message, still able to read it, and it
    must not have been recalled. A message edited since is sent as it is now."""
    payload = delivery.payload
    bot = delivery.bot
    if payload["type"] == "command" and bot.events_url.startswith(INTERNAL_PREFIX):
        # The product's own bots take commands everywhere, in no conversation
        # of theirs: their handler reads as the caller, through the caller's access.
        return payload, ""
    try:
        access = access_conversation(user=bot.user, conversation_id=payload["conversation"]["id"])
    except ChatError:
        access = None
    if access is None or not access.is_current:
        return None, "the bot is no longer in the conversation"
    if payload["type"] == "command":
        return payload, ""
    message = (
        Message.objects.select_related("file")
        .filter(uuid=payload["message"]["id"], conversation_id=access.conversation.pk)
        .first()
    )
    if message is None or not access.first_seq <= message.seq <= access.last_seq:
        return None, "the bot may no longer read the message"
    if message.recalled:
        return None, "the message was recalled"
    current = message_to_wire(
        message, conversation_uuid=payload["conversation"]["id"], sender_wire=payload["message"]["sender"]
    )
    return {**payload, "message": current}, ""


def _deliver_internal(delivery: Delivery, name: str) -> str:
    found = internal.internal_bot(name)
    if found is None:
        return _finish(delivery, DeliveryState.FAILED, f"no internal bot {name!r} in this process")
    try:
        answer = found.handler(delivery.payload)
    except Exception as exc:  # the handler's own failure (its backend down): retried like a URL's
        logger.warning("internal bot %s failed on %s: %s", name, delivery.key, type(exc).__name__)
        return _retry(delivery, f"{name} failed: {type(exc).__name__}")
    _finish(delivery, DeliveryState.DELIVERED, "")
    if answer and isinstance(answer.get("text"), str) and answer["text"].strip():
        # The product's own text: plain already, not Slack's mrkdwn; and
        # charged already, to the asker's own bucket (bots.internal).
        _reply(delivery, answer["text"], answer.get("response_type"), charged=True)
    return "delivered"


def _finish(delivery: Delivery, state: str, error: str) -> str:
    Delivery.objects.filter(pk=delivery.pk).update(state=state, last_error=error[:200])
    if state in (DeliveryState.FAILED, DeliveryState.DROPPED):
        logger.info("bot event %s to bot %s %s: %s", delivery.key, delivery.bot_id, state, error)
    return state


def _retry(delivery: Delivery, error: str) -> str:
    attempts = delivery.attempts  # this one included: the claim counted it
    if attempts >= settings.BOT_EVENT_ATTEMPTS or attempts > len(RETRY_DELAYS_S):
        return _finish(delivery, DeliveryState.FAILED, error)
    wait = RETRY_DELAYS_S[attempts - 1]
    Delivery.objects.filter(pk=delivery.pk).update(
        next_at=timezone.now() + timedelta(seconds=wait), last_error=error[:200]
    )
    return "retried"


# --------------------------------------------------------------------------- answer


def _respond(delivery: Delivery, body: bytes) -> None:
    """Act on a reply in a bot's HTTP answer, if there is one (Slack's shape:
    its mrkdwn, blocks and attachments rendered as plain text)."""
    if not body.strip():
        return
    try:
        answer = wire.loads(body)
    except ValueError:
        return
    if not isinstance(answer, dict):
        return
    try:
        text = slack.render(answer).text
    except slack.SlackPayloadError:
        return
    _reply(delivery, text, answer.get("response_type"))


def _reply(delivery: Delivery, text: str, response_type: object, *, charged: bool = False) -> None:
    """Post `text` as the bot, or show it to the caller alone. `charged`:
    the post was paid for already (an internal bot's answer), else it spends
    the bot's budget."""
    text = text[: settings.MAX_TEXT]
    payload = delivery.payload
    if response_type not in ("ephemeral", "in_channel"):
        response_type = "ephemeral" if payload["type"] == "command" else "in_channel"
    bot = delivery.bot.user
    caller = User.objects.filter(uuid=payload["user"]["id"]).values_list("pk", flat=True).first()
    if response_type == "ephemeral":
        if caller is not None:
            frame = {
                "type": "bot.ephemeral",
                "conversation": payload["conversation"]["id"],
                "bot": user_to_wire(bot),
                "text": text,
                "command": payload.get("command"),
                "created_at": wire.now_iso(),
            }
            # After the caller's `command.ack`, if it has not gone out yet.
            realtime.deliver([caller], realtime.after_envelope(frame))
        return
    reply_to = payload.get("message", {}).get("id") if payload["type"] == "mention" else None
    try:
        if not charged:
            check_send_rate(user=bot)
        draft = check_send_message(
            sender=bot,
            client_msg_id=str(uuid.uuid5(_REPLY_NAMESPACE, delivery.key)),
            kind="text",
            content=text,
            conversation=payload["conversation"]["id"],
            reply_to=reply_to,
        )
        do_send_message(draft=draft)
    except ChatError as exc:
        logger.info("bot %s reply to %s not posted: %s", bot.pk, delivery.key, exc.code)


# --------------------------------------------------------------------------- the loop


def purge_done() -> int:
    cutoff = timezone.now() - KEEP_DONE
    deleted, _ = Delivery.objects.filter(
        state__in=(DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.DROPPED), created_at__lt=cutoff
    ).delete()
    return deleted


class Sender(SendLoop):
    """Sends due events until stopped: a thread of the bots worker (or of the
    embedded server). Idle, it looks every POLL_S seconds."""

    def __init__(self) -> None:
        super().__init__(
            name="bot-event",
            step=lambda pool: send_due(pool=pool),
            concurrency=settings.BOT_EVENT_CONCURRENCY,
            wake=_wake,
            poll_s=POLL_S,
            periodic=[(600, purge_done)],
        )
