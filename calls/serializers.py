"""Wire shapes for calls (docs/protocol/objects.md "Call")."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import UserOut, user_to_wire
from calls.models import Call, CallMedia, CallOutcome, CallState
from chatsite.wire import iso


def call_to_wire(call: Call) -> dict:
    """The Call object (caller and callee loaded with their avatars)."""
    return {
        "id": str(call.uuid),
        "caller": user_to_wire(call.caller),
        "callee": user_to_wire(call.callee),
        "media": call.media,
        "state": call.state,
        "outcome": call.outcome,
        "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "duration_s": call.duration_s,
        # Why it ended, where the outcome alone does not say (the same as
        # `call.ended`'s `reason`): the callee's words with a rejection, or
        # `account_disabled` / `account_deleted` for a `failed` call.
        "reason": call.end_reason or None,
    }


class CallOut(serializers.Serializer):
    id = serializers.UUIDField()
    caller = UserOut()
    callee = UserOut()
    media = serializers.ChoiceField(choices=CallMedia.choices)
    state = serializers.ChoiceField(choices=CallState.choices)
    outcome = serializers.ChoiceField(choices=CallOutcome.choices, allow_null=True)
    started_at = serializers.DateTimeField()
    answered_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_s = serializers.IntegerField(help_text="Seconds from the answer to the end; 0 when unanswered")
    reason = serializers.CharField(
        allow_null=True,
        help_text="Why it ended, as call.ended said: the callee's reason for a rejection, or "
        "account_disabled / account_deleted for a call that failed because an administrator "
        "disabled or deleted a party's account; null otherwise",
    )


class CallListOut(serializers.Serializer):
    results = CallOut(many=True)
    next = serializers.CharField(allow_null=True)


class IceServerOut(serializers.Serializer):
    urls = serializers.ListField(child=serializers.CharField())
    username = serializers.CharField(required=False, help_text="TURN only")
    credential = serializers.CharField(required=False, help_text="TURN only")


class IceServersOut(serializers.Serializer):
    ice_servers = IceServerOut(many=True)
    ttl = serializers.IntegerField(help_text="Seconds the TURN credentials stay valid")
