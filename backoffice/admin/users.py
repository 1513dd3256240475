"""Users in the back office: search, filter, and the administrator's actions
(disable, enable, set admin, unset admin, delete = deactivate and anonymise),
each one a call to backoffice.services, audited like the admin API's."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import Group as PermissionGroup
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from backoffice import services
from backoffice.actions import ReasonActionForm, service_action
from chatsite.adminkit import ReadOnlyModelAdmin

# Django's permission groups are not used (administrators are staff or
# superusers); their page would only be confused with chat groups.
if admin.site.is_registered(PermissionGroup):
    admin.site.unregister(PermissionGroup)


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request, model_admin):
        return [("admin", "administrator"), ("superuser", "superuser"), ("user", "user")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:
        if self.value() == "admin":
            return queryset.filter(Q(is_staff=True) | Q(is_superuser=True))
        if self.value() == "superuser":
            return queryset.filter(is_superuser=True)
        if self.value() == "user":
            return queryset.filter(is_staff=False, is_superuser=False)
        return queryset


def _user_action(name: str, description: str, verb: str, service, **fixed):
    return service_action(
        name, description, verb=verb, service=service, id_arg="user_id", label=services.user_label, **fixed
    )


@admin.register(User)
class UserAdmin(ReadOnlyModelAdmin):
    list_display = ("username", "nickname", "phone", "status", "is_admin", "is_bot", "bot_owner", "created_at")
    list_display_links = ("username",)
    list_select_related = ("bot_owner",)
    search_fields = ("username", "phone", "nickname")
    list_filter = ("status", RoleFilter, "is_bot")
    ordering = ("-id",)
    list_per_page = 50
    action_form = ReasonActionForm
    actions = [
        _user_action(
            "disable",
            "Disable the selected users (ends their sessions, closes their sockets)",
            "Disable",
            services.do_disable_user,
        ),
        _user_action("enable", "Enable the selected users", "Enable", services.do_enable_user),
        _user_action(
            "set_admin", "Make the selected users administrators", "Set admin", services.do_set_admin, admin=True
        ),
        _user_action(
            "unset_admin",
            "Remove the administrator right of the selected users",
            "Unset admin",
            services.do_set_admin,
            admin=False,
        ),
        _user_action(
            "delete_and_anonymise",
            "Delete the selected users (deactivate and anonymise; messages stay)",
            "Delete",
            services.do_delete_user,
        ),
    ]
    fields = (
        "uuid",
        "username",
        "nickname",
        "phone",
        "signature",
        "status",
        "is_staff",
        "is_superuser",
        "is_bot",
        "bot_owner",
        "created_at",
        "updated_at",
        "last_login",
        "live_sessions",
    )
    readonly_fields = fields

    @admin.display(boolean=True, description="admin")
    def is_admin(self, obj: User) -> bool:
        return obj.is_admin

    @admin.display(description="live login sessions")
    def live_sessions(self, obj: User) -> int:
        return obj.login_sessions.filter(revoked_at__isnull=True, expires_at__gt=timezone.now()).count()
