"""Contact requests in the back office, read-only (contacts and blocks are
the users' private lists and are not shown)."""

from __future__ import annotations

from django.contrib import admin

from chatsite.adminkit import ReadOnlyModelAdmin
from contacts.models import ContactRequest


@admin.register(ContactRequest)
class ContactRequestAdmin(ReadOnlyModelAdmin):
    list_display = ("from_user", "to_user", "status", "created_at")
    list_select_related = ("from_user", "to_user")
    list_filter = ("status",)
    search_fields = ("from_user__username", "to_user__username", "=uuid")
    ordering = ("-id",)
    fields = ("uuid", "from_user", "to_user", "message", "status", "created_at", "updated_at")
    readonly_fields = fields
