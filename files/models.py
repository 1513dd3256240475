from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class File(models.Model):
    """An uploaded file. Stored under a server-generated key (`storage_key`);
    `name` is only a sanitised display name."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    mime = models.CharField(max_length=127)
    storage_key = models.CharField(max_length=255, unique=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    thumbnail_key = models.CharField(max_length=255, blank=True, default="")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set when the file is first used (sent in a message, made an avatar);
    # files never attached are removed after a grace period.
    attached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "created_at"]),
            models.Index(fields=["attached_at", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.uuid})"
