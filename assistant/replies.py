"""Smart replies: up to three short replies to offer the recipient of a message.

Retrieval, not generation: the incoming message's vector is compared with the
messages the recipient received before, and what the recipient answered to
the closest ones is offered again (ordered by closeness). Slots left over are
filled from the built-in replies (assistant.coldstart) in the language of the
incoming message.

Pure: no database, no settings, no network. The function sees only what it is
given, so whatever is passed as `history` must be the recipient's own direct
chats: the caller decides whose data this is, and nothing here mixes users.
A suggestion is only ever offered, never sent.

A reply is offered again only if it is short, one line, and carries nothing
personal that made sense once but not twice: no link, e-mail address, long
number (phone numbers, one-time codes, account numbers) or file name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from assistant import coldstart
from assistant.language import detect_language

MAX_SUGGESTIONS = 3
MAX_REPLY_CHARS = 60
# Cosine floors, measured on paraphrase pairs (assistant/README.md). E5 puts
# unrelated short messages at 0.80-0.88 (higher in Chinese than in English)
# and paraphrases at 0.86-0.98: 0.90 keeps the user's history precise.
HISTORY_THRESHOLD = 0.90
HISTORY_WINDOW = 0.03  # and no further than this below the closest pair: fewer wrong neighbours along
COLDSTART_THRESHOLD = 0.88
COLDSTART_MARGIN = 0.02  # over the closest "needs no reply" example

_URL = re.compile(
    r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S|\b[a-z0-9-]+\.(?:com|net|org|io|cn|ru|de|fr|es|uk|jp|app|dev)\b"
)
_EMAIL = re.compile(r"\S@\S+\.\w")
_LONG_NUMBER = re.compile(r"\d(?:[\s\-.]?\d){4,}")
_FILE = re.compile(
    r"(?i)\S\.(?:jpe?g|png|gif|webp|heic|pdf|docx?|xlsx?|pptx?|zip|rar|7z|mp[34]|m4a|mov|avi|txt|csv|apk)\b"
    r"|^\s*\[[^\]]{1,30}\]\s*$"  # placeholders like [image], [文件]
)


class HistoryPair(NamedTuple):
    """A message someone sent the recipient in a direct chat, and what the recipient answered next."""

    incoming_text: str
    incoming_vector: np.ndarray  # assistant.embedding vector of incoming_text
    reply_text: str


@dataclass(frozen=True)
class Suggestion:
    text: str
    score: float  # cosine of the incoming message to what this answered (or to the intent)
    source: Literal["history", "coldstart"]


def normalize_reply(text: str) -> str:
    """The form two replies are compared in: "OK!" and "ok" are the same reply."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(c for c in folded if not unicodedata.category(c).startswith("P"))
    return " ".join(kept.split()) or " ".join(folded.split())


def is_suggestable(reply: str) -> bool:
    """Whether `reply` may be offered again: short, one line, nothing personal or attached."""
    reply = reply.strip()
    return (
        0 < len(reply) <= MAX_REPLY_CHARS
        and "\n" not in reply
        and not _URL.search(reply)
        and not _EMAIL.search(reply)
        and not _LONG_NUMBER.search(reply)
        and not _FILE.search(reply)
    )


def suggest_replies(
    *,
    text: str,
    vector: np.ndarray,
    history: Sequence[HistoryPair | tuple[str, np.ndarray, str]],
    fallback_language: str | None = None,
    limit: int = MAX_SUGGESTIONS,
) -> list[Suggestion]:
    """Up to `limit` replies to offer for the incoming message `text` (embedded as `vector`).

    First what the recipient answered to the received messages of `history`
    closest to this one (cosine at least HISTORY_THRESHOLD, and within
    HISTORY_WINDOW of the closest), best first; then built-in replies for the
    closest common intent, in the language of `text` (or `fallback_language`,
    e.g. the recipient's locale "zh-Hans", when the text has no letters; none
    where that language has no built-in replies).
    `history` is oldest first; among equally close pairs the latest wins.
    Replies are de-duplicated in their normalised form.

    Raises assistant.embedding.EmbeddingUnavailable when the built-in replies
    are needed and the model cannot run (their examples are embedded once).
    """
    if not text.strip() or limit <= 0:
        return []
    query = np.asarray(vector, dtype=np.float32)
    chosen: dict[str, Suggestion] = {}

    for reply, score in _from_history(query, history):
        if len(chosen) >= limit:
            return list(chosen.values())
        chosen.setdefault(normalize_reply(reply), Suggestion(text=reply, score=score, source="history"))

    language = detect_language(text) or (fallback_language or "").split("-")[0].split("_")[0].lower()
    if len(chosen) < limit and language in coldstart.LANGUAGES:
        for match in coldstart.match_intents(query, threshold=COLDSTART_THRESHOLD, margin=COLDSTART_MARGIN):
            for reply in match.intent.replies[language]:
                if len(chosen) >= limit:
                    break
                chosen.setdefault(normalize_reply(reply), Suggestion(text=reply, score=match.score, source="coldstart"))
    return list(chosen.values())[:limit]


def _from_history(
    query: np.ndarray, history: Sequence[HistoryPair | tuple[str, np.ndarray, str]]
) -> list[tuple[str, float]]:
    """The suggestable replies of the pairs close enough to `query`, closest first."""
    if not history:
        return []
    vectors = np.vstack([np.asarray(pair[1], dtype=np.float32) for pair in history])
    scores = vectors @ query
    close = np.flatnonzero(scores >= max(HISTORY_THRESHOLD, float(scores.max()) - HISTORY_WINDOW))
    # Closest first; among equals, the latest pair (history is oldest first).
    ordered = sorted(close, key=lambda i: (-scores[i], -i))
    return [(history[i][2].strip(), float(scores[i])) for i in ordered if is_suggestable(history[i][2])]
