"""Groups in the back office: search, filter by status, members (read-only),
and the administrator's actions (disable, enable, dismiss), each one a call
to backoffice.services, audited like the admin API's."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice import services
from backoffice.adminkit import ReadOnlyModelAdmin, ReadOnlyTabularInline, ReasonActionForm, service_action
from groups.models import Group, GroupStatus, Membership


class MembershipInline(ReadOnlyTabularInline):
    model = Membership
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    ordering = ("joined_at", "pk")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")


def _status_action(name: str, description: str, verb: str, status: str):
    return service_action(
        name,
        description,
        verb=verb,
        service=services.do_set_group_status,
        id_arg="group_id",
        label=lambda g: g.name,
        status=status,
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
    actions = [
        _status_action(
            "disable", "Disable the selected groups (no sends, no changes)", "Disable", GroupStatus.DISABLED
        ),
        _status_action("enable", "Enable the selected groups", "Enable", GroupStatus.ACTIVE),
        _status_action("dismiss", "Dismiss the selected groups (for good)", "Dismiss", GroupStatus.DISMISSED),
    ]
    fields = ("uuid", "name", "notice", "owner", "status", "join_mode", "member_count", "created_at", "updated_at")
    readonly_fields = fields
    inlines = [MembershipInline]
