"""Who gets a push, when, with what, and sending it.

Two steps, so that a slow push service never holds anything else up:

1. **Plan** (the notifier's bus handlers, `bus_handlers.py`): for a stored
   message, a call or a contact request, decide per recipient and write one
   `PushDelivery` row per subscription, unique per (subscription, thing). A
   record seen twice (a redelivery, a restart) owes nothing more.
2. **Send** (`send_due`, looped by `Sender`): claim due rows with a lease
   (several notifiers share the work), check again that the push is still
   wanted (read meanwhile, muted, left, blocked, quiet hours, the session
   ended), encrypt (RFC 8291) and sign (VAPID, RFC 8292) with pywebpush, POST
   to the push service, and record the answer: 2xx sent; 404/410 the
   subscription is deleted; anything else retried with backoff until the
   push's time to live is over.

Once per message per subscription: planning is unique per key, and a row is
marked `sending` (committed) just before its request goes out. A notifier
killed while requests are in flight leaves those rows `sending`; they are
never sent again (the push may well have arrived: a second one would ring
twice) and are closed as failed "interrupted" when their lease runs out.
Nothing else is lost: rows merely claimed go back to the pool with the lease.

The rules (docs/protocol/rest.md "Notifications"):
- a new text, file or bundle message, a mention, an incoming call and a
  contact request push; never one's own message, a `system` message or a
  silent event;
- push switched off → nothing; the sender blocked by the recipient → nothing;
- a muted chat → nothing, unless the message mentions the recipient (or @all);
- quiet hours → dropped, except calls;
- someone with an online socket (anywhere in the cluster) gets the message
  push only if no socket of theirs read it within PUSH_DELAY_S; a call rings
  their sockets first and pushes after PUSH_DELAY_S if it still rings; a
  contact request reaches their sockets and does not push.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from py_vapid import Vapid02

from accounts.models import User
from calls.models import Call, CallMedia, CallState
from chatsite import metrics, outbound, wire
from chatsite.errors import Invalid
from chatsite.sendloop import SendLoop
from contacts.models import Block, Contact, ContactRequest, RequestStatus
from contacts.presence import store as presence_store
from conversations.models import ConversationKind, Member, Mention, Message, MessageKind
from conversations.selectors import unread_totals
from files.selectors import avatar_url
from notifications.models import NotificationSettings, Preview, PushDelivery, PushKind, PushState, PushSubscription
from notifications.selectors import live_subscriptions, settings_for
from notifications.services import (
    check_endpoint,
    do_remove_ended_subscriptions,
    do_remove_subscription,
    push_allowance,
)

logger = logging.getLogger(__name__)

PUSH_KINDS = (MessageKind.TEXT, MessageKind.FILE, MessageKind.BUNDLE)
CALL_TTL_S = 45
BODY_MAX_BYTES = 1000
BATCH_PER_CONCURRENCY = 4


def lease_s() -> int:
    """How long claimed rows stay ours: a batch is at most
    BATCH_PER_CONCURRENCY rounds of requests, each at most PUSH_TIMEOUT_S."""
    return BATCH_PER_CONCURRENCY * settings.PUSH_TIMEOUT_S + 5


RETRY_MIN_S, RETRY_MAX_S = 5, 600
POLL_S = 0.5


def _now() -> dt.datetime:
    return timezone.now()


# --------------------------------------------------------------------------- the rules


def in_quiet_hours(prefs: NotificationSettings, at: dt.datetime) -> bool:
    if prefs.quiet_start is None or prefs.quiet_end is None or not prefs.quiet_tz:
        return False
    try:
        local = at.astimezone(zoneinfo.ZoneInfo(prefs.quiet_tz)).time().replace(tzinfo=None)
    except zoneinfo.ZoneInfoNotFoundError:
        return False
    start, end = prefs.quiet_start, prefs.quiet_end
    if start < end:
        return start <= local < end
    return local >= start or local < end  # over midnight


def refusal(
    *,
    kind: str,
    prefs: NotificationSettings,
    at: dt.datetime,
    muted: bool = False,
    mentioned: bool = False,
    blocked: bool = False,
) -> str | None:
    """Why this push must not go, or None: the one rule, used when planning
    and again just before sending."""
    if not prefs.push:
        return "push off"
    if blocked:
        return "blocked"
    if kind == PushKind.MESSAGE and muted and not mentioned:
        return "muted"
    if kind != PushKind.CALL and in_quiet_hours(prefs, at):
        return "quiet hours"
    return None


# --------------------------------------------------------------------------- planning


def _online(user_ids: list[int]) -> set[int]:
    if not user_ids:
        return set()
    return {status.user_id for status in presence_store().statuses(user_ids) if status.online}


def _live_subscriptions(user_ids: Iterable[int]) -> list[PushSubscription]:
    return list(live_subscriptions(at=_now()).filter(user_id__in=list(user_ids)))


def _rows(
    subs: list[PushSubscription], *, kind: str, object_id: int, due: dict[int, dt.datetime], ttl_s: int
) -> list[PushDelivery]:
    now = _now()
    return [
        PushDelivery(
            subscription=sub,
            key=f"{kind}:{object_id}",
            kind=kind,
            object_id=object_id,
            due_at=due[sub.user_id],
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )
        for sub in subs
        if sub.user_id in due
    ]


# What planning reads of each subscription of a member, in one query (see plan_messages).
_MEMBER = "user__conversation_states__"
_PREFS = "user__notification_settings__"
_PLAN_FIELDS = (
    "id",
    "user_id",
    f"{_MEMBER}conversation_id",
    f"{_MEMBER}muted",
    f"{_MEMBER}visible_from_seq",
    f"{_MEMBER}read_seq",
    f"{_PREFS}push",
    f"{_PREFS}preview",
    f"{_PREFS}quiet_start",
    f"{_PREFS}quiet_end",
    f"{_PREFS}quiet_tz",
)


def plan_messages(messages: Iterable[Message]) -> int:
    """Pushes owed for stored messages; returns how many rows were written.
    Two or three queries for the whole batch, however many messages: the live
    subscriptions of the conversations' current members with each member's
    state and settings; mentions and blocks only where they can matter."""
    messages = [
        m for m in messages if m.kind in PUSH_KINDS and not m.silent and not m.recalled and m.sender_id is not None
    ]
    if not messages:
        return 0
    now = _now()
    # (subscription id, member state, settings) per conversation, in one query.
    reached: dict[int, list[tuple[int, int, bool, int, int, NotificationSettings]]] = defaultdict(list)
    for (
        sub_id,
        uid,
        conversation_id,
        muted,
        visible_from,
        read,
        push,
        preview,
        q_start,
        q_end,
        q_tz,
    ) in (
        live_subscriptions(at=now)
        .filter(
            **{
                f"{_MEMBER}conversation_id__in": {m.conversation_id for m in messages},
                f"{_MEMBER}left_seq__isnull": True,
            }
        )
        .values_list(*_PLAN_FIELDS)
    ):
        prefs = NotificationSettings(user_id=uid)  # the defaults, for someone who never changed one
        if push is not None:
            prefs = NotificationSettings(
                user_id=uid, push=push, preview=preview, quiet_start=q_start, quiet_end=q_end, quiet_tz=q_tz
            )
        reached[conversation_id].append((sub_id, uid, muted, visible_from, read, prefs))
    user_ids = sorted({row[1] for rows in reached.values() for row in rows})
    if not user_ids:
        return 0
    mentioning = [m.pk for m in messages if m.mentions or m.mention_all]
    mentioned = (
        set(
            Mention.objects.filter(message_id__in=mentioning, user_id__in=user_ids).values_list("message_id", "user_id")
        )
        if mentioning
        else set()
    )
    # A block stops a direct conversation's sends at the door: only groups need the look.
    in_groups = {m.sender_id for m in messages if m.conversation.kind != ConversationKind.DIRECT}
    blocks = (
        set(
            Block.objects.filter(blocker_id__in=user_ids, blocked_id__in=in_groups).values_list(
                "blocker_id", "blocked_id"
            )
        )
        if in_groups
        else set()
    )
    online = _online(user_ids)
    expires = now + dt.timedelta(seconds=settings.PUSH_TTL_S)
    rows: list[PushDelivery] = []
    for message in messages:
        for sub_id, uid, muted, visible_from, read, prefs in reached[message.conversation_id]:
            if uid == message.sender_id or visible_from >= message.seq or read >= message.seq:
                continue
            mention = (message.pk, uid) in mentioned
            why = refusal(
                kind=PushKind.MESSAGE,
                prefs=prefs,
                at=now,
                muted=muted,
                mentioned=mention,
                blocked=(uid, message.sender_id) in blocks,
            )
            if why is None:
                rows.append(
                    PushDelivery(
                        subscription_id=sub_id,
                        key=f"{PushKind.MESSAGE}:{message.pk}",
                        kind=PushKind.MESSAGE,
                        object_id=message.pk,
                        mention=mention,
                        due_at=now + dt.timedelta(seconds=settings.PUSH_DELAY_S if uid in online else 0),
                        expires_at=expires,
                    )
                )
    return _write(rows)


def plan_call(call_id: int) -> int:
    call = Call.objects.filter(pk=call_id, state=CallState.RINGING).first()
    if call is None:
        return 0
    now = _now()
    prefs = settings_for(user_ids=[call.callee_id])[call.callee_id]
    if refusal(kind=PushKind.CALL, prefs=prefs, at=now) is not None:
        return 0
    delay = settings.PUSH_DELAY_S if call.callee_id in _online([call.callee_id]) else 0
    due = {call.callee_id: now + dt.timedelta(seconds=delay)}
    return _write(_rows(_live_subscriptions(due), kind=PushKind.CALL, object_id=call.pk, due=due, ttl_s=CALL_TTL_S))


def plan_contact_request(request_id: int) -> int:
    request = ContactRequest.objects.filter(pk=request_id, status=RequestStatus.PENDING).first()
    if request is None or request.to_user_id in _online([request.to_user_id]):
        return 0
    now = _now()
    prefs = settings_for(user_ids=[request.to_user_id])[request.to_user_id]
    if refusal(kind=PushKind.CONTACT_REQUEST, prefs=prefs, at=now) is not None:
        return 0
    due = {request.to_user_id: now}
    return _write(
        _rows(
            _live_subscriptions(due),
            kind=PushKind.CONTACT_REQUEST,
            object_id=request.pk,
            due=due,
            ttl_s=settings.PUSH_TTL_S,
        )
    )


def _write(rows: list[PushDelivery]) -> int:
    if not rows:
        return 0
    # Idempotent: a row already there for (subscription, key) stays as it is.
    PushDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    metrics.push_planned.inc(len(rows))
    wake()
    return len(rows)


# --------------------------------------------------------------------------- what a push says


@dataclass
class Push:
    delivery: PushDelivery
    payload: dict
    ttl: int
    urgency: str


def _cut(text: str, limit: int = BODY_MAX_BYTES) -> str:
    """At most `limit` UTF-8 bytes, cut at a code-point boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore")


