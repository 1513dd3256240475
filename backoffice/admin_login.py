"""The back office's login: Django's admin login page over accounts' password login."""

from __future__ import annotations

import logging

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import login as auth_login
from django.contrib.auth.views import LoginView
from django.http import HttpResponseRedirect

from accounts.actions.login import do_login_password
from accounts.actions.sessions import Client, do_revoke_session
from accounts.middleware import SESSION_KEY
from accounts.models import SessionKind
from chatsite.errors import AccountDisabled, Invalid, InvalidCredentials, RateLimited
from chatsite.net import request_device, request_ip

logger = logging.getLogger(__name__)


class AdminLoginForm(AdminAuthenticationForm):
    """Username (or phone) and password, checked by `do_login_password`, so
    the admin login counts and refuses failures exactly like the API's. Only
    administrators get in; anyone else gets the same answer as a wrong
    password (and the session the check opened is ended at once)."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "rate_limited": "Too many failed logins; try again in %(retry_after)s s.",
        "inactive": "This account has been disabled.",
    }

    def __init__(self, request=None, *args, **kwargs) -> None:
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Username or phone"
        self.login_session = None

    def clean(self):
        login = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if not login or not password:
            return self.cleaned_data
        client = Client(
            ip=request_ip(self.request) if self.request else None,
            device=request_device(self.request.META.get("HTTP_USER_AGENT")) if self.request else "",
        )
        try:
            result = do_login_password(login=login, password=password, client=client, session_kind=SessionKind.WEB)
        except RateLimited as exc:
            raise forms.ValidationError(
                self.error_messages["rate_limited"], code="rate_limited", params={"retry_after": exc.retry_after}
            ) from None
        except AccountDisabled:
            raise forms.ValidationError(self.error_messages["inactive"], code="inactive") from None
        except (InvalidCredentials, Invalid):
            raise self.get_invalid_login_error() from None
        if not (result.user.is_admin and result.user.is_active):
            do_revoke_session(session=result.session, reason="not_admin")
            logger.info("user %s refused at the admin login (not an administrator)", result.user.pk)
            raise self.get_invalid_login_error()
        self.user_cache = result.user
        self.login_session = result.session
        return self.cleaned_data


class AdminLoginView(LoginView):
    """Django's login view, keeping the LoginSession in the cookie session
    (after `login()`, which cycles the session key)."""

    def form_valid(self, form: AdminLoginForm):
        user = form.get_user()
        auth_login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        self.request.session[SESSION_KEY] = str(form.login_session.uuid)
        logger.info("user %s logged in to the back office", user.pk)
        return HttpResponseRedirect(self.get_success_url())
