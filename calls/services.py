"""Calls: the one state machine (docs/calls.md).

    ringing ──accept──► active ──hangup──► ended completed
       │                  └── a party without a socket for the grace ──► ended failed
       ├──reject──► ended rejected       (the callee)
       ├──cancel──► ended cancelled      (the caller)
       ├──no answer by ring_deadline ──► ended missed
       └──the caller without a socket for the grace ──► ended failed
    (busy: the attempt is stored directly as ended busy; a party's account
    disabled or deleted, or the two no longer contacts: ended at once)

Every call frame handler and the sweeper go through these functions. Each
transition runs in one transaction holding the call's row lock and is written
with a conditional UPDATE (`state` still the one read), so whichever of two
nodes, two sockets or a socket and the sweeper comes second finds the new
state and changes nothing: a call ends exactly once, and its `kind: "call"`
message is stored in that same transaction. Frames are scheduled for commit
with the recipients computed here; nothing in a client's frame names a
recipient: the server relays between the two parties of the call only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User, UserStatus
from accounts.serializers import user_to_wire
from calls.models import LIVE_STATES, Call, CallMedia, CallOutcome, CallSlot, CallState, SlotRole
from chatsite import kv, realtime, wire
from chatsite.errors import Busy, Forbidden, Invalid, NotFound, RateLimited, TooLarge
from chatsite.errors import CallState as CallStateError
from chatsite.events import deliver_envelopes_on_commit, notify_on_commit
from contacts.models import Contact
from contacts.selectors import check_may_talk, display_name
from conversations.members import ensure_direct_conversation
from conversations.models import Conversation
from conversations.services import post_call_message

logger = logging.getLogger(__name__)

# Caller candidates held before the answer, at most (a browser gathers a few dozen).
MAX_HELD_CANDIDATES = 100
REASON_MAX = 64
# `reason` of the `call.ended` the server sends when it ends a call because an
# administrator disabled or deleted a party's account.
REASON_ACCOUNT_DISABLED = "account_disabled"
REASON_ACCOUNT_DELETED = "account_deleted"
CANDIDATE_FIELDS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})

Envelopes = list[tuple[list[int], bytes]]


# --------------------------------------------------------------------------- rates


async def acheck_signal_rate(*, user_id: int) -> None:
    """One token from the user's call-signal bucket (every call.* frame, all
    sockets together; separate from the message and frame buckets)."""
    decision = await kv.store().atoken_bucket(
        f"callsig:{user_id}", rate=settings.LIMIT_CALL_SIGNALS_PER_S, burst=settings.LIMIT_CALL_SIGNALS_BURST
    )
    if not decision.allowed:
        raise RateLimited(gettext("Too many call signals; slow down."), retry_after=decision.retry_after)


async def acheck_invite_rate(*, user_id: int) -> None:
    """Invitations per user per minute (each one rings someone and writes a record)."""
    per_min = settings.LIMIT_CALL_INVITES_PER_MIN
    decision = await kv.store().atoken_bucket(f"callinv:{user_id}", rate=per_min / 60, burst=per_min)
    if not decision.allowed:
        raise RateLimited(gettext("Too many calls; try again later."), retry_after=decision.retry_after)


# --------------------------------------------------------------------------- input shapes


def _size(value: dict) -> int:
    # Only for objects whose fields were checked to be strings, integers or
    # null: the encoder refuses nesting deeper than 255, and a frame may nest
    # up to 1024 (chatsite.wire.loads).
    return len(wire.dumps_bytes(value))


def clean_sdp(value: object, *, kind: str) -> dict:
    """An RTCSessionDescriptionInit `{"type": kind, "sdp": str}` of at most MAX_CALL_SDP_BYTES."""
    if not isinstance(value, dict):
        raise Invalid.field("sdp", gettext('An RTCSessionDescriptionInit object: {"type", "sdp"}.'))
    if set(value) - {"type", "sdp"}:
        raise Invalid.field("sdp", gettext('Only the fields "type" and "sdp".'))
    if value.get("type") != kind:
        raise Invalid.field("sdp", gettext('`type` must be "%(kind)s".') % {"kind": kind})
    text = value.get("sdp")
    if not isinstance(text, str):
        raise Invalid.field("sdp", gettext("`sdp` must be a non-empty string without NUL characters."))
    if _size(value) > settings.MAX_CALL_SDP_BYTES:
        raise TooLarge(
            gettext("A session description may be at most %(max_call_sdp_bytes)s bytes.")
            % {"max_call_sdp_bytes": settings.MAX_CALL_SDP_BYTES}
        )
    if not text.strip() or "\x00" in text:
        raise Invalid.field("sdp", gettext("`sdp` must be a non-empty string without NUL characters."))
    return {"type": kind, "sdp": text}


def clean_candidate(value: object) -> dict:
    """An RTCIceCandidateInit of at most MAX_CALL_CANDIDATE_BYTES (`candidate` ""
    is the end-of-candidates marker)."""
    if not isinstance(value, dict):
        raise Invalid.field("candidate", gettext("An RTCIceCandidateInit object."))
    if set(value) - CANDIDATE_FIELDS:
        raise Invalid.field("candidate", gettext("Only candidate, sdpMid, sdpMLineIndex and usernameFragment."))
    text = value.get("candidate")
    if not isinstance(text, str) or "\x00" in text:
        raise Invalid.field("candidate", gettext("`candidate` must be a string."))
    for name in ("sdpMid", "usernameFragment"):
        field = value.get(name)
        if field is not None and (not isinstance(field, str) or "\x00" in field):
            raise Invalid.field("candidate", gettext("`%(name)s` must be a string or null.") % {"name": name})
    index = value.get("sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= 65535):
        raise Invalid.field("candidate", gettext("`sdpMLineIndex` must be an integer from 0 to 65535, or null."))
    if _size(value) > settings.MAX_CALL_CANDIDATE_BYTES:
        raise TooLarge(
            gettext("A candidate may be at most %(max_call_candidate_bytes)s bytes.")
            % {"max_call_candidate_bytes": settings.MAX_CALL_CANDIDATE_BYTES}
        )
    return {name: value[name] for name in ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment") if name in value}


def _clean_media(value: object) -> str:
    if value not in CallMedia.values:
        raise Invalid.field("media", gettext('Must be "audio" or "video".'))
    return value  # type: ignore[return-value]


def _clean_reason(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > REASON_MAX or "\x00" in value:
        raise Invalid.field(
            "reason", gettext("A string of at most %(reason_max)s characters.") % {"reason_max": REASON_MAX}
        )
    return value


def _parse_call_id(value: object):
    parsed = wire.parse_uuid(value.lower() if isinstance(value, str) else value)
    if parsed is None:
        raise Invalid.field("call_id", gettext("Must be a call id."))
    return parsed


# --------------------------------------------------------------------------- frames


def ended_frame(call: Call, *, by_uuid: str | None) -> dict:
    """`call.ended` for an ended call, with the `reason` it ended with, if any
    (the same frame whether sent at the end or repeated to a new socket)."""
    frame = {
        "type": "call.ended",
        "call_id": str(call.uuid),
        "by": by_uuid,
        "outcome": call.outcome,
        "duration_s": call.duration_s,
    }
    if call.end_reason:
        frame["reason"] = call.end_reason
    return frame


def incoming_frame(call: Call, *, caller: User) -> dict:
    return {
        "type": "call.incoming",
        "call_id": str(call.uuid),
        "from": user_to_wire(caller),
        "media": call.media,
        "sdp": call.offer,
    }


def _to_user(user_id: int, frame: dict, *, socket_id: str | None = None, ref: str | None = None) -> tuple:
    """Every socket of the user; the one socket `socket_id` (the sender) gets the copy with `ref`."""
    if socket_id:
        return [user_id], realtime.split_envelope(socket_id, {**frame, "ref": ref}, frame)
    return [user_id], realtime.frame_envelope(frame)


def _to_socket(user_id: int, socket_id: str, frame: dict) -> tuple:
    """Only that socket of the user, on whichever node holds it."""
    return [user_id], realtime.split_envelope(socket_id, frame, None)


# --------------------------------------------------------------------------- reading a call


def _is_party(call: Call, user_id: int) -> bool:
    if user_id == call.caller_id:
        return True
    # The callee never learns of a busy attempt: for them it does not exist.
    return user_id == call.callee_id and call.outcome != CallOutcome.BUSY


def _locked_call(*, user: User, call_id: object) -> Call:
    """The call, locked for this transaction, if `user` is a party to it;
    anything else is `not_found` (existence never leaks)."""
    uuid = _parse_call_id(call_id)
    # No select_related: FOR UPDATE would lock the joined user rows too.
    call = Call.objects.select_for_update().filter(uuid=uuid).first()
    if call is None or not _is_party(call, user.pk):
        raise NotFound(gettext("No such call."))
    return call


# Who may answer a call in which state: (the party, the state it must be in,
# what the wrong party is told, what a call in another state answers).
_SIGNALS = {
    "accept": ("callee", CallState.RINGING, "Only the person called can accept.", "This call is no longer ringing."),
    "reject": (
        "callee",
        CallState.RINGING,
        "Only the person called can reject; the caller cancels.",
        "This call is no longer ringing.",
    ),
    "cancel": (
        "caller",
        CallState.RINGING,
        "Only the caller can cancel; the person called rejects.",
        "Only a ringing call can be cancelled.",
    ),
    "hangup": (None, CallState.ACTIVE, "", "Only an active call can be hung up; cancel or reject a ringing one."),
}


def _locked_for(signal: str, *, user: User, call_id: object) -> Call:
    """The call, locked, if `signal` from `user` fits it (`_SIGNALS`); `call_state` otherwise."""
    party, state, wrong_party, wrong_state = _SIGNALS[signal]
    call = _locked_call(user=user, call_id=call_id)
    if party is not None and getattr(call, f"{party}_id") != user.pk:
        raise CallStateError(wrong_party)
    if call.state != state:
        raise CallStateError(wrong_state)
    return call


def _transition(call: Call, **changes) -> None:
    """Write a transition only if the call is still in the state we read under the lock."""
    if not Call.objects.filter(pk=call.pk, state=call.state).update(**changes):
        raise CallStateError("The call changed state meanwhile.")
    for name, value in changes.items():
        setattr(call, name, value)


# --------------------------------------------------------------------------- invite


@dataclass(frozen=True)
class InviteDraft:
    callee: User
    callee_name: str  # as the caller knows the callee: their remark, else the nickname
    media: str
    offer: dict
    conversation_id: int | None


def check_invite_call(*, caller: User, to: object, media: object, sdp: object) -> InviteDraft:
    """Validate and authorise a call from `caller`; writes nothing. The callee
    must be an active contact and neither may block the other; bots take no
    part in calls (nobody answers: `forbidden`)."""
    media = _clean_media(media)
    offer = clean_sdp(sdp, kind="offer")
    callee_uuid = wire.parse_uuid(to.lower() if isinstance(to, str) else to)
    if callee_uuid is None:
        raise Invalid.field("to", gettext("Must be a user id."))
    callee = User.objects.select_related("avatar").filter(uuid=callee_uuid).first()
    if callee is None or not callee.is_active:
        raise NotFound(gettext("No such user."))
    if callee.pk == caller.pk:
        raise Invalid.field("to", gettext("You cannot call yourself."))
    if caller.is_bot or callee.is_bot:
        raise Forbidden(gettext("Bots cannot take part in calls."))
    check_may_talk(user_id=caller.pk, other_id=callee.pk)
    contact = Contact.objects.filter(owner=caller, other=callee).only("id", "conversation_id", "remark").get()
    contact.other = callee  # already loaded: display_name reads it without a query
    return InviteDraft(
        callee=callee,
        callee_name=display_name(contact),
        media=media,
        offer=offer,
        conversation_id=contact.conversation_id,
    )


def do_invite_call(
    *,
    caller: User,
    to: object,
    media: object,
    sdp: object,
    socket_id: str,
    ref: str | None,
    session_id: str | None = None,
) -> Call:
    """Start a call from the socket `socket_id` (the caller's media endpoint,
    of the login session `session_id`).

    The two CallSlot rows are inserted in the transaction that creates the
    call; the unique user column makes the database refuse them when either
    user is already in a ringing or active call on any node. Then the attempt
    is stored as ended `busy` (no call message), the caller's sockets get
    `call.ended`, and `Busy` is raised after the commit. Otherwise the
    caller's sockets get `call.ringing` (the inviting one with `ref`) and
    every socket of the callee `call.incoming`."""
    draft = check_invite_call(caller=caller, to=to, media=media, sdp=sdp)
    callee = draft.callee
    now = timezone.now()
    with transaction.atomic():
        call = Call.objects.create(
            caller=caller,
            callee=callee,
            conversation_id=draft.conversation_id,
            media=draft.media,
            started_at=now,
            ring_deadline=now + dt.timedelta(seconds=settings.CALL_RING_TIMEOUT_S),
            caller_socket=socket_id,
            caller_session=session_id or "",
            caller_seen_at=now,
            offer=draft.offer,
        )
        slots = [
            CallSlot(user=caller, call=call, role=SlotRole.CALLER, seen_at=now),
            CallSlot(user=callee, call=call, role=SlotRole.CALLEE, seen_at=now),
        ]
        try:
            with transaction.atomic():
                # In user order, so that A calling B while B calls A cannot deadlock.
                CallSlot.objects.bulk_create(sorted(slots, key=lambda s: s.user_id))
        except IntegrityError:
            busy = True
            # Whose call is in the way: the caller's own (another tab, a call
            # not ended yet) is not the callee's fault.
            caller_busy = CallSlot.objects.filter(user=caller).exists()
            _transition(
                call,
                state=CallState.ENDED,
                outcome=CallOutcome.BUSY,
                ended_at=now,
                ring_deadline=None,
                caller_socket="",
                caller_session="",
                offer=None,
            )
            deliver_envelopes_on_commit(
                [_to_user(caller.pk, ended_frame(call, by_uuid=None), socket_id=socket_id, ref=ref)]
            )
        else:
            busy = False
            ringing = {"type": "call.ringing", "call_id": str(call.uuid), "to": user_to_wire(callee)}
            deliver_envelopes_on_commit(
                [
                    _to_user(caller.pk, ringing, socket_id=socket_id, ref=ref),
                    ([callee.pk], realtime.frame_envelope(incoming_frame(call, caller=caller))),
                ]
            )
            # A callee with no app open hears of it by push (notifications).
            notify_on_commit(kind="call", object_id=call.pk, key=str(call.uuid))
    if busy:
        logger.info("call %s busy: caller=%s callee=%s", call.uuid, caller.pk, callee.pk)
        if caller_busy:
            raise Busy(gettext("You are already in a call."))
        raise Busy(gettext("%(name)s is already in a call.") % {"name": draft.callee_name})
    logger.info("call %s ringing: caller=%s callee=%s media=%s", call.uuid, caller.pk, callee.pk, call.media)
    return call


# --------------------------------------------------------------------------- accept and signals


def do_accept_call(
    *, user: User, call_id: object, sdp: object, socket_id: str, ref: str | None, session_id: str | None = None
) -> Call:
    """The callee answers from `socket_id`, which becomes the callee's media
    endpoint. The first accept wins (row lock + conditional update); a later
    one gets `call_state`. The two must still be able to talk (`not_contact`,
    `blocked`: a removal or a block ends the call, this closes any gap) and
    the caller's account must be active (`not_found`, as for an invite to an
    inactive user). The caller's inviting socket gets `call.accepted`
    with the answer and the caller's other sockets without it; the accepting
    socket gets `call.accepted` (with `ref`) and then the caller's held
    candidates; the callee's other sockets get `call.answered_elsewhere`."""
    answer = clean_sdp(sdp, kind="answer")
    with transaction.atomic():
        call = _locked_for("accept", user=user, call_id=call_id)
        caller_uuid, caller_status = User.objects.filter(pk=call.caller_id).values_list("uuid", "status").get()
        if caller_status != UserStatus.ACTIVE:
            raise NotFound(gettext("No such user."))
        check_may_talk(user_id=user.pk, other_id=call.caller_id)
        held = list(call.held_candidates or [])
        now = timezone.now()
        _transition(
            call,
            state=CallState.ACTIVE,
            answered_at=now,
            callee_socket=socket_id,
            callee_session=session_id or "",
            callee_seen_at=now,
            ring_deadline=None,
            offer=None,
            held_candidates=[],
        )
        CallSlot.objects.filter(call=call, role=SlotRole.CALLEE).update(seen_at=now)
        cid = str(call.uuid)
        with_answer = {"type": "call.accepted", "call_id": cid, "sdp": answer}
        plain = {"type": "call.accepted", "call_id": cid}
        if call.caller_socket:
            to_caller = ([call.caller_id], realtime.split_envelope(call.caller_socket, with_answer, plain))
        else:  # the inviting socket is gone: whichever caller socket rebinds needs it
            to_caller = ([call.caller_id], realtime.frame_envelope(with_answer))
        envelopes: Envelopes = [
            to_caller,
            (
                [user.pk],
                realtime.split_envelope(
                    socket_id, {**plain, "ref": ref}, {"type": "call.answered_elsewhere", "call_id": cid}
                ),
            ),
        ]
        if held:
            envelopes += [
                _to_socket(
                    user.pk, socket_id, {"type": "call.ice", "call_id": cid, "from": str(caller_uuid), "candidate": c}
                )
                for c in held
            ]
        deliver_envelopes_on_commit(envelopes)
    logger.info("call %s active", call.uuid)
    return call


