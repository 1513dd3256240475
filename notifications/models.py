"""Notification settings, push subscriptions, and the pushes owed to them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Preview(models.TextChoices):
    FULL = "full", "full"  # who and what
    SENDER = "sender", "sender"  # who, not what
    NONE = "none", "none"  # "New message"


class NotificationSettings(models.Model):
    """A user's notification settings (a row only once they changed one: the
    defaults are push on, full preview, no quiet hours)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="notification_settings"
    )
    push = models.BooleanField(default=True)
    preview = models.CharField(max_length=8, choices=Preview.choices, default=Preview.FULL)
    # Quiet hours, as wall-clock times in `quiet_tz`; all three or none.
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    quiet_tz = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"


class PushSubscription(models.Model):
    """A browser's push subscription, owned by the login session that made it:
    the session's end removes it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions")
    session = models.ForeignKey("accounts.LoginSession", on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.TextField()
    # sha256 of the endpoint: unique (endpoints are too long for a MySQL unique index).
    endpoint_hash = models.CharField(max_length=64, unique=True)
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"push subscription {self.uuid} of {self.user_id}"


class PushKind(models.TextChoices):
    MESSAGE = "message", "message"
    CALL = "call", "call"
    CONTACT_REQUEST = "contact_request", "contact request"


class PushState(models.TextChoices):
    PENDING = "pending", "pending"  # due at `due_at` (a first try or a retry)
    SENDING = "sending", "sending"  # the request is in flight (never sent twice: see delivery.py)
    SENT = "sent", "sent"  # the push service took it
    DROPPED = "dropped", "dropped"  # no longer wanted (read, muted, quiet hours, left, blocked...)
    FAILED = "failed", "failed"  # gave up (expired, or the push service refused it for good)


class PushDelivery(models.Model):
    """One push owed to one subscription for one thing (a message, a call, a
    contact request). Unique per (subscription, key): a record the notifier
    sees twice, or after a restart, owes nothing more. The sender claims due
    rows with a lease, so several notifiers share the work."""

    subscription = models.ForeignKey(PushSubscription, on_delete=models.CASCADE, related_name="deliveries")
    key = models.CharField(max_length=40)  # "<kind>:<object pk>"
    kind = models.CharField(max_length=16, choices=PushKind.choices)
    object_id = models.BigIntegerField()
    # A mention or @all: the push goes even when the chat is muted.
    mention = models.BooleanField(default=False)
    state = models.CharField(max_length=8, choices=PushState.choices, default=PushState.PENDING)
    due_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscription", "key"], name="push_delivery_once")]
        indexes = [models.Index(fields=["state", "due_at"]), models.Index(fields=["done_at"])]

    def __str__(self) -> str:
        return f"push {self.key} to {self.subscription_id} ({self.state})"
