"""The bus between the WebSocket (and REST) front and storage.

One interface, two backends chosen by settings:

- in-process (the embedded default): a record is handled in this process, on
  a background thread, after the caller's validation; `publish` resolves once
  the handler has committed. One thread handles records in order, which keeps
  per-conversation order and lets SQLite serialise the writes.
- Kafka (KAFKA_BOOTSTRAP_SERVERS): `publish` resolves on the broker's delivery
  report (acks=all, idempotent producer); `manage.py run_message_worker`
  consumes and calls the same handlers.

Records are keyed by conversation, so one partition orders one conversation.
Handlers are registered per topic by each app's `bus_handlers` module and get
a batch of records; they must be idempotent (a redelivery changes nothing).

Each handler belongs to a consumer group, Kafka's own notion: every group sees
every record of its topics, at its own pace. The `store` group (the message
worker) stores and fans out; other groups (the notifier) follow behind it and
never hold it up: in Kafka each is a consumer group of its own
(`run_message_worker --group-name notifier`); in-process each has its own
thread and queue and gets a topic's records after the `store` group handled
them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import autodiscover_modules

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Record:
    topic: str  # the logical topic ("messages"), without the deployment prefix
    key: str
    value: bytes
    partition: int = -1
    offset: int = -1
    headers: dict[str, bytes] = field(default_factory=dict)


# A handler takes a batch and returns the records it can never process, each
# with its reason: those go to the dead-letter topic and the rest of the batch
# is kept.  handler(records) -> list[tuple[Record, str]] (rejected, reason)
BatchHandler = Callable[[list[Record]], list[tuple[Record, str]]]

STORE = "store"
# A record header the in-process bus sets on what it hands to the other
# groups: the `store` group has handled it already.
HANDLED = "handled"
# Things a person should hear of though they may have no socket open (a call,
# a contact request): `{"v": 1, "type": "call"|"contact_request", "id": pk}`,
# consumed by the notifier (notifications/bus_handlers.py).
NOTIFY_TOPIC = "notify"
# A conversation's log changed other than by a send (an edit, a recall):
# `{"v": 1, "c": conversation pk}`, consumed by the search indexer
# (search/bus_handlers.py), which catches the index up with the log.
INDEX_TOPIC = "index"
# A slash command for a bot: `{"v": 1, "id": uuid, "conversation": pk,
# "user": pk, "bot": pk, "command": name, "text": args}`, keyed by the
# conversation, consumed by the bots group (bots/bus_handlers.py).
COMMANDS_TOPIC = "commands"

_handlers: dict[tuple[str, str], BatchHandler] = {}

# What handlers did in this process (`messages.stored`, `messages.duplicates`...):
# the worker logs it, metrics expose it.
counters: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    counters[name] += n


def bus_handler(topic: str, *, group: str = STORE) -> Callable[[BatchHandler], BatchHandler]:
    def register(fn: BatchHandler) -> BatchHandler:
        _handlers[(group, topic)] = fn
        return fn

    return register


def handler_for(topic: str, *, group: str = STORE) -> BatchHandler:
    if (group, topic) not in _handlers:
        autodiscover()
    return _handlers[(group, topic)]


def topics(*, group: str | None = STORE) -> list[str]:
    """The topics `group` consumes (every group's with None)."""
    autodiscover()
    return sorted({t for g, t in _handlers if group is None or g == group})


def groups() -> list[str]:
    """Every consumer group with a handler, `store` first."""
    autodiscover()
    return sorted({g for g, _ in _handlers}, key=lambda g: (g != STORE, g))


_discovered = False


def autodiscover() -> None:
    """Import every installed app's `bus_handlers` (Django's own autodiscovery), once."""
    global _discovered
    if not _discovered:
        autodiscover_modules("bus_handlers")
        _discovered = True


class Bus(Protocol):
    name: str

    def submit(self, *, topic: str, key: str, value: bytes) -> asyncio.Future:
        """Hand the record over now (records submitted in order stay in order)
        and return a future, on the running loop, that resolves once the record
        is durable (broker ack, or handler commit) or fails with
        chatsite.errors.Unavailable within the produce timeout."""

    async def publish(self, *, topic: str, key: str, value: bytes) -> None:
        """`await submit(...)`."""

    def publish_sync(self, *, topic: str, key: str, value: bytes) -> None:
        """The same, blocking, for synchronous callers (REST views, services)."""

    def post(self, *, topic: str, key: str, value: bytes) -> None:
        """Hand the record over without waiting for it to be durable (a failure
        is logged): for hints someone follows up on, never for what a client
        was told is accepted."""

    def check(self, *, timeout: float) -> None:
        """Raise if the broker does not answer."""

    def close(self) -> None: ...


_buses: dict[str, Bus] = {}
_buses_lock = threading.Lock()


def get_bus() -> Bus:
    backend = settings.BUS_BACKEND
    bus = _buses.get(backend)
    if bus is not None:
        return bus
    with _buses_lock:
        bus = _buses.get(backend)
        if bus is not None:
            return bus
        if backend == "kafka":
            # Only the configured backend is imported (confluent-kafka loads librdkafka).
            from chatsite.bus.kafka import KafkaBus

            bus = KafkaBus()
        else:
            # Only the configured backend is imported.
            from chatsite.bus.inprocess import InProcessBus

            bus = InProcessBus()
        _buses[backend] = bus
    return bus


def reset_bus() -> None:
    """Close and forget the buses (tests that switch settings)."""
    while _buses:
        _, bus = _buses.popitem()
        try:
            bus.close()
        except Exception:
            logger.debug("closing the bus failed", exc_info=True)
