"""Records every frame the services hand to the real-time hub (and still
delivers it), so service tests can assert events and their recipients.

    def test_x(events, alice, bob):
        with events.capture():       # runs the block's on-commit hooks at its end, as a commit would
            do_something()
        assert events.of_type("contact.added") == [({alice.pk}, {...}), ({bob.pk}, {...})]

A service that raises rolls its savepoint back, and with it the hooks it
scheduled: `events.items` stays empty, as nothing would have been sent.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from chatsite import realtime, wire


class Recorder:
    def __init__(self, capture_on_commit) -> None:
        self.items: list[tuple[set[int], dict]] = []
        self._capture_on_commit = capture_on_commit

    def capture(self):
        return self._capture_on_commit(execute=True)

    def add(self, user_ids: Iterable[int], envelope: bytes) -> None:
        kind, body = envelope[:1], envelope[1:]
        if kind == b"F":
            self.items.append((set(user_ids), wire.loads(body)))
        elif kind == b"S":
            # A socket-specific envelope (a sender's ack): record what the user's other sockets get.
            _, rest = body.split(b"|", 1)
            _, others = rest.split(b"\0", 1)
            if others:
                self.items.append((set(user_ids), wire.loads(others)))

    def of_type(self, frame_type: str) -> list[tuple[set[int], dict]]:
        return [(uids, frame) for uids, frame in self.items if frame.get("type") == frame_type]

    def types(self) -> list[str]:
        return [frame["type"] for _, frame in self.items]

    def to(self, user) -> list[dict]:
        """Frames `user` received, in order."""
        return [frame for uids, frame in self.items if user.pk in uids]

    def recipients(self, frame_type: str) -> set[int]:
        out: set[int] = set()
        for uids, _ in self.of_type(frame_type):
            out |= uids
        return out

    def clear(self) -> None:
        self.items.clear()


class _RecordingHub:
    def __init__(self, real, recorder: Recorder) -> None:
        self._real, self._recorder = real, recorder

    def deliver(self, user_ids, envelope: bytes) -> None:
        user_ids = set(user_ids)
        self._recorder.add(user_ids, envelope)
        self._real.deliver(user_ids, envelope)

    def deliver_many(self, items) -> None:
        items = [(set(uids), env) for uids, env in items]
        for uids, env in items:
            self._recorder.add(uids, env)
        self._real.deliver_many(items)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def events(monkeypatch, django_capture_on_commit_callbacks):
    """A Recorder of every frame sent through the hub (still delivered)."""
    recorder = Recorder(django_capture_on_commit_callbacks)
    proxy = _RecordingHub(realtime.hub(), recorder)
    monkeypatch.setattr(realtime, "hub", lambda: proxy)
    return recorder
