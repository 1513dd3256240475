"""The web pages: sign-in, sign-up, sign-out, and the app shell.

Thin adapters: credentials are checked by the same services as the REST API
(with their limits), and the resulting LoginSession is held by the cookie
session (accounts.middleware.LoginSessionMiddleware), so logout, a password
change or an administrator's disable end it like any token. Everything after
sign-in happens in the browser over the REST API and the WebSocket.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as accounts
from accounts.middleware import SESSION_KEY
from accounts.models import SessionKind
from accounts.serializers import user_to_wire
from chatsite.errors import ChatError
from chatsite.net import request_device, request_ip

SECTIONS = ("chats", "contacts", "groups", "calls", "profile")
PASSWORD_RESET_KEY = "web.password_reset"


def _client(request: HttpRequest) -> accounts.Client:
    return accounts.Client(ip=request_ip(request), device=request_device(request.META.get("HTTP_USER_AGENT")))


def _signed_in(request: HttpRequest) -> bool:
    return getattr(request, "login_session", None) is not None and request.user.is_authenticated


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("web:home")


def _error_text(err: ChatError) -> str:
    """A sentence for the person at the keyboard, in their language."""
    if err.code == "invalid_credentials":
        return _("Wrong login or password, or a wrong or expired code.")
    if err.code == "account_disabled":
        return _("This account has been disabled by an administrator.")
    if err.code == "rate_limited":
        return _("Too many attempts. Wait %(s)s seconds and try again.") % {"s": err.retry_after or 60}
    if err.code == "conflict":
        return _("This username or phone number is already taken.")
    if err.code == "unavailable":
        return _("The service is unavailable right now. Try again in a moment.")
    return _("Please check the form.")


def _field_errors(err: ChatError) -> dict[str, list[str]]:
    if err.code != "invalid" or not err.fields:
        return {}
    return {name: list(messages) for name, messages in err.fields.items()}


def _repeated_password(request: HttpRequest, context: dict) -> str | None:
    """The new password when both fields agree; else None, with the error in `context`."""
    password, confirm = request.POST.get("password", ""), request.POST.get("password2", "")
    if password != confirm:
        context["error"] = _("Please check the form.")
        context["fields"] = {"password2": [_("The two passwords differ.")]}
        return None
    return password


def _start_web_session(request: HttpRequest, result: accounts.LoginResult) -> HttpResponse:
    # login() rotates the session key (no fixation) and lets an administrator
    # use /admin/ with the same sign-in.
    auth_login(request, result.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_KEY] = str(result.session.uuid)
    return redirect(_next_url(request))


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    if _signed_in(request):
        return redirect(_next_url(request))
    method = request.POST.get("method", "password") if request.method == "POST" else request.GET.get("tab", "password")
    method = method if method in ("password", "sms") else "password"
    context = {
        "method": method,
        "next": _next_url(request),
        "values": {},
        "error": None,
        "fields": {},
        "was_reset": request.method == "GET" and request.session.pop(PASSWORD_RESET_KEY, False),
    }
    if request.method == "POST":
        values = {"login": request.POST.get("login", ""), "phone": request.POST.get("phone", "")}
        context["values"] = values
        try:
            if method == "password":
                result = accounts.do_login_password(
                    login=values["login"],
                    password=request.POST.get("password", ""),
                    client=_client(request),
                    session_kind=SessionKind.WEB,
                )
            else:
                result = accounts.do_login_sms(
                    phone=values["phone"],
                    code=request.POST.get("code", "").strip(),
                    client=_client(request),
                    session_kind=SessionKind.WEB,
                )
        except ChatError as err:
            context["error"] = _error_text(err)
            context["fields"] = _field_errors(err)
            return render(request, "web/login.html", context, status=err.status)
        return _start_web_session(request, result)
    return render(request, "web/login.html", context)


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def register_page(request: HttpRequest) -> HttpResponse:
    if _signed_in(request):
        return redirect(_next_url(request))
    context = {"next": _next_url(request), "values": {}, "error": None, "fields": {}}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("username", "nickname", "phone")}
        context["values"] = values
        password = _repeated_password(request, context)
        if password is None:
            return render(request, "web/register.html", context, status=400)
        try:
            result = accounts.do_register(
                username=values["username"].strip(),
                password=password,
                nickname=values["nickname"],
                phone=values["phone"].strip() or None,
                sms_code=request.POST.get("sms_code", "").strip() or None,
                client=_client(request),
                session_kind=SessionKind.WEB,
            )
        except ChatError as err:
            context["error"] = _error_text(err)
            context["fields"] = _field_errors(err)
            return render(request, "web/register.html", context, status=err.status)
        return _start_web_session(request, result)
    return render(request, "web/register.html", context)


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def reset_page(request: HttpRequest) -> HttpResponse:
    """A forgotten password: a new one with an SMS code to the account's phone.
    Every session of the account ends; the person then signs in again."""
    context = {"values": {}, "error": None, "fields": {}}
    if request.method == "POST":
        values = {"phone": request.POST.get("phone", "")}
        context["values"] = values
        password = _repeated_password(request, context)
        if password is None:
            return render(request, "web/reset.html", context, status=400)
        try:
            accounts.do_reset_password(
                phone=values["phone"].strip(),
                code=request.POST.get("code", "").strip(),
                new_password=password,
                client=_client(request),
            )
        except ChatError as err:
            if err.code == "invalid_credentials":
                context["error"] = _("Wrong or expired code.")
            else:
                context["error"] = _error_text(err)
            fields = _field_errors(err)
            if "new_password" in fields:
                fields["password"] = fields.pop("new_password")
            context["fields"] = fields
            return render(request, "web/reset.html", context, status=err.status)
        if _signed_in(request):
            auth_logout(request)  # its login session has just ended with the others
        request.session[PASSWORD_RESET_KEY] = True  # the sign-in page says so, once
        return redirect("web:login")
    return render(request, "web/reset.html", context)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Ends this browser's login session (its sockets close with 4401) and the cookie session."""
    session = getattr(request, "login_session", None)
    if session is not None:
        accounts.do_revoke_session(session=session, reason="logout")
    auth_logout(request)
    return redirect("web:login")


def signed_in_page(view):
    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not _signed_in(request):
            return redirect(f"{reverse('web:login')}?next={request.get_full_path()}")
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@ensure_csrf_cookie
@signed_in_page
def app_page(request: HttpRequest, section: str = "chats", item: str | None = None) -> HttpResponse:
    """The app shell: every section is served by the same page, so that the
    browser keeps one socket (and a call) while the user moves around."""
    user = request.user
    config = {
        "user": user_to_wire(user, with_phone=True),
        "section": section,
        "item": item,
        "recall_window_s": settings.RECALL_WINDOW_S,
        "max_text": settings.MAX_TEXT,
        "max_file": settings.MAX_FILE_BYTES,
        "typing_interval_s": settings.LIMIT_TYPING_INTERVAL_S,
        "login_url": reverse("web:login"),
    }
    return render(
        request,
        "web/app.html",
        {"config": config, "section": section, "sections": SECTIONS, "is_admin": user.is_admin},
    )