def do_relay_candidate(
    *, user: User, call_id: object, candidate: object, socket_id: str, session_id: str | None = None
) -> Call:
    """Relay an ICE candidate from the sender's media endpoint to the other
    party's, and nowhere else. Before the answer only the caller sends them,
    and they are held for the socket that accepts. A sender whose endpoint
    socket has closed, or whose server process stopped renewing it (a node
    that died: `_endpoint_is_quiet`), takes the endpoint over with this
    socket; while it is open, another socket of the same user gets `call_state`."""
    cand = clean_candidate(candidate)
    with transaction.atomic():
        call = _locked_call(user=user, call_id=call_id)
        is_caller = user.pk == call.caller_id
        role = "caller" if is_caller else "callee"
        own_field = f"{role}_socket"
        own_socket = getattr(call, own_field)
        if call.state == CallState.ENDED:
            raise CallStateError("This call has ended.")
        if call.state == CallState.RINGING and not is_caller:
            raise CallStateError("Accept the call before sending candidates.")
        now = timezone.now()
        if own_socket and own_socket != socket_id and not _endpoint_is_quiet(call, role, now=now):
            raise CallStateError("This call's media is on another of your devices.")
        changes: dict = {}
        if own_socket != socket_id:
            changes = {own_field: socket_id, f"{role}_session": session_id or "", f"{role}_seen_at": now}
        if call.state == CallState.RINGING:
            held = list(call.held_candidates or [])
            if len(held) >= MAX_HELD_CANDIDATES:
                raise TooLarge(
                    gettext("At most %(max_held_candidates)s candidates before the answer.")
                    % {"max_held_candidates": MAX_HELD_CANDIDATES}
                )
            _transition(call, held_candidates=[*held, cand], **changes)
            return call
        if changes:
            _transition(call, **changes)
        peer_id, peer_socket = (
            (call.callee_id, call.callee_socket) if is_caller else (call.caller_id, call.caller_socket)
        )
        if peer_socket:  # else the peer's endpoint is reconnecting: its ICE restart recovers
            frame = {"type": "call.ice", "call_id": str(call.uuid), "from": str(user.uuid), "candidate": cand}
            deliver_envelopes_on_commit([_to_socket(peer_id, peer_socket, frame)])
    return call


