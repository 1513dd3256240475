"""DRF authentication: Bearer access tokens, bots' API keys, and the web
pages' cookie session."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.exceptions import PermissionDenied

from accounts.actions.sessions import authenticate_access_token, authenticate_bot_key
from chatsite import i18n
from chatsite.errors import NotAuthenticated


class BearerAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access>`, or `Authorization: Bot <key>` for a
    bot; `request.auth` is the LoginSession (a bot's key is one)."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("bearer", "bot") or not token:
            raise NotAuthenticated(gettext("Use 'Authorization: Bearer <access token>' or 'Authorization: Bot <key>'."))
        if scheme == "bot":
            user, session = authenticate_bot_key(token)
        else:
            user, session = authenticate_access_token(token)
        request._request.login_session = session
        i18n.activate_for(user)  # the account's language wins over the client's
        return user, session

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class CookieSessionAuthentication(BaseAuthentication):
    """The server's own pages: the session cookie (checked by
    accounts.middleware.LoginSessionMiddleware) with Django's CSRF token on
    unsafe methods."""

    def authenticate(self, request):
        django_request = request._request
        session = getattr(django_request, "login_session", None)
        user = getattr(django_request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return None
        self._enforce_csrf(request)
        i18n.activate_for(user)
        return user, session

    def _enforce_csrf(self, request) -> None:
        def dummy_get_response(_request):  # pragma: no cover - never called
            return None

        check = CSRFCheck(dummy_get_response)
        check.process_request(request)
        reason = check.process_view(request, None, (), {})
        if reason:
            raise PermissionDenied(f"CSRF failed: {reason}")
