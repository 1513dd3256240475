"""Conversations in the back office, read-only and without their messages:
the back office moderates accounts and groups, it does not read people's
conversations (a reported message is opened by its id, on the record:
backoffice/admin/messages.py)."""

from __future__ import annotations

from django.contrib import admin

from chatsite.adminkit import ReadOnlyModelAdmin
from conversations.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyModelAdmin):
    list_display = ("uuid", "kind", "group", "last_seq", "last_message_at", "created_at")
    list_select_related = ("group",)
    list_filter = ("kind",)
    search_fields = ("=uuid", "group__name")
    ordering = ("-id",)
    fields = ("uuid", "kind", "group", "last_seq", "last_message_at", "created_at")
    readonly_fields = fields