# --------------------------------------------------------------------------- ending


def _end_call(
    call: Call,
    *,
    outcome: str,
    by: User | None,
    now: dt.datetime,
    socket_id: str | None = None,
    ref: str | None = None,
    reason: str | None = None,
) -> Call:
    """End a live call (its row locked by the caller of this function): store
    the outcome, free both users, store the `kind: "call"` message through the
    messaging store path, and tell every socket of both parties with
    `call.ended` once all of it is committed (after the message's own fan-out)."""

    duration = 0
    if call.answered_at is not None:
        duration = max(0, int((now - call.answered_at).total_seconds() + 0.5))
    _transition(
        call,
        state=CallState.ENDED,
        outcome=outcome,
        ended_at=now,
        duration_s=duration,
        ended_by=by,
        end_reason=reason or "",
        ring_deadline=None,
        caller_socket="",
        callee_socket="",
        caller_session="",
        callee_session="",
        offer=None,
        held_candidates=[],
    )
    CallSlot.objects.filter(call=call).delete()
    users = User.objects.in_bulk([call.caller_id, call.callee_id])
    caller, callee = users[call.caller_id], users[call.callee_id]
    conversation = None
    if call.conversation_id is not None:
        conversation = Conversation.objects.filter(pk=call.conversation_id).first()
    if conversation is None:
        conversation = ensure_direct_conversation(user=caller, other=callee)
    post_call_message(
        conversation=conversation,
        caller=caller,
        call_id=str(call.uuid),
        media=call.media,
        outcome=outcome,
        duration_s=duration,
    )
    frame = ended_frame(call, by_uuid=str(by.uuid) if by is not None else None)
    sender_id = by.pk if by is not None and socket_id else None
    deliver_envelopes_on_commit(
        [
            _to_user(uid, frame, socket_id=socket_id if uid == sender_id else None, ref=ref)
            for uid in (call.caller_id, call.callee_id)
        ]
    )
    logger.info("call %s ended: outcome=%s duration=%ss", call.uuid, outcome, duration)
    return call


