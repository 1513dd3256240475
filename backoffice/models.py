"""The audit log: one row per administrative action, never changed afterwards."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# Lengths of user-written text (the services check them; the schema states them).
REASON_MAX = 500


class AuditLogIsAppendOnly(Exception):
    """Raised by every ORM path that would change or remove an audit entry."""


class AuditAction(models.TextChoices):
    USER_DISABLE = "user.disable", "disable user"
    USER_ENABLE = "user.enable", "enable user"
    USER_SET_ADMIN = "user.set_admin", "set admin"
    USER_UNSET_ADMIN = "user.unset_admin", "unset admin"
    USER_DELETE = "user.delete", "delete user"
    GROUP_DISABLE = "group.disable", "disable group"
    GROUP_ENABLE = "group.enable", "enable group"
    GROUP_DISMISS = "group.dismiss", "dismiss group"
    MESSAGE_VIEW = "message.view", "view message"


class AuditTargetType(models.TextChoices):
    USER = "user", "user"
    GROUP = "group", "group"
    MESSAGE = "message", "message"


class AuditVia(models.TextChoices):
    API = "api", "admin API"
    ADMIN = "admin", "Django admin"
    SYSTEM = "system", "system"


class AuditQuerySet(models.QuerySet):
    """No bulk update or delete: entries are only ever added."""

    def update(self, **kwargs):
        raise AuditLogIsAppendOnly("Audit entries cannot be changed.")

    def delete(self):
        raise AuditLogIsAppendOnly("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """Who did what to which user or group, when and why.

    The actor and the target are kept twice: as a reference (the actor's row,
    the target's uuid) and as a label copied at the time of the action, so the
    entry still reads the same after the account is renamed or anonymised.
    `actor` is NULL for actions the system takes on its own."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target_type = models.CharField(max_length=16, choices=AuditTargetType.choices)
    target_id = models.CharField(max_length=36)
    target_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True, default="")
    via = models.CharField(max_length=8, choices=AuditVia.choices)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["actor", "id"]),
            models.Index(fields=["target_id", "id"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type} {self.target_label}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly("Audit entries cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditLogIsAppendOnly("Audit entries cannot be deleted.")
