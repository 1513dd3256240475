"""One message at a time, for a report: who sent it where, its current text
and, when it was edited, every earlier version (members only ever see the
current text). The list shows nothing until it is searched by a message's
exact id, and every opening of a message is written to the audit log."""

from __future__ import annotations

from django.contrib import admin

from backoffice.models import AuditVia
from backoffice.services import record_message_view
from chatsite.adminkit import ReadOnlyModelAdmin, ReadOnlyTabularInline
from conversations.models import Message, MessageVersion


class MessageVersionInline(ReadOnlyTabularInline):
    model = MessageVersion
    verbose_name = "earlier version"
    verbose_name_plural = "earlier versions (oldest first)"
    fields = ("text", "written_at", "replaced_at")
    readonly_fields = fields
    ordering = ("replaced_at", "id")


@admin.register(Message)
class MessageAdmin(ReadOnlyModelAdmin):
    list_display = ("uuid", "conversation", "seq", "sender", "kind", "created_at", "edited_at", "recalled")
    list_select_related = ("conversation", "sender")
    search_fields = ("=uuid",)
    search_help_text = "A message's exact id (from a report)."
    ordering = ("-id",)
    fields = (
        "uuid",
        "conversation",
        "seq",
        "sender",
        "kind",
        "text",
        "file",
        "created_at",
        "edited_at",
        "recalled",
        "recalled_at",
        "forwarded_from",
        "pinned_at",
    )
    readonly_fields = fields
    inlines = [MessageVersionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("conversation", "sender", "file")

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200 and self.has_view_permission(request):
            message = self.get_object(request, object_id)
            if message is not None:
                record_message_view(actor=request.user, message=message, via=AuditVia.ADMIN)
        return response
