"""Wire shapes for notifications (docs/protocol/rest.md "Notifications")."""

from __future__ import annotations

from rest_framework import serializers

from chatsite.drf import StrictBooleanField, StrictCharField
from chatsite.wire import iso
from notifications.models import NotificationSettings, Preview, PushSubscription


class PushKeyOut(serializers.Serializer):
    vapid_public_key = serializers.CharField(help_text="base64url of the uncompressed P-256 point")


class SubscriptionKeysIn(serializers.Serializer):
    p256dh = StrictCharField(max_length=128, help_text="base64url of the browser's P-256 public key (65 bytes)")
    auth = StrictCharField(max_length=64, help_text="base64url of the 16-byte authentication secret")


class SubscriptionIn(serializers.Serializer):
    """A browser's `PushSubscription.toJSON()` (expirationTime is ignored)."""

    endpoint = StrictCharField(max_length=2048, help_text="the push service's URL for this browser (https://)")
    keys = SubscriptionKeysIn()


class SubscriptionOut(serializers.Serializer):
    id = serializers.UUIDField()
    endpoint = serializers.CharField()
    created_at = serializers.DateTimeField()
    current = serializers.BooleanField(help_text="made by the login session of this request's token")


def subscription_to_wire(sub: PushSubscription, *, session=None) -> dict:
    return {
        "id": str(sub.uuid),
        "endpoint": sub.endpoint,
        "created_at": iso(sub.created_at),
        "current": session is not None and sub.session_id == session.pk,
    }


HH_MM = {"pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}


class QuietHours(serializers.Serializer):
    start = StrictCharField(max_length=5, schema=HH_MM, help_text='"HH:MM", 24-hour')
    end = StrictCharField(max_length=5, schema=HH_MM, help_text='"HH:MM", 24-hour, not equal to start')
    tz = StrictCharField(max_length=64, help_text="an IANA time zone name")


class NotificationSettingsOut(serializers.Serializer):
    push = serializers.BooleanField()
    preview = serializers.ChoiceField(choices=Preview.values)
    quiet_hours = QuietHours(allow_null=True)


class NotificationSettingsPatchIn(serializers.Serializer):
    """Any of the settings; the others stay as they are."""

    push = StrictBooleanField(required=False)
    preview = serializers.ChoiceField(choices=Preview.values, required=False)
    quiet_hours = QuietHours(allow_null=True, required=False)


def settings_to_wire(row: NotificationSettings) -> dict:
    quiet = None
    if row.quiet_start is not None and row.quiet_end is not None:
        quiet = {"start": row.quiet_start.strftime("%H:%M"), "end": row.quiet_end.strftime("%H:%M"), "tz": row.quiet_tz}
    return {"push": row.push, "preview": row.preview, "quiet_hours": quiet}