class Batch:
    """What the pushes of one claimed batch need to know, read in a fixed
    number of queries for the whole batch (not per push)."""

    def __init__(self, deliveries: list[PushDelivery]) -> None:
        by_kind: dict[str, set[int]] = defaultdict(set)
        for d in deliveries:
            by_kind[d.kind].add(d.object_id)
        user_ids = sorted({d.subscription.user_id for d in deliveries})
        self.prefs = settings_for(user_ids=user_ids)
        self.messages = (
            {
                m.pk: m
                for m in Message.objects.select_related("conversation__group__avatar", "sender__avatar", "file").filter(
                    pk__in=by_kind[PushKind.MESSAGE]
                )
            }
            if by_kind[PushKind.MESSAGE]
            else {}
        )
        self.calls = (
            {
                c.pk: c
                for c in Call.objects.select_related("caller__avatar", "conversation").filter(
                    pk__in=by_kind[PushKind.CALL]
                )
            }
            if by_kind[PushKind.CALL]
            else {}
        )
        self.requests = (
            {
                r.pk: r
                for r in ContactRequest.objects.select_related("from_user__avatar").filter(
                    pk__in=by_kind[PushKind.CONTACT_REQUEST]
                )
            }
            if by_kind[PushKind.CONTACT_REQUEST]
            else {}
        )
        self.members: dict[tuple[int, int], Member] = {}
        senders = {m.sender_id for m in self.messages.values() if m.sender_id is not None}
        senders |= {c.caller_id for c in self.calls.values()}
        senders |= {r.from_user_id for r in self.requests.values()}
        if self.messages:
            for member in Member.objects.filter(
                conversation_id__in={m.conversation_id for m in self.messages.values()}, user_id__in=user_ids
            ):
                self.members[(member.conversation_id, member.user_id)] = member
        self.blocks: set[tuple[int, int]] = set()
        self.remarks: dict[tuple[int, int], str] = {}
        if senders:
            self.blocks = set(
                Block.objects.filter(blocker_id__in=user_ids, blocked_id__in=senders).values_list(
                    "blocker_id", "blocked_id"
                )
            )
            self.remarks = {
                (owner, other): remark
                for owner, other, remark in Contact.objects.filter(owner_id__in=user_ids, other_id__in=senders)
                .exclude(remark="")
                .values_list("owner_id", "other_id", "remark")
            }
        self.unread = unread_totals(user_ids=user_ids)

    def name(self, *, reader_id: int, user: User | None) -> str:
        if user is None:
            return _("Someone")
        return self.remarks.get((reader_id, user.pk)) or user.display_name or _("Someone")


