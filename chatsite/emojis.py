"""Which strings are one emoji: Unicode's RGI emoji (emoji-test.txt, as the
maintained `emoji` package ships it), skin tones and ZWJ sequences
included. Minimally-qualified and unqualified forms name the same emoji as
their fully-qualified form (`❤` and `❤️` are one reaction)."""

from __future__ import annotations

from functools import cache

import emoji

_FULLY = emoji.STATUS["fully_qualified"]
_COMPONENT = emoji.STATUS["component"]
# The longest RGI sequence is well under this (family ZWJ sequences: 11 code points).
MAX_CODE_POINTS = 16


@cache
def _fully_qualified_by_name() -> dict[str, str]:
    return {data["en"]: char for char, data in emoji.EMOJI_DATA.items() if data["status"] == _FULLY}


def normalize_emoji(value: object) -> str | None:
    """The fully-qualified form of `value` when it is exactly one emoji, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_CODE_POINTS:
        return None
    data = emoji.EMOJI_DATA.get(value)
    if data is None or data["status"] == _COMPONENT:
        return None
    if data["status"] == _FULLY:
        return value
    return _fully_qualified_by_name().get(data["en"])
