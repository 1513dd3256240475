"""Read-only model pages for the back office, for every app's admin.py.

Administrators see every row; nobody adds, changes or deletes one in the
admin. Changes go through the back office's actions (backoffice/actions.py),
which call the same services as the admin API."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


def is_admin_user(user) -> bool:
    """An active administrator (the test for every admin page)."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_admin", False))


class _ReadOnly:
    """Administrators see; nobody adds, changes or deletes."""

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_admin_user(request.user)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyModelAdmin(_ReadOnly, admin.ModelAdmin):
    """Administrators see every row; nobody adds, changes or deletes one here."""

    show_full_result_count = False  # one COUNT per changelist, not two

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin_user(request.user)

    def lookup_allowed(self, lookup: str, value, request=None) -> bool:
        """Only the filters the page offers. Django lets a changelist's address
        filter on any of the model's own fields (`?text__icontains=…`), which
        would let an administrator search message text or a password hash
        without opening anything, unaudited."""
        offered = {self.date_hierarchy} if self.date_hierarchy else set()
        for item in self.list_filter:
            if isinstance(item, str):
                offered.add(item)
            elif isinstance(item, tuple):  # (field path, its filter class)
                offered.add(item[0])
            elif getattr(item, "parameter_name", None):  # a SimpleListFilter's own parameter
                offered.add(item.parameter_name)
        on_offer = any(lookup == path or lookup.startswith(path + "__") for path in offered)
        return on_offer and super().lookup_allowed(lookup, value, request)


class ReadOnlyTabularInline(_ReadOnly, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False