def _summary(message: Message) -> str:
    if message.kind == MessageKind.TEXT:
        return message.text or ""
    if message.kind == MessageKind.FILE:
        file = message.file
        if file is not None and (file.mime or "").startswith("image/"):
            return _("[Picture]")
        return _("[File] %(name)s") % {"name": file.name if file is not None else ""}
    return _("[Chat history]")


def _message_push(batch: Batch, delivery: PushDelivery, user: User, now: dt.datetime) -> dict | str:
    prefs = batch.prefs[user.pk]
    message = batch.messages.get(delivery.object_id)
    if message is None or message.recalled:
        return "recalled"
    member = batch.members.get((message.conversation_id, user.pk))
    if member is None or member.left_seq is not None or member.visible_from_seq >= message.seq:
        return "not a member"
    if member.read_seq >= message.seq:
        return "read"
    why = refusal(
        kind=PushKind.MESSAGE,
        prefs=prefs,
        at=now,
        muted=member.muted,
        mentioned=delivery.mention,
        blocked=(user.pk, message.sender_id) in batch.blocks,
    )
    if why is not None:
        return why
    conversation = message.conversation
    sender = batch.name(reader_id=user.pk, user=message.sender)
    group = getattr(conversation, "group", None) if conversation.kind == ConversationKind.GROUP else None
    if group is not None and group.status != "active":
        return "group disabled"
    icon = avatar_url(group.avatar if group is not None else (message.sender.avatar if message.sender else None))
    if prefs.preview == Preview.NONE:
        title, body, icon = _("New message"), "", None
    else:
        if prefs.preview == Preview.FULL:
            what = _summary(message)
            if delivery.mention:
                what = _("[Mentioned you] %(text)s") % {"text": what}
        else:
            what = _("Sent a message")
        title = group.name if group is not None else sender
        body = f"{sender}: {what}" if group is not None else what
    return _payload(
        "message", conversation=conversation, message=message, title=title, body=body, icon=icon, seq=message.seq
    )