def do_reject_call(
    *, user: User, call_id: object, reason: object = None, socket_id: str | None = None, ref: str | None = None
) -> Call:
    """The callee declines a ringing call (from any of their sockets): `rejected`."""
    reason = _clean_reason(reason)
    with transaction.atomic():
        call = _locked_for("reject", user=user, call_id=call_id)
        return _end_call(
            call,
            outcome=CallOutcome.REJECTED,
            by=user,
            now=timezone.now(),
            socket_id=socket_id,
            ref=ref,
            reason=reason,
        )


def do_cancel_call(*, user: User, call_id: object, socket_id: str | None = None, ref: str | None = None) -> Call:
    """The caller gives up before an answer (from any of their sockets): `cancelled`."""
    with transaction.atomic():
        call = _locked_for("cancel", user=user, call_id=call_id)
        return _end_call(call, outcome=CallOutcome.CANCELLED, by=user, now=timezone.now(), socket_id=socket_id, ref=ref)


def do_hangup_call(*, user: User, call_id: object, socket_id: str | None = None, ref: str | None = None) -> Call:
    """Either party ends an active call (from any of their sockets): `completed`."""
    with transaction.atomic():
        call = _locked_for("hangup", user=user, call_id=call_id)
        return _end_call(call, outcome=CallOutcome.COMPLETED, by=user, now=timezone.now(), socket_id=socket_id, ref=ref)


