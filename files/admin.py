"""Uploaded files in the back office, read-only metadata (no download link:
a file is served only to those who may see it, files/selectors.py)."""

from __future__ import annotations

from django.contrib import admin

from chatsite.adminkit import ReadOnlyModelAdmin
from files.models import File


@admin.register(File)
class FileAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "owner", "mime", "size", "created_at", "attached_at")
    list_select_related = ("owner",)
    list_filter = ("mime",)
    search_fields = ("name", "owner__username", "=uuid", "=sha256")
    ordering = ("-id",)
    fields = ("uuid", "name", "owner", "mime", "size", "width", "height", "sha256", "created_at", "attached_at")
    readonly_fields = fields
