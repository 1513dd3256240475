"""Groups in the back office: search, filter by status, members (read-only),
and the administrator's actions (disable, enable, dismiss), each one a call
to backoffice.services, audited like the admin API's."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from backoffice import services
from backoffice.actions import ReasonActionForm, service_action
from chatsite.adminkit import ReadOnlyModelAdmin
from conversations.models import Member
from groups.models import Group, GroupStatus


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
    fields = (
        "uuid",
        "name",
        "notice",
        "owner",
        "status",
        "join_mode",
        "member_count",
        "created_at",
        "updated_at",
        "members",
    )
    readonly_fields = fields

    @admin.display(description="members")
    def members(self, obj: Group):
        """The current members and their roles (the group conversation's membership)."""
        rows = (
            Member.objects.filter(conversation_id=obj.conversation_id, left_seq__isnull=True)
            .select_related("user")
            .order_by("joined_at", "pk")
        )
        items = format_html_join(
            "", "<li>{} ({}, since {:%Y-%m-%d %H:%M})</li>", ((m.user, m.role, m.joined_at) for m in rows)
        )
        return format_html("<ul>{}</ul>", items)
