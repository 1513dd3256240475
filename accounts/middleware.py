"""Ties the web pages' cookie session to a LoginSession, so that logout,
password changes and an administrator's disable end it like any token."""

from __future__ import annotations

from django.contrib.auth import logout
from django.contrib.auth.models import AnonymousUser

from accounts.actions.sessions import authenticate_session_id
from chatsite.errors import ChatError

SESSION_KEY = "login_session"


class LoginSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.login_session = None
        sid = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
        if sid is not None:
            try:
                user, session = authenticate_session_id(sid)
            except ChatError:
                logout(request)
                request.user = AnonymousUser()
            else:
                request.user = user
                request.login_session = session
        return self.get_response(request)
