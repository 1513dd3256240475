"""The Django admin at /admin/, made the product's back office.

`BackofficeAdminConfig` replaces `django.contrib.admin` in INSTALLED_APPS so
that `admin.site` (what every app's admin.py registers with, and what
chatsite/urls.py serves) is `BackofficeAdminSite`:

- who may enter: active administrators (`User.is_admin`: staff or
  superuser), the same test as the admin API. Pages give administrators the
  rights the back office defines (backoffice/admin/ and the apps' admin.py:
  read-only pages plus actions), not Django's per-model permissions.
- logging in goes through accounts' password login
  (`do_login_password`): the same per-account and per-IP failure limits as
  the API, the same refusal of disabled accounts, and a real LoginSession
  (kind "web") held by the cookie session. Revoking it (an administrator
  disabling the account, "sign out everywhere") ends the admin session at
  the next request (accounts.middleware.LoginSessionMiddleware).
- logging out revokes that LoginSession.
- "Change password" goes through accounts' `do_change_password`
  (backoffice/admin_password.py): the app's password rules and errors, and
  the administrator's other sessions end.
"""

from __future__ import annotations

import logging

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from chatsite.adminkit import is_admin_user

logger = logging.getLogger(__name__)


class BackofficeAdminConfig(AdminConfig):
    default_site = "backoffice.site.BackofficeAdminSite"


class BackofficeAdminSite(admin.AdminSite):
    site_header = "WebsocketChat back office"
    site_title = "WebsocketChat back office"
    index_title = "Administration"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Nothing is ever hard-deleted from the back office (deleting a user
        # anonymises it: accounts/admin.py).
        self.disable_action("delete_selected")

    def has_permission(self, request: HttpRequest) -> bool:
        return is_admin_user(request.user)

    @method_decorator(never_cache)
    @login_not_required
    def login(self, request: HttpRequest, extra_context=None):
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        # This module is loaded as an AppConfig, before any model may be imported.
        from backoffice.admin_login import AdminLoginForm, AdminLoginView

        context = {
            **self.each_context(request),
            "title": "Log in",
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        context.update(extra_context or {})
        request.current_app = self.name
        return AdminLoginView.as_view(
            extra_context=context,
            authentication_form=AdminLoginForm,
            template_name=self.login_template or "admin/login.html",
        )(request)

    def password_change(self, request: HttpRequest, extra_context=None):
        # Loaded as an AppConfig: models (and the services on them) come later.
        from backoffice.admin_password import AdminPasswordChangeView

        request.current_app = self.name
        return AdminPasswordChangeView.as_view(
            success_url=reverse("admin:password_change_done", current_app=self.name),
            extra_context={**self.each_context(request), **(extra_context or {})},
            template_name=self.password_change_template or "registration/password_change_form.html",
        )(request)

    def logout(self, request: HttpRequest, extra_context=None):
        session = getattr(request, "login_session", None)
        if session is not None and request.method == "POST":
            # Loaded as an AppConfig: models (and the services on them) come later.
            from accounts.actions.sessions import do_revoke_session

            do_revoke_session(session=session, reason="logout")
        return super().logout(request, extra_context)
