"""Calls: the record of every call, and the slots that say who is in a live one.

See docs/calls.md for the state machine, the timers and the busy rule.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class CallMedia(models.TextChoices):
    AUDIO = "audio", "audio"
    VIDEO = "video", "video"


class CallState(models.TextChoices):
    RINGING = "ringing", "ringing"
    ACTIVE = "active", "active"
    ENDED = "ended", "ended"


LIVE_STATES = (CallState.RINGING, CallState.ACTIVE)


class CallOutcome(models.TextChoices):
    COMPLETED = "completed", "completed"
    REJECTED = "rejected", "rejected"
    CANCELLED = "cancelled", "cancelled"
    MISSED = "missed", "missed"
    BUSY = "busy", "busy"
    FAILED = "failed", "failed"


class Call(models.Model):
    """One call attempt, kept for good (the call log).

    While the call is live the row also carries what signalling needs: the
    socket of each party that holds the media (`caller_socket`, the socket that
    invited; `callee_socket`, the one that accepted), the offer for callee
    sockets that connect while it rings, the caller's ICE candidates held until
    the answer, and `ring_deadline`. Those are cleared when the call ends (SDP
    and candidates carry network addresses)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    caller = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    callee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    media = models.CharField(max_length=8, choices=CallMedia.choices)
    state = models.CharField(max_length=8, choices=CallState.choices, default=CallState.RINGING)
    outcome = models.CharField(max_length=12, choices=CallOutcome.choices, null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_s = models.PositiveIntegerField(default=0)
    # Who ended it (hang-up, reject, cancel); NULL when the server did (missed, failed, busy).
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # No answer by then → missed (set while ringing).
    ring_deadline = models.DateTimeField(null=True, blank=True)
    # The socket ids holding each side's RTCPeerConnection; "" when none (not
    # yet accepted, or the socket closed: the party's next signal rebinds it).
    caller_socket = models.CharField(max_length=64, blank=True, default="")
    callee_socket = models.CharField(max_length=64, blank=True, default="")
    # Each endpoint's lease: when its socket was last known open (set when it
    # is bound, renewed by the server process holding it on every sweep, and
    # kept as the moment it went when the socket closes). An endpoint whose
    # lease is older than the reconnect grace ends the call `failed`, whatever
    # other sockets the party has open (docs/calls.md "Timers").
    caller_seen_at = models.DateTimeField(null=True, blank=True)
    callee_seen_at = models.DateTimeField(null=True, blank=True)
    # The login session of each endpoint's socket: a new socket of that session
    # (the same device reconnecting) takes a released endpoint over by itself.
    caller_session = models.CharField(max_length=64, blank=True, default="")
    callee_session = models.CharField(max_length=64, blank=True, default="")
    offer = models.JSONField(null=True, blank=True)
    held_candidates = models.JSONField(default=list, blank=True)
    # `reason` of the `call.ended` frame (the callee's for a rejection, the
    # server's when an account was disabled or deleted), kept so a repeat of
    # the frame carries it too.
    end_reason = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["caller", "id"]),
            models.Index(fields=["callee", "id"]),
            models.Index(fields=["state", "ring_deadline"]),
        ]

    def __str__(self) -> str:
        return f"call {self.uuid} ({self.state})"


class SlotRole(models.TextChoices):
    CALLER = "caller", "caller"
    CALLEE = "callee", "callee"


class CallSlot(models.Model):
    """A user in a ringing or active call. `user` is unique: inserting the two
    slots in the transaction that creates a call is the cluster-wide busy check
    (the database refuses a second one), and deleting them when it ends frees
    both users.

    `seen_at` is a lease: every server process that holds a socket of the user
    pushes it forward on each sweep; a party whose lease is older than the
    reconnect grace has had no socket anywhere for that long (docs/calls.md)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="call_slot")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="slots")
    role = models.CharField(max_length=8, choices=SlotRole.choices)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["seen_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} in call {self.call_id} as {self.role}"
