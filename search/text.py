"""How text becomes searchable: one tokenizer for the index, the query and the
snippet, so every backend finds the same messages.

- Words (UAX #29 word segments, approximated: letters and digits joined by
  the mid-word marks of `'`, `’`, `.`, `:`, `·`, and `,` between digits) are
  folded (NFKC, case, accents) and matched by prefix.
- Chinese, Japanese and Korean runs are indexed as overlapping pairs of
  characters (bigrams) plus the run's last character, so any substring of two
  or more characters is a phrase of bigrams and a single character is a
  prefix of one.
- Emoji are tokens of their own (`❤` and `❤️` are one).

The index body is the tokens separated by spaces; a backend only needs a
whitespace tokenizer, prefix terms and phrases (Mroonga's TokenDelimit, SQLite
FTS5's unicode61, or LIKE over the body).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Han (with extensions and compatibility ideographs), kana, Hangul, and the
# CJK marks that live inside words (々, ー).
_CJK = (
    "\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3031-\u3035\u3038-\u303c"
    "\u3040-\u30ff\u3131-\u318e\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\u1100-\u11ff"
    "\U00020000-\U0003134f"
)
_EMOJI = "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u21aa\u231a-\u23ff\u24c2\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
_MODS = "\ufe0f\ufe0e\U0001f3fb-\U0001f3ff\u20e3\U000e0020-\U000e007f"
_LETTER = rf"[^\W_{_CJK}]"
_WORDCHAR = rf"[^\W{_CJK}]"  # with `_`, which joins words (UAX #29 ExtendNumLet)
TOKEN = re.compile(
    rf"(?P<cjk>[{_CJK}]+)"
    rf"|(?P<emoji>[{_EMOJI}][{_MODS}]*(?:\u200d[{_EMOJI}][{_MODS}]*)*)"
    rf"|(?P<word>{_WORDCHAR}+(?:(?:['’.:·]|(?<=\d),(?=\d)){_LETTER}{_WORDCHAR}*)*)"
)
# In the index a word keeps only letters and digits (FTS5's unicode61 splits on the rest).
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "cjk" | "emoji"
    start: int  # code-point offsets into the original text
    end: int
    norm: str


def fold(text: str) -> str:
    """Compatibility forms, case and accents folded (not in CJK: a kana's
    voicing mark is not an accent)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if not unicodedata.combining(ch):
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _fold_cjk(run: str) -> str:
    """One folded character per character (so offsets stay aligned)."""
    out = []
    for ch in run:
        folded = unicodedata.normalize("NFKC", ch)
        out.append(folded if len(folded) == 1 else ch)
    return "".join(out)


def _emoji_key(text: str) -> str:
    base = [c for c in text if c not in "\ufe0f\ufe0e"]
    return "zz" + "x".join(f"{ord(c):x}" for c in base)


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        raw = m.group()
        if kind == "word":
            norm = _NOT_ALNUM.sub("", fold(raw))
        elif kind == "cjk":
            norm = _fold_cjk(raw)
        else:
            norm = _emoji_key(raw)
        if norm:
            out.append(Token(kind, m.start(), m.end(), norm))
    return out


# A file name's `.` and `_` separate words ("report.pdf" is found by "pdf").
_NAME_MARKS = re.compile(r"[._]")


def name_words(name: str) -> str:
    """A file name with its separators as spaces (the same length, so offsets hold)."""
    return _NAME_MARKS.sub(" ", name)


