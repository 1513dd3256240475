from __future__ import annotations

import pytest

from chatsite import realtime, wire
from contacts.tests.recorder import events  # noqa: F401


class Closes:
    """Socket-close orders handed to the real-time hub: [(user ids, code, session id)]."""

    def __init__(self) -> None:
        self.items: list[tuple[set[int], int, str | None]] = []

    def add(self, user_ids, envelope: bytes) -> None:
        if envelope[:1] == b"C":
            order = wire.loads(envelope[1:])
            self.items.append((set(user_ids), order["code"], order["session"]))


class _ClosingHub:
    def __init__(self, real, closes: Closes) -> None:
        self._real, self._closes = real, closes

    def deliver(self, user_ids, envelope: bytes) -> None:
        user_ids = set(user_ids)
        self._closes.add(user_ids, envelope)
        self._real.deliver(user_ids, envelope)

    def deliver_many(self, items) -> None:
        items = [(set(uids), env) for uids, env in items]
        for uids, env in items:
            self._closes.add(uids, env)
        self._real.deliver_many(items)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def closes(events, monkeypatch) -> Closes:  # noqa: F811
    """Records the close orders (on top of `events`, which records frames)."""
    recorder = Closes()
    proxy = _ClosingHub(realtime.hub(), recorder)
    monkeypatch.setattr(realtime, "hub", lambda: proxy)
    return recorder
