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

_handlers: dict[str, BatchHandler] = {}

# What handlers did in this process (`messages.stored`, `messages.duplicates`...):
# the worker logs it, metrics expose it.
counters: Counter[str] = Counter()


def count(name: str, n: int = 1) -> None:
    counters[name] += n


def bus_handler(topic: str) -> Callable[[BatchHandler], BatchHandler]:
    def register(fn: BatchHandler) -> BatchHandler:
        _handlers[topic] = fn
        return fn

    return register


def handler_for(topic: str) -> BatchHandler:
    if topic not in _handlers:
        autodiscover()
    return _handlers[topic]


def topics() -> list[str]:
    autodiscover()
    return sorted(_handlers)


def autodiscover() -> None:
    """Import every installed app's `bus_handlers` (Django's own autodiscovery)."""
    autodiscover_modules("bus_handlers")


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
