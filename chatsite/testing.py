"""Helpers the apps' tests share: the error shape, query counts, a recorder
of the events services send (the `events` and `closes` fixtures of the root
conftest), stopping a test loop's background tasks, a worker's environment, a
consumer-group process on the test database, and images to upload."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatsite import lifespan, realtime, wire


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (640, 480), mode: str = "RGB", color=(200, 30, 30), **save
) -> bytes:
    """A real image file of `size` pixels, for uploads and pictures in tests."""
    from PIL import Image  # only the tests that make pictures need Pillow loaded

    image = Image.new(mode, size, color if mode == "RGB" else None)
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def assert_error(response, status: int, code: str) -> dict:
    """The response is the error `code` with `status`, in the one error shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code == "invalid":
        assert isinstance(body["error"]["fields"], dict) and body["error"]["fields"]
    else:
        assert "fields" not in body["error"]
    return body["error"]


def count_queries(fn) -> tuple[int, object]:
    """(number of queries, result) of calling `fn`."""
    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return len(ctx.captured_queries), result


# --------------------------------------------------------------------------- what services send


class Recorder:
    """Records every frame services hand to the real-time fan-out (and still
    delivers it), so tests can assert events and their recipients.

        def test_x(events, alice, bob):
            with events.capture():   # runs the block's on-commit hooks at its end, as a commit would
                do_something()
            assert events.of_type("contact.added") == [({alice.pk}, {...}), ({bob.pk}, {...})]

    A service that raises rolls its savepoint back, and with it the hooks it
    scheduled: `items` stays empty, as nothing would have been sent.
    `closes` lists the socket-close orders: (user ids, code, session id)."""

    def __init__(self, capture_on_commit) -> None:
        self.items: list[tuple[set[int], dict]] = []
        self.closes: list[tuple[set[int], int, str | None]] = []
        self._capture_on_commit = capture_on_commit

    def capture(self):
        return self._capture_on_commit(execute=True)

    def add(self, user_ids: Iterable[int], message: dict) -> None:
        kind = message["type"]
        if kind == "chat.frame":
            self.items.append((set(user_ids), wire.loads(message["text"])))
        elif kind == "chat.split" and message.get("others") is not None:
            # A socket-specific message (a sender's ack): record what the user's other sockets get.
            self.items.append((set(user_ids), wire.loads(message["others"])))
        elif kind == "ws.close":
            self.closes.append((set(user_ids), message["code"], message.get("session")))

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
        self.closes.clear()


def record_deliveries(monkeypatch, recorder: Recorder) -> None:
    """Route chatsite.realtime's synchronous fan-out through `recorder` (still delivering)."""
    real = realtime.deliver_many

    def recording(items) -> None:
        items = [(set(uids), message) for uids, message in items]
        for uids, message in items:
            recorder.add(uids, message)
        real(items)

    monkeypatch.setattr(realtime, "deliver_many", recording)


async def shutdown_loop_tasks() -> None:
    """Stop the running loop's background tasks (chatsite.lifespan), as a
    server's lifespan shutdown would."""
    await lifespan.stop()


def worker_env(*, topic_prefix: str, group: str) -> dict[str, str]:
    """The environment of a worker process sharing this test's database and Redis."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.pop("DATABASE_TEST_NAME", None)
    env.update(
        DATABASE_URL=f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        KAFKA_TOPIC_PREFIX=topic_prefix,
        KAFKA_CONSUMER_GROUP=group,
        LOG_LEVEL="INFO",
    )
    return env


class GroupProcess:
    """`manage.py <command>` (a consumer group's process: run_notifier,
    run_indexer) on this test's database and broker, started once it has its
    partitions."""

    def __init__(self, command: str, log_path: Path, **extra: str) -> None:
        db = connection.settings_dict
        env = dict(os.environ)
        env.pop("DATABASE_TEST_NAME", None)
        env.update(
            DATABASE_URL=f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            LOG_LEVEL="INFO",
            NODE_ID=f"pytest-{command}-{uuid.uuid4().hex[:6]}",
            **extra,
        )
        self.log_path = log_path
        self._log = open(log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", command],
            cwd=Path(__file__).resolve().parents[1],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while "assigned" not in log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"{command} did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        # A new group starts at the end of the topics: let it find where the
        # end is before the test sends.
        time.sleep(0.5)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._log.close()
