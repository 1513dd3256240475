"""Sending SMS codes through a pluggable backend.

A real provider is a class with this interface, named by its dotted path in
SMS_BACKEND:

    class MyProvider:
        def send(self, *, phone: str, text: str, purpose: str) -> None:
            '''Deliver `text` to `phone` (E.164). Raise an exception on failure;
            the caller answers `unavailable` and the code is not kept.'''

The backends here: console (no provider: printed on the server's terminal,
never to a log), memory (tests in one process) and file (JSON lines in
SMS_FILE_PATH, for tests that span processes). No backend logs a code.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


class SmsBackend(Protocol):
    def send(self, *, phone: str, text: str, purpose: str) -> None: ...


class ConsoleBackend:
    """Prints each SMS to the server's terminal: the stand-in for a provider
    when none is configured. Deliberately not a log record (codes never go
    to a log); its first use says once, in the log, that nothing is sent."""

    warned = False

    def send(self, *, phone: str, text: str, purpose: str) -> None:
        if not ConsoleBackend.warned:
            ConsoleBackend.warned = True
            logger.warning("SMS_BACKEND=console: codes are printed on this terminal, not sent; configure a provider")
        print(f"[sms] to {phone} ({purpose}): {text}", file=sys.stderr, flush=True)


class MemoryBackend:
    outbox: list[dict] = []
    _lock = threading.Lock()

    def send(self, *, phone: str, text: str, purpose: str) -> None:
        with self._lock:
            self.outbox.append({"phone": phone, "text": text, "purpose": purpose})

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls.outbox.clear()


class FileBackend:
    _lock = threading.Lock()

    def send(self, *, phone: str, text: str, purpose: str) -> None:
        line = json.dumps({"phone": phone, "text": text, "purpose": purpose}, ensure_ascii=False)
        with self._lock, open(settings.SMS_FILE_PATH, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


_ALIASES = {
    "console": ConsoleBackend,
    "memory": MemoryBackend,
    "file": FileBackend,
}


@lru_cache(maxsize=4)
def _backend(name: str) -> SmsBackend:
    cls = _ALIASES.get(name) or import_string(name)
    return cls()


def backend() -> SmsBackend:
    return _backend(settings.SMS_BACKEND)
