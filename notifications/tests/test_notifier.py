"""The notifier on the bus, end to end: a message sent over REST is stored by
the message worker and pushed by the notifier (with Kafka: a consumer group
of its own in a process of its own; embedded: a thread of the in-process
bus), a contact request and a call reach it over the `notify` topic, a slow
push service holds nothing up, and a killed notifier sends nothing twice."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from chatsite.testing import GroupProcess
from conftest import REAL_KAFKA
from notifications.delivery import Sender
from notifications.models import PushDelivery, PushState

pytestmark = pytest.mark.django_db(transaction=True)


def wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def notifier_process(log_path: Path, **extra: str) -> GroupProcess:
    """`manage.py run_notifier` on this test's database and broker."""
    return GroupProcess("run_notifier", log_path, PUSH_ALLOW_HTTP="1", **extra)


@pytest.fixture
def notifier(message_worker, push_service, tmp_path):
    """Whatever sends pushes in this configuration: a notifier process with
    Kafka; embedded, the in-process bus plans and a Sender thread sends (as the
    server's lifespan task does)."""
    if REAL_KAFKA:
        proc = notifier_process(tmp_path / "notifier.log")
        yield proc
        proc.stop()
    else:
        from contacts import presence

        # Embedded presence is this process's memory, and ids repeat from one
        # test's database to the next: nobody here has a socket.
        presence.reset()
        sender = Sender().start()
        yield sender
        sender.stop()


def send_rest(api, conversation: str, text: str) -> str:
    cmid = str(uuid.uuid4())
    r = api.post(
        f"/api/v1/conversations/{conversation}/messages",
        {"kind": "text", "content": text, "client_msg_id": cmid},
        format="json",
    )
    assert r.status_code == 202, r.content
    return cmid


def test_a_message_a_contact_request_and_a_call_reach_an_offline_phone(
    api_for, alice, bob, carol, direct, subscribe, push_service, notifier
):
    from calls.services import do_invite_call
    from calls.tests.helpers import OFFER
    from conversations.models import Message

    phone = subscribe(bob, "bob-phone")
    alices = subscribe(alice, "alice-laptop")
    send_rest(api_for(alice), direct, "Lunch?")
    [push] = push_service.wait_for(1, subscription=phone)
    stored = Message.objects.get(conversation__uuid=direct, text="Lunch?")
    assert push.payload == {
        "type": "message",
        "conversation": direct,
        "message": str(stored.uuid),
        "seq": stored.seq,
        "title": "Alice",
        "body": "Lunch?",
        "unread": 1,
        "icon": None,
    }

    # A contact request from Carol reaches Alice over the notify topic.
    r = api_for(carol).post(
        "/api/v1/contact-requests", {"to": str(alice.uuid), "message": "Hi, Carol here"}, format="json"
    )
    assert r.status_code == 201, r.content
    [asked] = push_service.wait_for(1, subscription=alices)
    assert (asked.payload["type"], asked.payload["title"], asked.payload["body"]) == (
        "contact_request",
        "Carol",
        "Hi, Carol here",
    )

    # Alice calls Bob, whose app is closed.
    call = do_invite_call(caller=alice, to=str(bob.uuid), media="audio", sdp=OFFER, socket_id="s-alice", ref=None)
    pushes = push_service.wait_for(2, subscription=phone)
    assert pushes[1].payload["type"] == "call" and pushes[1].payload["call"] == str(call.uuid)
    assert pushes[1].payload["body"] == "Incoming voice call" and pushes[1].urgency == "high"
    # Alice's own message never pushed to her.
    assert [p.payload["type"] for p in push_service.deliveries(alices)] == ["contact_request"]


def test_a_slow_push_service_holds_up_neither_storage_nor_other_pushes(
    api_for, alice, bob, direct, subscribe, push_service, notifier
):
    from conversations.models import Message

    slow = subscribe(bob, "slow-phone")
    push_service.respond(slow, status=201, delay=3.0)
    api = api_for(alice)
    cmids = [send_rest(api, direct, f"message {n}") for n in range(5)]
    # Every message is stored while the push service still sits on the first push.
    wait(lambda: Message.objects.filter(client_msg_id__in=cmids).count() == 5, what="storage")
    assert not PushDelivery.objects.filter(state=PushState.SENT).exists()
    assert len(push_service.wait_for(5, subscription=slow, timeout=30)) == 5


@pytest.mark.real_services
def test_a_killed_notifier_sends_nothing_twice(
    api_for, alice, bob, direct, subscribe, push_service, message_worker, tmp_path
):
    """SIGKILL the notifier while pushes are in flight, start it again: no
    message is pushed twice, and every push not in flight at the kill arrives."""
    phone = subscribe(bob, "bob-phone")
    push_service.respond(phone, status=201, delay=0.5)
    first = notifier_process(tmp_path / "notifier-1.log", PUSH_CONCURRENCY="2", PUSH_TIMEOUT_S="2")
    try:
        api = api_for(alice)
        texts = [f"message {n}" for n in range(12)]
        for text in texts:
            send_rest(api, direct, text)
        push_service.wait_for(3, subscription=phone, timeout=30)
        first.kill()
    finally:
        # Never left running: it would go on sending this database's pushes.
        first.stop()
    second = notifier_process(tmp_path / "notifier-2.log", PUSH_CONCURRENCY="2", PUSH_TIMEOUT_S="2")
    try:
        rows = PushDelivery.objects.filter(subscription__uuid=phone.id)

        def settled() -> bool:
            states = list(rows.values_list("state", "last_error"))
            return len(states) == len(texts) and all(s in (PushState.SENT, PushState.FAILED) for s, _ in states)

        wait(settled, timeout=60, what="every push to be sent or closed")
        got = [p.payload["body"] for p in push_service.deliveries(phone, status=None)]
        assert len(got) == len(set(got)), f"pushed twice: {got}"
        interrupted = list(rows.filter(state=PushState.FAILED).values_list("last_error", flat=True))
        # Only what was in flight at the kill (at most PUSH_CONCURRENCY) is given up.
        assert set(interrupted) <= {"interrupted"} and len(interrupted) <= 2
        assert rows.filter(state=PushState.SENT).count() == len(texts) - len(interrupted)
        # Every push the notifier recorded as sent arrived (and the interrupted ones may have too).
        assert set(got) <= set(texts) and len(got) >= len(texts) - len(interrupted)
    finally:
        second.stop()


@pytest.mark.real_services
def test_a_record_the_worker_refused_does_not_hold_the_notifier_back(
    api_for, alice, bob, direct, subscribe, push_service, notifier
):
    """The notifier reads the messages topic beside the message worker. A
    record the worker dead-letters is never stored: once the worker's
    committed offset is past it the notifier moves on at once, rather than
    waiting for it as for a message not stored yet."""
    from chatsite import wire
    from chatsite.bus import get_bus

    phone = subscribe(bob, "bob-phone")
    never = {
        "v": 1,
        "c": 2**40,
        "s": alice.pk,
        "k": "text",
        "t": "to nowhere",
        "m": str(uuid.uuid4()),
        "ts": time.time(),
    }
    get_bus().publish_sync(topic="messages", key=direct, value=wire.dumps_bytes(never))
    started = time.monotonic()
    send_rest(api_for(alice), direct, "after the refused one")
    [push] = push_service.wait_for(1, subscription=phone, timeout=30)
    assert push.payload["body"] == "after the refused one"
    # Well before messaging.followers.STORE_WAIT_S (120 s), the wait for a message the worker is still storing.
    assert time.monotonic() - started < 30
