"""Bots in the back office, read-only: who owns each, whether anyone may add
it and where its events go. An administrator disables or deletes a bot like
any account, from its user (Users, filtered by "is bot"); deliveries show
whether its URL answers."""

from __future__ import annotations

from django.contrib import admin

from bots.models import Bot, Delivery
from chatsite.adminkit import ReadOnlyModelAdmin


@admin.register(Bot)
class BotAdmin(ReadOnlyModelAdmin):
    list_display = ("user", "owner", "status", "is_public", "events_url", "created_at")
    list_select_related = ("user", "user__bot_owner")
    list_filter = ("is_public", "user__status")
    search_fields = ("user__username", "user__nickname", "user__bot_owner__username")
    ordering = ("-created_at",)
    fields = ("user", "owner", "status", "description", "is_public", "events_url", "created_at")
    readonly_fields = fields

    @admin.display(description="owner")
    def owner(self, obj: Bot):
        return obj.user.bot_owner

    @admin.display(description="status")
    def status(self, obj: Bot) -> str:
        return obj.user.status


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ("key", "bot", "state", "attempts", "next_at", "last_error", "created_at")
    list_select_related = ("bot__user",)
    list_filter = ("state",)
    search_fields = ("=key", "bot__user__username")
    ordering = ("-id",)
    fields = ("key", "bot", "state", "attempts", "next_at", "last_error", "created_at")
    readonly_fields = fields