def do_end_calls_between(*, user: User, other: User) -> list[Call]:
    """End any live call between the two users, as `user`'s doing (for a block
    or a removed contact taking effect at once): a ringing call is cancelled
    (user called) or rejected (user was called), an active one completed."""
    ended = []
    with transaction.atomic():
        calls = Call.objects.select_for_update().filter(
            Q(caller=user, callee=other) | Q(caller=other, callee=user), state__in=LIVE_STATES
        )
        for call in calls:
            if call.state == CallState.ACTIVE:
                outcome = CallOutcome.COMPLETED
            else:
                outcome = CallOutcome.CANCELLED if call.caller_id == user.pk else CallOutcome.REJECTED
            ended.append(_end_call(call, outcome=outcome, by=user, now=timezone.now()))
    return ended


def do_end_calls_of_user(*, user: User, reason: str) -> list[Call]:
    """End the live call `user` is in, if any, as the server's doing: `failed`,
    `by` null, with `reason` (an administrator disabled or deleted the account;
    its sockets close at once, so the call could only fail after the grace).
    Every socket of both parties gets `call.ended` with the reason."""
    ended = []
    with transaction.atomic():
        ids = list(CallSlot.objects.filter(user=user).values_list("call_id", flat=True))
        for call in Call.objects.select_for_update().filter(pk__in=ids, state__in=LIVE_STATES):
            ended.append(_end_call(call, outcome=CallOutcome.FAILED, by=None, now=timezone.now(), reason=reason))
    return ended


