"""The audit log in the back office: read-only for everyone, superusers
included (no add, change or delete page, and the model refuses changes)."""

from __future__ import annotations

from django.contrib import admin

from backoffice.models import AuditEntry
from chatsite.adminkit import ReadOnlyModelAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "actor_label", "action", "target_type", "target_label", "reason", "via")
    list_filter = ("action", "target_type", "via")
    search_fields = ("actor_label", "target_label", "=target_id", "reason")
    ordering = ("-id",)
    fields = (
        "uuid",
        "created_at",
        "actor",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "target_label",
        "reason",
        "via",
        "metadata",
    )
    readonly_fields = fields
    list_select_related = ("actor",)
