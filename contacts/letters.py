"""Index letters and sort keys for the contact list (rest.md "Contacts").

A name files under:

- the initial of the pinyin of its first character when that is a Chinese
  character (张 → Z), read by pypinyin with the rest of the name as context;
- its own initial when it is a Latin letter, accents and ligatures folded
  (Émile → E, Øystein → O, ß… → S), full-width forms included (Ａ → A);
- `#` for everything else (digits, emoji, punctuation, other scripts).

Within a section, names sort by a key made of pinyin syllables (for Chinese
characters) and folded lower-case Latin text, so 李明, Lily and 刘 interleave
as l-i-m-i-n-g, l-i-l-y, l-i-u; ties fall back to the tones, then to the
name's own text, then to a caller-given id, so the order is total and stable.
"""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache

OTHER = "#"
LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Latin letters that Unicode does not decompose into a base letter + accent.
_LATIN_EXTRA = {
    "ß": "ss",
    "ẞ": "ss",
    "æ": "ae",
    "Æ": "ae",
    "œ": "oe",
    "Œ": "oe",
    "ø": "o",
    "Ø": "o",
    "ł": "l",
    "Ł": "l",
    "đ": "d",
    "Đ": "d",
    "ð": "d",
    "Ð": "d",
    "þ": "th",
    "Þ": "th",
    "ı": "i",
    "ħ": "h",
    "Ħ": "h",
    "ŋ": "n",
    "Ŋ": "n",
}


@cache
def _pypinyin():
    """pypinyin, loaded at first use: its dictionaries take a third of a
    second to import, which every process (workers, commands) paid at start
    whether or not it ever files a name (a server loads it as it starts:
    chatsite.lifespan)."""
    # At first use, not at import (above).
    import pypinyin
    from pypinyin.constants import RE_HANS

    return pypinyin, RE_HANS


def _is_hans(ch: str) -> bool:
    return _pypinyin()[1].match(ch) is not None


def fold_latin(ch: str) -> str:
    """Lower-case ASCII letters for a Latin letter (accents and ligatures
    folded, full-width forms normalised), else the empty string."""
    if ch in _LATIN_EXTRA:
        return _LATIN_EXTRA[ch]
    decomposed = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    if base and all("a" <= c <= "z" for c in base):
        return base
    return ""


@lru_cache(maxsize=20_000)
def _analyse(name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(letter, syllables, tones) of a display name."""
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        return OTHER, (), ()
    pinyin = _pypinyin()[0]
    lazy_pinyin, Style = pinyin.lazy_pinyin, pinyin.Style  # noqa: N806 (pypinyin's names)
    readings = lazy_pinyin(text, style=Style.NORMAL, errors=lambda chars: list(chars))
    tones = lazy_pinyin(text, style=Style.TONE3, errors=lambda chars: list(chars))
    # With `errors` returning one item per character, every character maps to
    # one reading, so readings[i] belongs to text[i].
    if len(readings) != len(text) or len(tones) != len(text):  # pragma: no cover - pypinyin contract
        readings = [lazy_pinyin(c)[0] for c in text]
        tones = [lazy_pinyin(c, style=Style.TONE3)[0] for c in text]
    syllables: list[str] = []
    tone_marks: list[str] = []
    latin_run = ""
    for ch, reading, tone in zip(text, readings, tones, strict=True):
        if _is_hans(ch):
            if latin_run:
                syllables.append(latin_run)
                tone_marks.append(latin_run)
                latin_run = ""
            syllables.append(reading.lower())
            tone_marks.append(tone.lower())
            continue
        folded = fold_latin(ch)
        if folded:
            latin_run += folded
            continue
        if latin_run:
            syllables.append(latin_run)
            tone_marks.append(latin_run)
            latin_run = ""
        if not ch.isspace():
            syllables.append(ch.casefold())
            tone_marks.append(ch.casefold())
    if latin_run:
        syllables.append(latin_run)
        tone_marks.append(latin_run)

    first = text[0]
    if _is_hans(first):
        letter = readings[0][:1].upper()
        if letter not in LETTERS:  # a rare character pypinyin has no reading for
            letter = OTHER
    else:
        folded = fold_latin(first)
        letter = folded[0].upper() if folded else OTHER
    return letter, tuple(syllables), tuple(tone_marks)


def index_letter(name: str) -> str:
    """`A`–`Z` or `#`."""
    return _analyse(name)[0]


def sort_key(name: str, tiebreak: str = "") -> tuple:
    """The order of names within a section (see the module docstring)."""
    _, syllables, tones = _analyse(name)
    return (" ".join(syllables), tones, unicodedata.normalize("NFC", name), tiebreak)


def section_order(letter: str) -> int:
    """A–Z first, `#` last."""
    return LETTERS.index(letter) if letter in LETTERS else len(LETTERS)


def warm() -> None:
    """Load pypinyin and its dictionaries (a server does it as it starts)."""
    _analyse("张")
