"""User-written text (names, remarks, notices, signatures, reasons): one rule
for every app. The JSON schema states the same rule (chatsite.drf.text_field).
Message text (and drafts) keep what was typed: `check_message_text`."""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.utils.translation import gettext

from chatsite.errors import Invalid, TooLarge

# Text-direction overrides and isolates: they make a name read as another.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(value: object, *, field: str, max_len: int, allow_empty: bool, multiline: bool = False) -> str:
    """User-written text: a string of at most max_len characters with no
    control characters (newlines and tabs only when `multiline`) and no
    text-direction overrides, returned NFC and trimmed (and not empty after
    trimming unless `allow_empty`)."""
    if not isinstance(value, str):
        raise Invalid.field(field, gettext("Must be a string."))
    # Length and characters are judged on what was sent, as the schema states
    # them: a control character is refused even where trimming would drop it
    # ("\rname" is a bad request, not "name"), and trailing blanks count.
    text = unicodedata.normalize("NFC", value)
    if len(value) > max_len or len(text) > max_len:
        raise Invalid.field(field, gettext("At most %(max_len)s characters.") % {"max_len": max_len})
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in text):
        raise Invalid.field(field, gettext("Must not contain control characters."))
    if any(ch in _BIDI_CONTROLS for ch in text):
        raise Invalid.field(field, gettext("Must not contain text-direction override characters."))
    text = text.strip()
    if not text and not allow_empty:
        raise Invalid.field(field, gettext("Must not be empty."))
    return text


def check_message_text(value: object, *, field: str, what: str) -> str:
    """The text of a message (or a draft of one), kept as typed: a string of
    at most MAX_TEXT code points (`too_large` beyond) with no NUL. Whether it
    may be empty is the caller's rule."""
    if not isinstance(value, str):
        raise Invalid.field(field, gettext("Must be a string."))
    if len(value) > settings.MAX_TEXT:
        raise TooLarge(
            gettext("%(what)s may have at most %(max_text)s characters.")
            % {"what": what, "max_text": settings.MAX_TEXT}
        )
    if "\x00" in value:
        raise Invalid.field(field, gettext("Must not contain NUL characters."))
    return value
