"""Building blocks for the apps' admin.py: read-only model pages for
administrators, and actions that call the back-office services.

The admin never writes a row itself: pages are read-only (no add, change or
delete), and every action calls the same service as the admin API, with the
reason typed next to the action menu, and `via="admin"` in the audit log."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.site import is_admin_user
from chatsite.errors import ChatError


class ReasonActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "reason (kept in the audit log)", "size": 40}),
    )


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """Administrators see every row; nobody adds, changes or deletes one here."""

    show_full_result_count = False  # one COUNT per changelist, not two

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin_user(request.user)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_admin_user(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyTabularInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_admin_user(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def run_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    verb: str,
    act: Callable[..., object],
    label: Callable[[object], str] = str,
) -> None:
    """Call `act(actor=, target_id=, reason=)` for each selected row (each in
    its own transaction: one refusal does not undo the others) and report
    what happened and what was refused, and why."""
    reason = request.POST.get("reason", "")
    done, refused = 0, []
    for obj in queryset.order_by("pk"):
        try:
            act(actor=request.user, target_id=str(obj.uuid), reason=reason)
        except ChatError as exc:
            refused.append(f"{label(obj)}: {exc.message}")
        else:
            done += 1
    if done:
        modeladmin.message_user(request, f"{verb}: {done} done.", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, f"{verb} refused for {line}", messages.ERROR)
