"""A bot's events endpoint (a real local HTTP server, as a bot's own server
would be) and what sends events to it: the bots worker with Kafka, the
embedded server's sender thread otherwise."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import REAL_KAFKA

LOOPBACK = "127.0.0.0/8"


class Endpoint:
    """Records every request; answers with what `answer(event)` returns:
    (status, body bytes)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answer: Callable[[dict], tuple[int, bytes]] = lambda event: (200, b"")
        self._arrived = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                event = json.loads(body)
                status, reply = endpoint.answer(event)
                with endpoint._arrived:
                    endpoint.requests.append(
                        {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body, "event": event}
                    )
                    endpoint._arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {n} events arrived"
                self._arrived.wait(left)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def open_endpoint(settings):
    """An Endpoint this process may send to (it checks a URL when it is set)."""
    settings.WEBHOOK_ALLOW_PRIVATE = [ipaddress.ip_network(LOOPBACK)]
    found = Endpoint()
    try:
        yield found
    finally:
        found.close()


@contextmanager
def bots_worker_process(django_db_blocker, tmp_path_factory):
    """With Kafka, the bots worker a served product runs beside its server,
    allowed to reach this machine; None embedded (the server sends itself)."""
    if not REAL_KAFKA:
        yield None
        return
    from chatsite.testing import GroupProcess

    with django_db_blocker.unblock():
        proc = GroupProcess(
            "run_bot_worker", tmp_path_factory.mktemp("bots") / "bots.log", WEBHOOK_ALLOW_PRIVATE=LOOPBACK
        )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def endpoint(settings):
    with open_endpoint(settings) as found:
        yield found


# For a module, not the session: the worker claims any event due in the test
# database, and another module's tests deliver their own in process.
@pytest.fixture(scope="module")
def _bots_worker(message_worker, django_db_blocker, tmp_path_factory):
    with bots_worker_process(django_db_blocker, tmp_path_factory) as proc:
        yield proc


@pytest.fixture
def event_sender(_bots_worker, endpoint):
    """Sends bots' events while the test runs: the bots worker with Kafka (a
    process for the session), else the sender thread the embedded server runs."""
    if _bots_worker is not None:
        yield _bots_worker
        return
    from bots.events import Sender

    sender = Sender().start()
    yield sender
    sender.stop()