def index_body(text: str | None, names: list[str] = ()) -> str:
    """What the index stores for a message: its tokens separated by spaces,
    CJK runs as bigrams plus the last character."""
    parts: list[str] = []
    for source in [text, *(name_words(n) for n in names)]:
        if not source:
            continue
        for t in tokens(source):
            if t.kind == "cjk":
                run = t.norm
                parts.extend(run[i : i + 2] for i in range(len(run) - 1))
                parts.append(run[-1])
            else:
                parts.append(t.norm)
    return " ".join(parts)


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain: a phrase of index tokens, the last of
    them matched as a prefix when `prefix`."""

    tokens: tuple[str, ...]
    prefix: bool
    kind: str
    text: str  # the folded query word (for highlighting)


def parse_query(q: str) -> list[Term]:
    """The terms of a query; [] when it has nothing searchable (`%`, `!!`)."""
    terms: list[Term] = []
    seen: set[tuple] = set()
    for t in tokens(q):
        if t.kind == "word":
            term = Term((t.norm,), True, "word", t.norm)
        elif t.kind == "emoji":
            term = Term((t.norm,), False, "emoji", t.norm)
        elif len(t.norm) == 1:
            term = Term((t.norm,), True, "cjk", t.norm)
        else:
            run = t.norm
            term = Term(tuple(run[i : i + 2] for i in range(len(run) - 1)), False, "cjk", run)
        key = (term.tokens, term.prefix)
        if key not in seen:
            seen.add(key)
            terms.append(term)
    return terms


# --------------------------------------------------------------------------- snippets

SNIPPET_MAX = 200  # code points
SNIPPET_BEFORE = 60  # context kept before the first hit


def match_ranges(text: str, terms: list[Term]) -> list[tuple[int, int]] | None:
    """Where the terms occur in `text` (code-point ranges, sorted and merged),
    or None unless every term occurs."""
    toks = tokens(text)
    found: list[tuple[int, int]] = []
    for term in terms:
        hits: list[tuple[int, int]] = []
        for t in toks:
            if term.kind == "word" and t.kind == "word" and t.norm.startswith(term.text):
                hits.append((t.start, t.end))
            elif term.kind == "emoji" and t.kind == "emoji" and t.norm == term.text:
                hits.append((t.start, t.end))
            elif term.kind == "cjk" and t.kind == "cjk":
                at = t.norm.find(term.text)
                while at >= 0:
                    hits.append((t.start + at, t.start + at + len(term.text)))
                    at = t.norm.find(term.text, at + 1)
        if not hits:
            return None
        found.extend(hits)
    return _merge(found)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, ranges: list[tuple[int, int]]) -> dict:
    """`{"snippet", "ranges"}`: the text around the first hit, at most
    SNIPPET_MAX code points, with `…` where it was cut."""
    if len(text) <= SNIPPET_MAX:
        return {"snippet": text, "ranges": [list(r) for r in ranges]}
    first = ranges[0][0] if ranges else 0
    start = max(0, first - SNIPPET_BEFORE)
    if start > 0:
        # Start at a word's beginning when one is near.
        space = text.rfind(" ", max(0, start - 15), start + 1)
        if space >= 0:
            start = space + 1
    head = "…" if start > 0 else ""
    # The marks count toward the limit too.
    end = min(len(text), start + SNIPPET_MAX - len(head))
    if end < len(text):
        end -= 1
    tail = "…" if end < len(text) else ""
    shift = len(head) - start
    inside = [[max(s, start) + shift, min(e, end) + shift] for s, e in ranges if s < end and e > start]
    return {"snippet": head + text[start:end] + tail, "ranges": inside}


def matches(text: str | None, names: list[str], terms: list[Term]) -> bool:
    """Whether every term occurs in the text or a file name, as the index
    would find it (index_body stores all of them as one body)."""
    sources = [source for source in [text, *(name_words(n) for n in names)] if source]
    return all(any(match_ranges(source, [term]) for source in sources) for term in terms)


def best_match(text: str | None, names: list[str], terms: list[Term]) -> dict:
    """The snippet of the first source (the text or caption, then the file
    names) where all terms occur, else of the one with any hit, else of the
    first."""
    sources = [(text, text)] if text else []
    sources += [(n, name_words(n)) for n in names if n]
    if not sources:
        return {"snippet": "", "ranges": []}
    for shown, searched in sources:
        ranges = match_ranges(searched, terms)
        if ranges:
            return snippet(shown, ranges)
    for shown, searched in sources:
        partial: list[tuple[int, int]] = []
        for term in terms:
            partial.extend(match_ranges(searched, [term]) or [])
        if partial:
            return snippet(shown, _merge(partial))
    return snippet(sources[0][0], [])
