from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import RequestStatus

# Lengths of user-written text (the services check them; the schema states them).
NAME_MAX = 64
NOTICE_MAX = 2000
JOIN_MESSAGE_MAX = 200  # JoinRequest.message


class JoinMode(models.TextChoices):
    OPEN = "open", "open"
    APPROVAL = "approval", "approval"


class GroupStatus(models.TextChoices):
    ACTIVE = "active", "active"
    DISABLED = "disabled", "disabled"
    DISMISSED = "dismissed", "dismissed"


class Group(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64)
    notice = models.TextField(blank=True, default="")
    avatar = models.ForeignKey("files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_groups")
    join_mode = models.CharField(max_length=16, choices=JoinMode.choices, default=JoinMode.APPROVAL)
    status = models.CharField(max_length=16, choices=GroupStatus.choices, default=GroupStatus.ACTIVE)
    # Who is in the group, with which role, is this conversation's membership
    # (conversations.Member): there is no second membership table.
    conversation = models.OneToOneField("conversations.Conversation", on_delete=models.PROTECT, related_name="group")
    # Kept by the services under the group's row lock, so lists need no COUNT.
    member_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.uuid})"


class JoinRequest(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="join_requests")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_join_requests")
    message = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    # "<group pk>:<user pk>" while pending, NULL after (one pending request per user and group).
    pending_key = models.CharField(max_length=48, null=True, blank=True, unique=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["group", "status", "created_at"])]

    def __str__(self) -> str:
        return f"join {self.user_id} -> {self.group_id} ({self.status})"