# --------------------------------------------------------------------------- sockets coming and going


def on_user_connected(*, user_id: int) -> dict | None:
    """A socket of the user connected: renew their lease if they are in a live
    call, and return the `call.incoming` frame for the new socket if the user
    is being rung (a device opened while the call rings rings too)."""
    # Nearly every connect finds no call: answer that with one cheap query.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {connection.ops.quote_name(CallSlot._meta.db_table)} WHERE user_id = %s", [user_id]
        )
        if cursor.fetchone() is None:
            return None
    slot = CallSlot.objects.filter(user_id=user_id).select_related("call").first()
    if slot is None:
        return None
    CallSlot.objects.filter(pk=slot.pk).update(seen_at=timezone.now())
    call = slot.call
    if slot.role == SlotRole.CALLEE and call.state == CallState.RINGING:
        caller = User.objects.select_related("avatar").get(pk=call.caller_id)
        if caller.status != UserStatus.ACTIVE:
            return None  # nobody to answer: accepting it would be refused
        return incoming_frame(call, caller=caller)
    return None


def ended_frame_if_ended(*, call_id: str) -> dict | None:
    """`call.ended` for a call that has ended (for a socket that may have missed it)."""
    call = Call.objects.select_related("ended_by").filter(uuid=call_id, state=CallState.ENDED).first()
    if call is None:
        return None
    return ended_frame(call, by_uuid=str(call.ended_by.uuid) if call.ended_by is not None else None)


