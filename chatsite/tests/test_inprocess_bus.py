"""The in-process bus's thread outlives a batch that fails outside its
handler: the last CI run lost every later send of one test process after a
check of the database connection raised on the bus thread."""

from __future__ import annotations

import threading
import time

import pytest

from chatsite import bus
from chatsite.bus import STORE, inprocess
from chatsite.errors import Unavailable

TOPIC = "test-inprocess-survives"


@pytest.fixture
def fail_first_check(monkeypatch):
    """`fail_first_check(thread)`: that thread's next check of the database
    connection raises, once (other bus threads of the test process, such as
    the app's own, check as usual)."""
    armed: list[threading.Thread] = []
    check = inprocess.close_old_connections

    def flaky_check() -> None:
        if threading.current_thread() in armed:
            armed.remove(threading.current_thread())
            raise RuntimeError("the database refused a connection")
        check()

    monkeypatch.setattr(inprocess, "close_old_connections", flaky_check)
    return armed.append


def test_a_batch_failing_before_its_handler_fails_its_senders_and_the_next_one_is_stored(monkeypatch, fail_first_check):
    handled: list[bytes] = []

    def handler(records):
        handled.extend(r.value for r in records)
        return []

    monkeypatch.setitem(bus._handlers, (STORE, TOPIC), handler)
    subject = inprocess.InProcessBus()
    fail_first_check(subject._thread)
    try:
        with pytest.raises(Unavailable, match="Storing failed"):
            subject.publish_sync(topic=TOPIC, key="k", value=b"first")
        subject.publish_sync(topic=TOPIC, key="k", value=b"second")
        assert handled == [b"second"]
        subject.check(timeout=1)  # the thread is alive
    finally:
        subject.close()


def test_a_follower_outlives_a_failed_connection_check(monkeypatch, fail_first_check):
    seen: list[bytes] = []

    def handler(records):
        seen.extend(r.value for r in records)
        return []

    monkeypatch.setitem(bus._handlers, ("test-follower", TOPIC), handler)
    follower = inprocess._Follower("test-follower")
    fail_first_check(follower._thread)
    try:
        follower.queue.put([bus.Record(topic=TOPIC, key="k", value=b"one")])
        follower.queue.put([bus.Record(topic=TOPIC, key="k", value=b"two")])
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [b"one", b"two"]
        assert follower._thread.is_alive()
    finally:
        follower.close()


def test_a_failure_on_the_bus_thread_is_told_in_the_language_of_whoever_reads_it(monkeypatch):
    """The bus's thread knows no one's language: the sender's error is told
    in theirs when it is rendered, not in the thread's English."""
    from django.utils import translation

    def handler(records):
        raise RuntimeError("the database went away")

    monkeypatch.setitem(bus._handlers, (STORE, TOPIC), handler)
    subject = inprocess.InProcessBus()
    try:
        with translation.override("zh-hans"), pytest.raises(Unavailable) as failed:
            subject.publish_sync(topic=TOPIC, key="k", value=b"lost")
        with translation.override("zh-hans"):
            chinese = failed.value.as_dict()["message"]
        assert chinese == "存储失败，请使用相同的 client_msg_id 重试。"
        with translation.override("en"):
            assert failed.value.as_dict()["message"] == "Storing failed; retry with the same client_msg_id."
    finally:
        subject.close()


def test_a_record_the_handler_refuses_is_told_with_its_reason_in_the_readers_language(monkeypatch):
    from django.utils import translation

    from chatsite.errors import Invalid

    monkeypatch.setitem(bus._handlers, (STORE, TOPIC), lambda records: [(r, "no such conversation") for r in records])
    subject = inprocess.InProcessBus()
    try:
        with pytest.raises(Invalid) as refused:
            subject.publish_sync(topic=TOPIC, key="k", value=b"refused")
        with translation.override("zh-hans"):
            body = refused.value.as_dict()
        told = "消息无法保存：no such conversation"
        assert body == {"code": "invalid", "message": told, "fields": {"non_field_errors": [told]}}
    finally:
        subject.close()
