"""Conversations in the back office, read-only and without their messages:
the back office moderates accounts and groups, it does not read people's
conversations."""

from __future__ import annotations

from django.contrib import admin

from backoffice.adminkit import ReadOnlyModelAdmin
from messaging.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyModelAdmin):
    list_display = ("uuid", "kind", "group", "last_seq", "last_message_at", "created_at")
    list_select_related = ("group",)
    list_filter = ("kind",)
    search_fields = ("=uuid", "group__name")
    ordering = ("-id",)
    fields = ("uuid", "kind", "group", "last_seq", "last_message_at", "created_at")
    readonly_fields = fields