def release_endpoints(*, call_ids: Iterable[str], socket_id: str, now: dt.datetime | None = None) -> None:
    """The socket closed: it no longer holds the media of these calls, so the
    party's next signal from another socket (or a new socket of the same login
    session, `renew_endpoints`) takes the endpoint over. Its lease keeps the
    moment it went: unless the endpoint is taken over within the reconnect
    grace, the call ends `failed`, even while the party has other sockets."""
    ids = list(call_ids)
    if not ids:
        return
    now = now or timezone.now()
    live = Call.objects.filter(uuid__in=ids, state__in=LIVE_STATES)
    live.filter(caller_socket=socket_id).update(caller_socket="", caller_seen_at=now)
    live.filter(callee_socket=socket_id).update(callee_socket="", callee_seen_at=now)


# --------------------------------------------------------------------------- timers


def renew_leases(*, user_ids: Iterable[int], now: dt.datetime | None = None) -> int:
    """Push forward the lease of every user in a live call among `user_ids`
    (the users with a socket on this server process). Returns how many."""
    local = set(user_ids)
    if not local:
        return 0
    mine = local.intersection(CallSlot.objects.values_list("user_id", flat=True))
    if not mine:
        return 0
    return CallSlot.objects.filter(user_id__in=mine).update(seen_at=now or timezone.now())


def _lease_cutoff(now: dt.datetime) -> dt.datetime:
    # A lease is renewed every sweep interval, so it may be up to one interval
    # old while the party is still there: count the grace from after that.
    return now - dt.timedelta(seconds=settings.CALL_RECONNECT_GRACE_S + settings.CALL_SWEEP_INTERVAL_S)


# An endpoint's lease older than this many sweep intervals was not renewed by
# the process holding its socket on several rounds: the socket is gone (its
# node died, or it closed) and another socket of the party may take it over.
QUIET_SWEEPS = 5


def _endpoint_is_quiet(call: Call, role: str, *, now: dt.datetime) -> bool:
    """No open socket holds `role`'s endpoint: it was released, or its lease
    lapsed for QUIET_SWEEPS intervals. A call from before endpoint leases
    (no lease at all) counts as held."""
    seen = getattr(call, f"{role}_seen_at")
    if seen is None:
        return False
    if not getattr(call, f"{role}_socket"):
        return True
    return seen <= now - dt.timedelta(seconds=QUIET_SWEEPS * settings.CALL_SWEEP_INTERVAL_S)


@dataclass(frozen=True)
class LocalSocket:
    """A socket this server process holds, as the sweeper sees it."""

    user_id: int
    socket_id: str
    session_id: str | None
    connected_at: dt.datetime


