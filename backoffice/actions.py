"""Back-office actions in the admin: each calls a back-office service for
every selected row, with the reason typed next to the action menu, and
`via="admin"` in the audit log."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db.models import QuerySet
from django.http import HttpRequest

from backoffice.models import AuditVia
from chatsite.errors import ChatError


class ReasonActionForm(ActionForm):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason",
        widget=forms.TextInput(attrs={"placeholder": "reason (kept in the audit log)", "size": 40}),
    )


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


def service_action(
    name: str,
    description: str,
    *,
    verb: str,
    service: Callable[..., object],
    id_arg: str,
    label: Callable[[object], str] = str,
    **fixed: object,
):
    """An admin action named `name` that calls `service(actor=, <id_arg>=,
    reason=, via="admin", **fixed)` for each selected row (see run_action)."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        run_action(
            modeladmin,
            request,
            queryset,
            verb=verb,
            label=label,
            act=lambda actor, target_id, reason: service(
                actor=actor, reason=reason, via=AuditVia.ADMIN, **{id_arg: target_id}, **fixed
            ),
        )

    action.__name__ = name
    return admin.action(description=description)(action)
