"""Wire shapes of the admin API (docs/protocol/rest.md "Administration")."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User, UserStatus
from accounts.serializers import UserOut, user_to_wire
from backoffice.models import REASON_MAX, AuditAction, AuditEntry, AuditTargetType, AuditVia
from chatsite.drf import text_field
from chatsite.wire import iso


def admin_user_to_wire(user: User) -> dict:
    """The User object as administrators see it: with `phone` and `status`."""
    return user_to_wire(user, with_phone=True, with_status=True)


def audit_entry_to_wire(entry: AuditEntry) -> dict:
    """An audit entry. `actor.id` is null for the system; the labels are the
    names at the time of the action."""
    return {
        "id": str(entry.uuid),
        "actor": {"id": str(entry.actor.uuid) if entry.actor_id else None, "label": entry.actor_label},
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id, "label": entry.target_label},
        "reason": entry.reason,
        "via": entry.via,
        "metadata": entry.metadata,
        "created_at": iso(entry.created_at),
    }


# --------------------------------------------------------------------------- schema shapes


class AdminUserOut(UserOut):
    status = serializers.ChoiceField(choices=UserStatus.values)


class AuditActorOut(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="null for the system")
    label = serializers.CharField(help_text="the actor's username at the time")


class AuditTargetOut(serializers.Serializer):
    type = serializers.ChoiceField(choices=AuditTargetType.values)
    id = serializers.UUIDField()
    label = serializers.CharField(help_text="the user's username or the group's name at the time")


class AuditEntryOut(serializers.Serializer):
    id = serializers.UUIDField()
    actor = AuditActorOut()
    action = serializers.ChoiceField(choices=AuditAction.values)
    target = AuditTargetOut()
    reason = serializers.CharField()
    via = serializers.ChoiceField(choices=AuditVia.values, help_text="the admin API, the Django admin, or the system")
    metadata = serializers.DictField(help_text="what the action did (sessions revoked, groups handed over, ...)")
    created_at = serializers.DateTimeField()


# --------------------------------------------------------------------------- input shapes


class ReasonIn(serializers.Serializer):
    reason = text_field(
        max_len=REASON_MAX, allow_empty=True, multiline=True, required=False, help_text="why (kept in the audit log)"
    )
