"""Phone numbers: accepted as E.164 or as an 11-digit mainland China number,
stored in E.164."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext

from chatsite.errors import Invalid


def normalize_phone(raw: object, *, field: str = "phone") -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 32:
        raise Invalid.field(field, gettext("Enter a phone number in international format, like +8613800138000."))
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else settings.SMS_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        raise Invalid.field(field, gettext("This is not a phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        raise Invalid.field(field, gettext("This phone number is not valid."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except Invalid:
        return None
