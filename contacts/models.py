from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# Lengths of user-written text (the services check them; the schema states them).
REQUEST_MESSAGE_MAX = 200  # ContactRequest.message
REMARK_MAX = 64  # Contact.remark


class Contact(models.Model):
    """One row per direction: `owner` has `other` as a contact.

    Two rows per friendship, written and deleted together, because the remark
    is per direction and "my contacts" is then one indexed range on `owner`."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contacts")
    other = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    remark = models.CharField(max_length=64, blank=True, default="")
    since = models.DateTimeField(default=timezone.now)
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "other"], name="contact_unique_pair")]

    def __str__(self) -> str:
        return f"{self.owner_id} -> {self.other_id}"


class Block(models.Model):
    blocker = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocks")
    blocked = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocked_by")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["blocker", "blocked"], name="block_unique_pair")]
        indexes = [models.Index(fields=["blocked", "blocker"])]

    def __str__(self) -> str:
        return f"{self.blocker_id} blocks {self.blocked_id}"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "pending"
    ACCEPTED = "accepted", "accepted"
    REJECTED = "rejected", "rejected"
    CANCELLED = "cancelled", "cancelled"


class ContactRequest(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_requests")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_requests")
    message = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    # "<from pk>:<to pk>" while pending, NULL after: at most one pending request
    # per direction, enforced by the database on MySQL and SQLite alike.
    pending_key = models.CharField(max_length=48, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["to_user", "status", "created_at"]),
            models.Index(fields=["from_user", "status", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"request {self.from_user_id} -> {self.to_user_id} ({self.status})"