def _call_push(batch: Batch, delivery: PushDelivery, user: User, now: dt.datetime) -> dict | str:
    prefs = batch.prefs[user.pk]
    call = batch.calls.get(delivery.object_id)
    if call is None or call.state != CallState.RINGING:
        return "call over"
    why = refusal(kind=PushKind.CALL, prefs=prefs, at=now, blocked=(user.pk, call.caller_id) in batch.blocks)
    if why is not None:
        return why
    if prefs.preview == Preview.NONE:
        title, body, icon = _("Incoming call"), "", None
    else:
        title = batch.name(reader_id=user.pk, user=call.caller)
        body = _("Incoming video call") if call.media == CallMedia.VIDEO else _("Incoming voice call")
        icon = avatar_url(call.caller.avatar)
    return _payload(
        "call", conversation=call.conversation, message=None, call=str(call.uuid), title=title, body=body, icon=icon
    )


def _request_push(batch: Batch, delivery: PushDelivery, user: User, now: dt.datetime) -> dict | str:
    prefs = batch.prefs[user.pk]
    request = batch.requests.get(delivery.object_id)
    if request is None or request.status != RequestStatus.PENDING:
        return "answered"
    why = refusal(
        kind=PushKind.CONTACT_REQUEST, prefs=prefs, at=now, blocked=(user.pk, request.from_user_id) in batch.blocks
    )
    if why is not None:
        return why
    if prefs.preview == Preview.NONE:
        title, body, icon = _("New contact request"), "", None
    else:
        title = request.from_user.display_name
        asks = _("Wants to add you as a contact")
        body = (request.message or asks) if prefs.preview == Preview.FULL else asks
        icon = avatar_url(request.from_user.avatar)
    return _payload("contact_request", conversation=None, message=None, title=title, body=body, icon=icon)


