"""Groups in the back office: search, filter by status, members (read-only),
and the administrator's actions (disable, enable, dismiss), each one a call
to backoffice.services, audited like the admin API's."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice import services
from backoffice.adminkit import ReadOnlyModelAdmin, ReadOnlyTabularInline, ReasonActionForm, run_action
from backoffice.models import AuditVia
from groups.models import Group, GroupStatus, Membership


class MembershipInline(ReadOnlyTabularInline):
    model = Membership
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    ordering = ("joined_at", "pk")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")


def _set_status(modeladmin, request, queryset, *, status: str, verb: str) -> None:
    run_action(
        modeladmin,
        request,
        queryset,
        verb=verb,
        label=lambda g: g.name,
        act=lambda actor, target_id, reason: services.do_set_group_status(
            actor=actor, group_id=target_id, status=status, reason=reason, via=AuditVia.ADMIN
        ),
    )


@admin.register(Group)
class GroupAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "owner", "status", "member_count", "join_mode", "created_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username", "=uuid")
    list_filter = ("status", "join_mode")
    ordering = ("-id",)
    list_per_page = 50
    action_form = ReasonActionForm
    actions = ["disable", "enable", "dismiss"]
    fields = ("uuid", "name", "notice", "owner", "status", "join_mode", "member_count", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [MembershipInline]

    @admin.action(description="Disable the selected groups (no sends, no changes)")
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_status(self, request, queryset, status=GroupStatus.DISABLED, verb="Disable")

    @admin.action(description="Enable the selected groups")
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_status(self, request, queryset, status=GroupStatus.ACTIVE, verb="Enable")

    @admin.action(description="Dismiss the selected groups (for good)")
    def dismiss(self, request: HttpRequest, queryset: QuerySet) -> None:
        _set_status(self, request, queryset, status=GroupStatus.DISMISSED, verb="Dismiss")
