"""Calls in the back office, read-only: who called whom, when, how it ended.
The signalling state (SDP offer, ICE candidates, socket ids) is not shown:
it carries network addresses and is cleared when a call ends."""

from __future__ import annotations

from django.contrib import admin

from calls.models import Call
from chatsite.adminkit import ReadOnlyModelAdmin


@admin.register(Call)
class CallAdmin(ReadOnlyModelAdmin):
    list_display = ("uuid", "caller", "callee", "media", "state", "outcome", "started_at", "duration_s")
    list_select_related = ("caller", "callee")
    list_filter = ("state", "outcome", "media")
    search_fields = ("caller__username", "callee__username", "=uuid")
    ordering = ("-id",)
    fields = (
        "uuid",
        "caller",
        "callee",
        "media",
        "state",
        "outcome",
        "started_at",
        "answered_at",
        "ended_at",
        "duration_s",
        "ended_by",
    )
    readonly_fields = fields
