"""Bots the product runs itself (the assistant).

Such a bot's `events_url` is `internal:<name>` (bots.models.INTERNAL_PREFIX):
its events are answered in process by the function the owning app registers
from its AppConfig.ready() (so in every process that sends events), which
returns what a bot's URL would answer (a dict in Slack's reply shape, or None).
An answer it posts (`in_channel`) is not charged to the bot's budget by
bots.events: the handler takes it first, per asker, with
`bots.services.check_answer_rate`, before its costly work, and says when it
cannot (an ephemeral answer costs nothing).
While `enabled()` is false its commands are not offered anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Handler = Callable[[dict], "dict | None"]


@dataclass(frozen=True)
class InternalBot:
    handler: Handler
    enabled: Callable[[], bool]


_bots: dict[str, InternalBot] = {}


def register_internal_bot(name: str, handler: Handler, *, enabled: Callable[[], bool] = lambda: True) -> None:
    _bots[name] = InternalBot(handler, enabled)


def internal_bot(name: str) -> InternalBot | None:
    return _bots.get(name)


def is_enabled(events_url: str) -> bool:
    """For an `internal:` URL, whether that bot is registered and enabled."""
    from_name = _bots.get(events_url.split(":", 1)[1]) if ":" in events_url else None
    return from_name is not None and from_name.enabled()