def _payload(kind: str, *, conversation, message, title: str, body: str, icon: str | None, **extra) -> dict:
    """The push's JSON (docs/protocol/rest.md "The payload"); `unread` is added by prepare."""
    return {
        "type": kind,
        "conversation": str(conversation.uuid) if conversation is not None else None,
        "message": str(message.uuid) if message is not None else None,
        **extra,
        "title": title,
        "body": body,
        "icon": icon,
    }


_BUILDERS = {PushKind.MESSAGE: _message_push, PushKind.CALL: _call_push, PushKind.CONTACT_REQUEST: _request_push}


def prepare(batch: Batch, delivery: PushDelivery, now: dt.datetime) -> Push | str:
    """The push to send now, or why it is no longer wanted."""
    sub = delivery.subscription
    session = sub.session
    if session.revoked_at is not None or session.expires_at <= now:
        return "session ended"
    user = sub.user
    if not user.is_active:
        return "user not active"
    with translation.override(user.language or settings.LANGUAGE_CODE):
        built = _BUILDERS[delivery.kind](batch, delivery, user, now)
    if isinstance(built, str):
        return built
    built["title"] = _cut(built["title"], 200)
    built["body"] = _cut(built["body"])
    built["unread"] = batch.unread.get(user.pk, 0)
    left = int((delivery.expires_at - now).total_seconds())
    return Push(
        delivery=delivery,
        payload=built,
        ttl=max(0, left),
        urgency="high" if delivery.kind == PushKind.CALL else "normal",
    )


# --------------------------------------------------------------------------- sending


_local = threading.local()
_vapid_lock = threading.Lock()
_vapid_headers: dict[str, tuple[float, dict]] = {}


