"""The language the server's texts for a person are in (error messages;
pushes choose theirs in notifications.delivery): the account's choice
(`language`, which wins on every device), else what the browser asks for
(the language cookie the web app sets, then Accept-Language), else
LANGUAGE_CODE.

REST requests get the browser's part from Django's LocaleMiddleware and the
account's when they are authenticated (accounts.authentication); a socket
gets all of it at its handshake (`socket_language`), and the gateway handles
each frame in it."""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy


def supported(code: object) -> str | None:
    """`code` as one of LANGUAGES (`zh-CN` is `zh-hans`), or None."""
    if not isinstance(code, str) or not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def activate_for(user) -> str | None:
    """The account's language, if it chose one, for the rest of this request
    (returned; None when it chose none)."""
    chosen = supported(getattr(user, "language", None))
    if chosen is not None and chosen != translation.get_language():
        translation.activate(chosen)
    return chosen


def accepted_languages(header: str) -> list[str]:
    """An Accept-Language header's language tags, most wanted first (ties in
    the header's order; `q=0` and malformed entries left out)."""
    ranked = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or len(tag) > 64:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = -1.0
        if 0 < weight <= 1:
            ranked.append((-weight, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def socket_language(user, scope: dict) -> str:
    """The language of a socket's texts, from its handshake."""
    chosen = supported(getattr(user, "language", None))
    if chosen is not None:
        return chosen
    cookie = supported((scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME))
    if cookie is not None:
        return cookie
    for name, value in scope.get("headers") or ():
        if name == b"accept-language":
            for code in accepted_languages(value.decode("latin-1")):
                if code != "*" and (found := supported(code)) is not None:
                    return found
    return settings.LANGUAGE_CODE


# A refusal that names a state is a whole sentence per state, so that each
# language can say it in its own word order (the stored value is the wire's,
# in English).
_REQUEST_CLOSED = {
    "pending": gettext_lazy("This request is still pending."),
    "accepted": gettext_lazy("This request is already accepted."),
    "rejected": gettext_lazy("This request is already rejected."),
    "cancelled": gettext_lazy("This request is already cancelled."),
}
_GROUP_NOT_ACTIVE = {
    "active": gettext_lazy("This group is active."),
    "disabled": gettext_lazy("This group is disabled."),
    "dismissed": gettext_lazy("This group is dismissed."),
}


def request_closed_text(status: str) -> str:
    """Why a request in `status` can no longer be decided or cancelled."""
    return str(_REQUEST_CLOSED.get(status, gettext_lazy("This request is closed.")))


def group_state_text(status: str) -> str:
    """Why a group in `status` refuses what needs it active."""
    return str(_GROUP_NOT_ACTIVE.get(status, gettext_lazy("This group is not active.")))
