"""The rules of an account's fields: usernames, passwords, nicknames, signatures."""

from __future__ import annotations

import logging

from django.utils.translation import gettext

from accounts.models import NICKNAME_MAX, PASSWORD_MAX, SIGNATURE_MAX
from accounts.selectors import canonical_username
from chatsite.errors import (
    Invalid,
)
from chatsite.text import clean_text

logger = logging.getLogger(__name__)


def clean_username(value: object) -> str:
    """The username to store (see accounts.selectors.USERNAME_RE for the rule)."""
    name = canonical_username(value)
    if name is None:
        raise Invalid.field("username", gettext("3 to 32 letters (a-z), digits or underscores."))
    return name


def clean_password(value: object, *, username: str | None, field: str = "password") -> str:
    if not isinstance(value, str):
        raise Invalid.field(field, gettext("Must be a string."))
    if len(value) < 8:
        raise Invalid.field(field, gettext("At least 8 characters."))
    if len(value) > PASSWORD_MAX:
        raise Invalid.field(field, gettext("At most %(password_max)s characters.") % {"password_max": PASSWORD_MAX})
    if value.isdigit():
        raise Invalid.field(field, gettext("Must not be all digits."))
    if username and value.lower() == username.lower():
        raise Invalid.field(field, gettext("Must not be the username."))
    if "\x00" in value:
        raise Invalid.field(field, gettext("Must not contain NUL characters."))
    return value


def clean_nickname(value: object) -> str:
    return clean_text(value, field="nickname", max_len=NICKNAME_MAX, allow_empty=True)


def clean_signature(value: object) -> str:
    return clean_text(value, field="signature", max_len=SIGNATURE_MAX, allow_empty=True)