def _session() -> requests.Session:
    """This thread's pooled session to the push services: every connection it
    opens goes to an address checked public when it was resolved (no DNS
    rebinding between the check and the connect), and no redirect is
    followed (chatsite.outbound)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = outbound.vetted_session(push_allowance)
    return session


def _vapid_for(endpoint: str) -> dict:
    """The VAPID Authorization header for an endpoint's origin, signed once
    per origin and reused for an hour (the JWT is valid for 12)."""
    parts = requests.utils.urlparse(endpoint)
    aud = f"{parts.scheme}://{parts.netloc}"
    now = time.time()
    with _vapid_lock:
        cached = _vapid_headers.get(aud)
        if cached is not None and cached[0] > now:
            return dict(cached[1])
    key = Vapid02.from_string(settings.VAPID_PRIVATE_KEY)
    headers = key.sign({"sub": settings.VAPID_SUBJECT, "aud": aud, "exp": int(now) + 12 * 3600})
    with _vapid_lock:
        _vapid_headers[aud] = (now + 3600, headers)
    return dict(headers)


@dataclass
class Outcome:
    status: int | None  # the push service's answer; None: no answer
    error: str = ""
    retry_after: float | None = None
    unsendable: bool = False  # failed before any request: trying again changes nothing


def post(push: Push) -> Outcome:
    """One request to the push service (the only network I/O here). Never
    raises: whatever goes wrong with one push (a browser's key that cannot be
    encrypted to, a bug) is that push's failure, not its batch's."""
    try:
        return _post(push)
    except Exception as exc:
        logger.warning("push %s could not be sent", push.delivery.pk, exc_info=True)
        return Outcome(status=None, error=f"{type(exc).__name__}: {exc}"[:200], unsendable=True)


def _post(push: Push) -> Outcome:
    sub = push.delivery.subscription
    try:
        check_endpoint(sub.endpoint)
    except Invalid as exc:
        return Outcome(status=None, error=f"refused endpoint: {exc.message}"[:200])
    # Imported here: pywebpush (and aiohttp under it) only loads in the process
    # that sends pushes (the notifier), not in every server and worker.
    from pywebpush import WebPusher

    headers = {"Urgency": push.urgency, **_vapid_for(sub.endpoint)}
    pusher = WebPusher(
        {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}, requests_session=_session()
    )
    try:
        response = pusher.send(
            wire.dumps(push.payload),
            headers,
            ttl=push.ttl,
            content_encoding="aes128gcm",
            timeout=settings.PUSH_TIMEOUT_S,
        )
    except requests.RequestException as exc:
        if refused := outbound.refusal(exc):  # DNS said public, then not: nothing was sent
            return Outcome(status=None, error=f"refused endpoint: {refused}")
        return Outcome(status=None, error=f"{type(exc).__name__}: {exc}"[:200])
    retry_after = None
    raw = response.headers.get("Retry-After")
    if raw and raw.isdigit():
        retry_after = float(raw)
    return Outcome(
        status=response.status_code, error="" if response.ok else response.text[:200], retry_after=retry_after
    )


def _claim(now: dt.datetime, limit: int) -> list[PushDelivery]:
    """Take due rows with a lease: a row leased by another notifier is left to it
    until the lease runs out (that notifier died mid-send)."""
    interrupted = PushDelivery.objects.filter(state=PushState.SENDING, lease_until__lt=now).update(
        state=PushState.FAILED, done_at=now, lease_until=None, last_error="interrupted"
    )
    if interrupted:
        logger.warning("%d pushes were in flight when a notifier stopped: not sent again", interrupted)
        metrics.push_failed.labels("interrupted").inc(interrupted)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    ids = list(
        PushDelivery.objects.filter(free, state=PushState.PENDING, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return []
    token = secrets.token_hex(8)
    PushDelivery.objects.filter(free, id__in=ids, state=PushState.PENDING).update(
        lease_until=now + dt.timedelta(seconds=lease_s()), lease_token=token
    )
    return list(
        PushDelivery.objects.select_related("subscription__session", "subscription__user").filter(
            id__in=ids, lease_token=token, state=PushState.PENDING
        )
    )


def _retry(delivery: PushDelivery, outcome: Outcome, now: dt.datetime) -> bool:
    """Schedule the next try (exponential backoff, or the push service's
    Retry-After); False when the push's time to live is over."""
    wait = min(RETRY_MAX_S, RETRY_MIN_S * 2 ** (delivery.attempts - 1))
    if outcome.retry_after is not None:
        wait = max(wait, min(outcome.retry_after, RETRY_MAX_S * 6))
    due = now + dt.timedelta(seconds=wait)
    if due >= delivery.expires_at:
        return False
    PushDelivery.objects.filter(pk=delivery.pk, lease_token=delivery.lease_token).update(
        state=PushState.PENDING,
        due_at=due,
        lease_until=None,
        attempts=delivery.attempts,
        last_status=outcome.status,
        last_error=outcome.error[:200],
    )
    return True


def _record(push: Push, outcome: Outcome) -> str:
    """A push the push service did not take: gone, refused, or to retry."""
    delivery = push.delivery
    now = _now()
    if outcome.status in (404, 410):
        # The browser unsubscribed or the subscription expired: it is gone for good.
        do_remove_subscription(
            subscription_id=delivery.subscription_id, reason=f"push service answered {outcome.status}"
        )
        metrics.push_failed.labels("gone").inc()
        return "gone"
    if outcome.unsendable:
        _finish_many([delivery], PushState.FAILED, error=outcome.error)
        metrics.push_failed.labels("unsendable").inc()
        return "failed"
    if outcome.status in (400, 401, 403, 413):
        # Our request is wrong for this subscription (a key mismatch, too large): retrying changes nothing.
        _finish_many([delivery], PushState.FAILED, status=outcome.status, error=outcome.error)
        metrics.push_failed.labels("refused").inc()
        logger.warning("push %s refused with %s: %s", delivery.pk, outcome.status, outcome.error)
        return "failed"
    if _retry(delivery, outcome, now):
        metrics.push_retried.inc()
        return "retry"
    _finish_many([delivery], PushState.FAILED, status=outcome.status, error=outcome.error or "expired")
    metrics.push_failed.labels("expired").inc()
    return "failed"


def _finish_many(deliveries: list[PushDelivery], state: str, *, status: int | None = None, error: str = "") -> None:
    """Close rows of one claim (one UPDATE): sent, dropped or failed."""
    if deliveries:
        PushDelivery.objects.filter(id__in=[d.pk for d in deliveries], lease_token=deliveries[0].lease_token).update(
            state=state,
            done_at=_now(),
            lease_until=None,
            last_status=status,
            last_error=error[:200],
            attempts=F("attempts") + 1,
        )


