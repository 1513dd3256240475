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
from django.views.i18n import set_language

from accounts.actions.login import check_registration, do_login_password, do_login_sms, do_register, do_reset_password
from accounts.actions.profile import do_update_profile
from accounts.actions.sessions import Client, LoginResult, do_revoke_session
from accounts.actions.sms import sms_cooldown_left
from accounts.middleware import SESSION_KEY
from accounts.models import SessionKind
from accounts.selectors import username_taken
from accounts.serializers import user_to_wire
from chatsite.errors import ChatError, Invalid
from chatsite.i18n import activate_for
from chatsite.net import request_device, request_ip

SECTIONS = ("chats", "contacts", "groups", "calls", "profile")
PASSWORD_RESET_KEY = "web.password_reset"
# Why the app sent someone to sign in (`/login?reason=`): the socket's close code told it.
SIGN_OUT_REASONS = ("disabled", "signed_out")


def _client(request: HttpRequest) -> Client:
    return Client(ip=request_ip(request), device=request_device(request.META.get("HTTP_USER_AGENT")))


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


def _registration_problems(request: HttpRequest, values: dict) -> dict[str, list[str]]:
    """Everything wrong with a sign-up form, all at once: each field by the
    account rules, the repeated password, a username already taken."""
    password = request.POST.get("password", "")
    fields: dict[str, list[str]] = {}
    try:
        check_registration(
            username=values["username"].strip(),
            password=password,
            nickname=values["nickname"],
            phone=values["phone"].strip() or None,
            sms_code=request.POST.get("sms_code", "").strip() or None,
        )
    except Invalid as err:
        fields = _field_errors(err)
    if password != request.POST.get("password2", ""):
        fields.setdefault("password2", []).append(_("The two passwords differ."))
    if "username" not in fields and username_taken(values["username"].strip()):
        fields["username"] = [_("This username is taken.")]
    return fields


def _start_web_session(request: HttpRequest, result: LoginResult) -> HttpResponse:
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
        "reason": request.GET.get("reason") if request.GET.get("reason") in SIGN_OUT_REASONS else None,
        "cooldown": 0,
    }
    if request.method == "POST":
        values = {"login": request.POST.get("login", ""), "phone": request.POST.get("phone", "")}
        context["values"] = values
        try:
            if method == "password":
                result = do_login_password(
                    login=values["login"],
                    password=request.POST.get("password", ""),
                    client=_client(request),
                    session_kind=SessionKind.WEB,
                )
            else:
                result = do_login_sms(
                    phone=values["phone"],
                    code=request.POST.get("code", "").strip(),
                    client=_client(request),
                    session_kind=SessionKind.WEB,
                )
        except ChatError as err:
            context["error"] = _error_text(err)
            context["fields"] = _field_errors(err)
            if method == "sms":
                # "Send code" stays off while the last code's cooldown runs.
                context["cooldown"] = sms_cooldown_left(phone=values["phone"], purpose="login")
            return render(request, "web/login.html", context, status=err.status)
        return _start_web_session(request, result)
    return render(request, "web/login.html", context)


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def register_page(request: HttpRequest) -> HttpResponse:
    if _signed_in(request):
        return redirect(_next_url(request))
    context = {"next": _next_url(request), "values": {}, "error": None, "fields": {}, "cooldown": 0}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("username", "nickname", "phone")}
        context["values"] = values
        context["cooldown"] = sms_cooldown_left(phone=values["phone"], purpose="register") if values["phone"] else 0
        fields = _registration_problems(request, values)
        if fields:
            context["error"] = _("Please check the form.")
            context["fields"] = fields
            if not {"password", "password2"} & set(fields):
                # The passwords were fine: the person need not type them again.
                context["password"] = request.POST.get("password", "")
            return render(request, "web/register.html", context, status=400)
        password = request.POST.get("password", "")
        try:
            result = do_register(
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
            if err.code == "invalid_credentials":
                # The only credential a sign-up has is the SMS code: say so, by its field.
                context["error"] = _("Please check the form.")
                context["fields"] = {"sms_code": [_("Wrong or expired code.")]}
            return render(request, "web/register.html", context, status=err.status)
        return _start_web_session(request, result)
    return render(request, "web/register.html", context)


@never_cache
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def reset_page(request: HttpRequest) -> HttpResponse:
    """A forgotten password: a new one with an SMS code to the account's phone.
    Every session of the account ends; the person then signs in again."""
    context = {"values": {}, "error": None, "fields": {}, "cooldown": 0}
    if request.method == "POST":
        values = {"phone": request.POST.get("phone", "")}
        context["values"] = values
        context["cooldown"] = sms_cooldown_left(phone=values["phone"], purpose="reset")
        password = _repeated_password(request, context)
        if password is None:
            return render(request, "web/reset.html", context, status=400)
        try:
            do_reset_password(
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
        do_revoke_session(session=session, reason="logout")
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
def app_page(
    request: HttpRequest, section: str = "chats", item: str | None = None, bot: str | None = None
) -> HttpResponse:
    """The app shell: every section is served by the same page, so that the
    browser keeps one socket (and a call) while the user moves around. The
    scripts read the bot (if any) from the API, as any other item."""
    if bot is not None:
        item = f"bots/{bot}"
    user = request.user
    if (chosen := activate_for(user)) is not None:
        # The language chosen on the account wins on every device.
        request.LANGUAGE_CODE = chosen
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
    response = render(
        request,
        "web/app.html",
        {"config": config, "section": section, "sections": SECTIONS, "is_admin": user.is_admin},
    )
    if user.language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != user.language:
        response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax")
    return response


def set_language_view(request: HttpRequest) -> HttpResponse:
    """Django's language switch; signed in, the choice is kept on the account
    too, so the person's other devices follow it."""
    response = set_language(request)
    language = request.POST.get("language")
    if request.method == "POST" and _signed_in(request) and language in dict(settings.LANGUAGES):
        do_update_profile(user=request.user, language=language)
    return response


def section_with_slash(request: HttpRequest, section: str) -> HttpResponse:
    """`/contacts/` is `/contacts` (people type it so); `/chats/` is the chat list."""
    return redirect("web:home" if section == "chats" else f"web:{section}")