def renew_endpoints(*, sockets: Iterable[LocalSocket], now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """Renew the lease of every call endpoint held by one of `sockets` (this
    process's), and hand an endpoint no open socket holds (`_endpoint_is_quiet`)
    to the newest of `sockets` that belongs to the same login session and
    connected after the endpoint was last seen: the same device come back
    (its socket reconnected, here or after its node died) keeps its call
    without having to signal. Another device of the party, or a socket that
    was already open, never gets it this way. Returns (socket id, call id) of
    each endpoint handed over, for that socket to know it holds it.

    Two queries when a local user is in a call (their slots, their calls),
    plus one UPDATE per role with an endpoint here and one per hand-over."""
    now = now or timezone.now()
    mine: dict[int, list[LocalSocket]] = {}
    for sock in sockets:
        mine.setdefault(sock.user_id, []).append(sock)
    call_ids = {call_id for user_id, call_id in CallSlot.objects.values_list("user_id", "call_id") if user_id in mine}
    if not call_ids:
        return []
    calls = list(Call.objects.filter(pk__in=call_ids, state__in=LIVE_STATES))
    here = {sock.socket_id for socks in mine.values() for sock in socks}
    handed: list[tuple[str, str]] = []
    for role in ("caller", "callee"):
        held = {getattr(c, f"{role}_socket") for c in calls} & here
        if held:
            Call.objects.filter(pk__in=[c.pk for c in calls], **{f"{role}_socket__in": held}).update(
                **{f"{role}_seen_at": now}
            )
        for call in calls:
            if getattr(call, f"{role}_socket") in here or not _endpoint_is_quiet(call, role, now=now):
                continue
            session, seen = getattr(call, f"{role}_session"), getattr(call, f"{role}_seen_at")
            same = [
                s
                for s in mine.get(getattr(call, f"{role}_id"), ())
                if session and s.session_id == session and s.connected_at > seen
            ]
            if not same:
                continue
            newest = max(same, key=lambda s: s.connected_at)
            # Only if nobody took it over or renewed it meanwhile.
            still = Call.objects.filter(pk=call.pk, state__in=LIVE_STATES, **{f"{role}_seen_at__lte": seen})
            if still.filter(**{f"{role}_socket": getattr(call, f"{role}_socket")}).update(
                **{f"{role}_socket": newest.socket_id, f"{role}_seen_at": now}
            ):
                handed.append((newest.socket_id, str(call.uuid)))
                logger.info("call %s: the %s's endpoint rebound to a reconnected socket", call.uuid, role)
    return handed


def _due_outcome(call: Call, *, now: dt.datetime) -> str | None:
    if call.state == CallState.RINGING and call.ring_deadline is not None and call.ring_deadline <= now:
        return CallOutcome.MISSED
    cutoff = _lease_cutoff(now)
    # A media endpoint gone for the grace (not taken over by another socket)
    # fails the call even while the party keeps other sockets open.
    if call.caller_seen_at is not None and call.caller_seen_at <= cutoff:
        return CallOutcome.FAILED
    if call.state == CallState.ACTIVE and call.callee_seen_at is not None and call.callee_seen_at <= cutoff:
        return CallOutcome.FAILED
    gone = CallSlot.objects.filter(call=call, seen_at__lte=cutoff)
    if call.state == CallState.RINGING:
        # A callee without a socket is simply not answering: that ends as missed.
        gone = gone.filter(role=SlotRole.CALLER)
    return CallOutcome.FAILED if gone.exists() else None


def sweep_due_calls(*, now: dt.datetime | None = None, limit: int = 500) -> list[Call]:
    """End every call whose timer is due: ringing past `ring_deadline` →
    `missed`; a party whose lease, or whose media endpoint's lease, is older
    than the reconnect grace (the caller while ringing, either party while
    active) → `failed`.

    Safe to run on every node at once, and after restarts (the deadlines are
    in the rows): each due call is locked with SKIP LOCKED (another node
    already has it: skip it this round), re-checked under the lock, and ended
    through the same conditional transition as any frame, so it ends exactly
    once. Returns the calls this run ended."""
    now = now or timezone.now()
    cutoff = _lease_cutoff(now)
    due = list(
        Call.objects.filter(state=CallState.RINGING, ring_deadline__lte=now).values_list("id", flat=True)[:limit]
    )
    due += list(
        CallSlot.objects.filter(seen_at__lte=cutoff)
        .filter(Q(role=SlotRole.CALLER) | Q(call__state=CallState.ACTIVE))
        .values_list("call_id", flat=True)[:limit]
    )
    due += list(
        Call.objects.filter(state__in=LIVE_STATES)
        .filter(Q(caller_seen_at__lte=cutoff) | Q(state=CallState.ACTIVE, callee_seen_at__lte=cutoff))
        .values_list("id", flat=True)[:limit]
    )
    ended: list[Call] = []
    for pk in dict.fromkeys(due):
        try:
            with transaction.atomic():
                call = Call.objects.select_for_update(skip_locked=True).filter(pk=pk, state__in=LIVE_STATES).first()
                if call is None:
                    continue  # ended meanwhile, or another node is ending it right now
                outcome = _due_outcome(call, now=now)
                if outcome is None:
                    continue  # the party came back
                ended.append(_end_call(call, outcome=outcome, by=None, now=now))
        except CallStateError:
            continue
    return ended


def sweep_tick(*, local_sockets: Iterable[LocalSocket], now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """One round of a server process's sweeper: renew the leases of its users
    and of the call endpoints its sockets hold (handing released ones to a
    reconnected socket of the same session), then end due calls. Returns the
    endpoints handed over (`renew_endpoints`)."""
    now = now or timezone.now()
    sockets = list(local_sockets)
    handed: list[tuple[str, str]] = []
    if renew_leases(user_ids={s.user_id for s in sockets}, now=now):
        handed = renew_endpoints(sockets=sockets, now=now)
    sweep_due_calls(now=now)
    return handed