def send_due(*, limit: int | None = None, pool: ThreadPoolExecutor | None = None) -> dict[str, int]:
    """Send what is due now; returns counts per result (sent, retry, gone,
    failed, dropped). Requests run on `pool`, PUSH_CONCURRENCY at a time.
    The database work is per batch, not per push: one read of what the batch
    needs (Batch), one UPDATE per outcome."""
    now = _now()
    width = settings.PUSH_CONCURRENCY
    counts: dict[str, int] = defaultdict(int)
    live: list[PushDelivery] = []
    expired: list[PushDelivery] = []
    for delivery in _claim(now, limit or width * BATCH_PER_CONCURRENCY):
        delivery.attempts += 1
        (expired if delivery.expires_at <= now else live).append(delivery)
    _finish_many(expired, PushState.FAILED, error="expired")
    counts["failed"] += len(expired)
    pushes: list[Push] = []
    dropped: dict[str, list[PushDelivery]] = defaultdict(list)
    if live:
        batch = Batch(live)
        for delivery in live:
            prepared = prepare(batch, delivery, now)
            if isinstance(prepared, str):
                dropped[prepared].append(delivery)
            else:
                pushes.append(prepared)
    for reason, rows in dropped.items():
        _finish_many(rows, PushState.DROPPED, error=reason)
        metrics.push_dropped.inc(len(rows))
        counts["dropped"] += len(rows)
    for start in range(0, len(pushes), width):
        chunk = _mark_sending(pushes[start : start + width])
        outcomes = list(pool.map(post, chunk)) if pool is not None else [post(p) for p in chunk]
        taken: dict[int, list[PushDelivery]] = defaultdict(list)
        for push, outcome in zip(chunk, outcomes, strict=True):
            if outcome.status is not None and 200 <= outcome.status < 300:
                taken[outcome.status].append(push.delivery)
                metrics.push_sent.labels(push.delivery.kind).inc()
                counts["sent"] += 1
                continue
            with transaction.atomic():
                counts[_record(push, outcome)] += 1
        for status, rows in taken.items():
            _finish_many(rows, PushState.SENT, status=status)
    return {k: v for k, v in counts.items() if v}


def _mark_sending(pushes: list[Push]) -> list[Push]:
    """Mark the rows in flight (committed before any request leaves); only
    those still ours: a row whose lease ran out may be another notifier's now."""
    if not pushes:
        return []
    ids = [p.delivery.pk for p in pushes]
    token = pushes[0].delivery.lease_token
    PushDelivery.objects.filter(id__in=ids, lease_token=token, state=PushState.PENDING).update(state=PushState.SENDING)
    ours = set(
        PushDelivery.objects.filter(id__in=ids, lease_token=token, state=PushState.SENDING).values_list("id", flat=True)
    )
    return [p for p in pushes if p.delivery.pk in ours]


DONE_KEPT_DAYS = 7


def purge_done(*, older_than_days: int = DONE_KEPT_DAYS) -> int:
    """Forget finished pushes after a week (they only answer "was it sent?")."""
    cutoff = _now() - dt.timedelta(days=older_than_days)
    ids = list(PushDelivery.objects.filter(done_at__lt=cutoff).values_list("id", flat=True)[:5000])
    return PushDelivery.objects.filter(id__in=ids).delete()[0] if ids else 0


def backlog() -> int:
    return PushDelivery.objects.filter(state=PushState.PENDING, due_at__lte=_now()).count()


# --------------------------------------------------------------------------- the loop

_wake = threading.Event()


def wake() -> None:
    """Something was planned: a sender in this process looks now, not at its next poll."""
    _wake.set()


class Sender(SendLoop):
    """Sends due pushes until stopped: a thread of the notifier process (or of
    the embedded server). Idle, it looks every POLL_S seconds."""

    def __init__(self) -> None:
        super().__init__(
            name="push",
            step=lambda pool: send_due(pool=pool),
            concurrency=settings.PUSH_CONCURRENCY,
            wake=_wake,
            poll_s=POLL_S,
            periodic=[
                (5, lambda: metrics.push_backlog.set(backlog())),
                (600, purge_done),
                (600, do_remove_ended_subscriptions),
            ],
        )
