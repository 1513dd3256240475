"""Who gets a push and what it says, sent for real to the push service
stand-in, which checks VAPID and decrypts the payload as a browser would."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.utils import timezone

from calls.tests.helpers import OFFER
from contacts.models import Contact
from conversations.models import Member
from messaging.tests.helpers import store_text_sync
from notifications import delivery
from notifications.models import NotificationSettings, PushDelivery, PushState, PushSubscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(alice, bob, carol):
    from contacts.services import do_connect
    from groups.services import do_create_group

    do_connect(user=alice, other=carol)
    return do_create_group(owner=alice, name="Team", members=[str(bob.uuid), str(carol.uuid)])


def send(sender, conversation_uuid: str, text: str):
    """Store a message and run the notifier's planning on it, as the bus would."""
    message = store_text_sync(sender=sender, conversation_uuid=conversation_uuid, text=text)
    delivery.plan_messages([message])
    return message


def due_now() -> None:
    """Time passes: every pending push is due."""
    PushDelivery.objects.filter(state=PushState.PENDING).update(due_at=timezone.now() - dt.timedelta(seconds=1))


def test_a_message_pushes_to_every_subscription_of_an_offline_recipient(
    alice, bob, direct, subscribe, push_service, settings
):
    phone, laptop = subscribe(bob, "phone"), subscribe(bob, "laptop")
    own = subscribe(alice, "alice")
    message = send(alice, direct, "Dinner at 7?")
    assert delivery.send_due() == {"sent": 2}
    got = {d.subscription.name: d for d in push_service.deliveries()}
    assert set(got) == {"phone", "laptop"}
    expected = {
        "type": "message",
        "conversation": direct,
        "message": str(message.uuid),
        "seq": message.seq,
        "title": "Alice",
        "body": "Dinner at 7?",
        "unread": 1,
        "icon": None,
    }
    assert got["phone"].payload == expected and got["laptop"].payload == expected
    assert got["phone"].ttl == pytest.approx(settings.PUSH_TTL_S, abs=5)
    assert got["phone"].urgency == "normal"
    assert got["phone"].claims["sub"] == settings.VAPID_SUBJECT
    assert not push_service.deliveries(own)
    # The notifier seeing the same record again owes nothing more.
    delivery.plan_messages([message])
    assert delivery.send_due() == {}
    assert len(push_service.deliveries()) == 2
    assert {phone.id, laptop.id} <= {str(s.uuid) for s in PushSubscription.objects.all()}


def test_group_pushes_follow_mute_mentions_blocks_and_membership(
    alice, bob, carol, group, user_factory, subscribe, push_service
):
    from contacts.services import do_block, do_connect
    from groups.services import do_add_members, do_remove_member

    dave = user_factory("dave", nickname="Dave")
    do_connect(user=alice, other=dave)
    do_add_members(user=alice, group_id=str(group.uuid), users=[str(dave.uuid)])
    subs = {u.username: subscribe(u) for u in (bob, carol, dave)}
    conv = str(group.conversation.uuid)
    # Bob mutes the group, Carol blocks Alice, Dave is removed.
    Member.objects.filter(conversation=group.conversation, user=bob).update(muted=True)
    do_block(user=carol, target_id=str(alice.uuid))
    do_remove_member(user=alice, group_id=str(group.uuid), member_id=str(dave.uuid))

    send(alice, conv, "Standup moved to 10")
    assert delivery.send_due() == {}
    assert push_service.deliveries() == []

    # A mention reaches Bob through his mute; a blocked sender's mention does not reach Carol.
    from conversations.store import Incoming, store_messages

    [stored] = store_messages(
        [
            Incoming(
                conversation_id=group.conversation.pk,
                sender_id=alice.pk,
                kind="text",
                text="@Bob @Carol please review",
                client_msg_id="m-1",
                mentions=[str(bob.uuid), str(carol.uuid)],
                mention_ids=[bob.pk, carol.pk],
            )
        ]
    )
    delivery.plan_messages([stored.message])
    assert delivery.send_due() == {"sent": 1}
    [push] = push_service.deliveries()
    assert push.subscription is subs["bob"]
    assert push.payload["title"] == "Team"
    assert push.payload["body"] == "Alice: [Mentioned you] @Bob @Carol please review"
    # Bob's unread count leaves out his muted group.
    assert push.payload["unread"] == 0


def test_quiet_hours_drop_messages_but_not_calls(alice, bob, direct, subscribe, push_service):
    from calls.services import do_invite_call

    subscribe(bob)
    now = timezone.now().astimezone(dt.UTC)
    start = (now - dt.timedelta(hours=1)).strftime("%H:%M")
    end = (now + dt.timedelta(hours=1)).strftime("%H:%M")
    NotificationSettings.objects.create(
        user=bob, quiet_start=dt.time.fromisoformat(start), quiet_end=dt.time.fromisoformat(end), quiet_tz="UTC"
    )
    send(alice, direct, "you up?")
    assert not PushDelivery.objects.exists()  # dropped, not deferred
    call = do_invite_call(caller=alice, to=str(bob.uuid), media="video", sdp=OFFER, socket_id="s1", ref=None)
    delivery.plan_call(call.pk)
    assert delivery.send_due() == {"sent": 1}
    [push] = push_service.deliveries()
    assert push.payload == {
        "type": "call",
        "conversation": direct,
        "message": None,
        "call": str(call.uuid),
        "title": "Alice",
        "body": "Incoming video call",
        "unread": 1,  # the message quiet hours kept quiet is still unread
        "icon": None,
    }
    assert push.ttl <= delivery.CALL_TTL_S and push.urgency == "high"


def test_quiet_hours_over_midnight(bob):
    prefs = NotificationSettings(user=bob, quiet_start=dt.time(22), quiet_end=dt.time(7), quiet_tz="Asia/Shanghai")
    at = lambda h: dt.datetime(2026, 12, 5, h, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # noqa: E731
    assert [delivery.in_quiet_hours(prefs, at(h)) for h in (21, 22, 23, 0, 6, 7, 12)] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]


def test_someone_online_gets_a_push_only_if_no_socket_read_it_in_time(
    alice, bob, direct, subscribe, push_service, settings
):
    from contacts.presence import store

    settings.PUSH_DELAY_S = 10
    subscribe(bob)
    store().connect(bob.pk, "bob-socket")
    try:
        read = send(alice, direct, "seen on the desktop")
        assert delivery.send_due() == {}  # not due yet
        row = PushDelivery.objects.get()
        assert row.due_at > timezone.now() + dt.timedelta(seconds=8)
        # Bob's desktop reads it; when the push falls due it is dropped.
        Member.objects.filter(user=bob, conversation__uuid=direct).update(read_seq=read.seq)
        due_now()
        assert delivery.send_due() == {"dropped": 1}
        assert PushDelivery.objects.get().last_error == "read"
        unread = send(alice, direct, "not read this time")
        due_now()
        assert delivery.send_due() == {"sent": 1}
        assert push_service.deliveries()[0].payload["message"] == str(unread.uuid)
    finally:
        store().disconnect(bob.pk, "bob-socket")


@pytest.mark.parametrize(
    ("preview", "title", "body"),
    [("sender", "Bobby", "Sent a message"), ("none", "New message", "")],
)
def test_preview_settings(alice, bob, direct, subscribe, push_service, preview, title, body):
    # Bob's own name for Alice (his remark) is what his notifications say.
    Contact.objects.filter(owner=bob, other=alice).update(remark="Bobby")
    NotificationSettings.objects.create(user=bob, preview=preview)
    subscribe(bob)
    send(alice, direct, "the secret plan")
    delivery.send_due()
    [push] = push_service.deliveries()
    assert (push.payload["title"], push.payload["body"]) == (title, body)
    assert "secret" not in str(push.payload)


def test_push_switched_off_sends_nothing(alice, bob, direct, subscribe, push_service):
    NotificationSettings.objects.create(user=bob, push=False)
    subscribe(bob)
    send(alice, direct, "hello?")
    assert delivery.send_due() == {} and push_service.deliveries() == []


def test_the_body_is_cut_at_a_code_point_boundary(alice, bob, direct, subscribe, push_service):
    subscribe(bob)
    send(alice, direct, "中" * 600)  # 1,800 bytes
    delivery.send_due()
    body = push_service.deliveries()[0].payload["body"]
    assert body == "中" * 333 and len(body.encode()) <= delivery.BODY_MAX_BYTES


def test_gone_subscriptions_are_deleted_and_failures_retried_until_the_ttl(
    alice, bob, direct, subscribe, push_service, settings
):
    gone, flaky, full = subscribe(bob, "gone"), subscribe(bob, "flaky"), subscribe(bob, "full")
    push_service.respond(gone, status=410)
    push_service.respond(flaky, status=500, times=1)
    push_service.respond(full, status=429, retry_after=120)
    send(alice, direct, "are you there")
    assert delivery.send_due() == {"gone": 1, "retry": 2}
    assert not PushSubscription.objects.filter(uuid=gone.id).exists()
    retry = PushDelivery.objects.get(subscription__uuid=flaky.id)
    assert retry.state == PushState.PENDING and retry.attempts == 1 and retry.last_status == 500
    assert retry.due_at >= timezone.now() + dt.timedelta(seconds=delivery.RETRY_MIN_S - 1)
    later = PushDelivery.objects.get(subscription__uuid=full.id)
    assert later.due_at >= timezone.now() + dt.timedelta(seconds=110)  # Retry-After
    # The flaky one succeeds on its next try; the full one keeps failing until its TTL runs out.
    due_now()
    assert delivery.send_due() == {"sent": 1, "retry": 1}
    assert len(push_service.deliveries(flaky)) == 1
    PushDelivery.objects.filter(subscription__uuid=full.id).update(
        due_at=timezone.now() - dt.timedelta(seconds=1), expires_at=timezone.now() + dt.timedelta(seconds=30)
    )
    assert delivery.send_due() == {"failed": 1}
    assert PushDelivery.objects.get(subscription__uuid=full.id).state == PushState.FAILED


def test_retries_stop_once_the_message_is_read(alice, bob, direct, subscribe, push_service):
    sub = subscribe(bob)
    push_service.respond(sub, status=503)
    message = send(alice, direct, "ping")
    assert delivery.send_due() == {"retry": 1}
    Member.objects.filter(user=bob, conversation__uuid=direct).update(read_seq=message.seq)
    due_now()
    assert delivery.send_due() == {"dropped": 1}


def test_a_contact_request_pushes_to_the_person_asked(alice, carol, subscribe, push_service):
    from contacts.services import do_send_contact_request

    subscribe(alice)
    request = do_send_contact_request(user=carol, to=str(alice.uuid), message="We met at PyCon")
    delivery.plan_contact_request(request.pk)
    delivery.send_due()
    [push] = push_service.deliveries()
    assert push.payload == {
        "type": "contact_request",
        "conversation": None,
        "message": None,
        "title": "Carol",
        "body": "We met at PyCon",
        "unread": 0,
        "icon": None,
    }


def test_a_push_is_in_the_recipients_language(alice, bob, direct, subscribe, push_service):
    bob.language = "zh-hans"
    bob.save(update_fields=["language"])
    NotificationSettings.objects.create(user=bob, preview="none")
    subscribe(bob)
    send(alice, direct, "你好")
    delivery.send_due()
    assert push_service.deliveries()[0].payload["title"] == "新消息"


def test_a_push_goes_only_to_live_sessions_and_active_users(alice, bob, direct, subscribe, push_service, admin_user):
    from backoffice.services import do_disable_user

    subscribe(bob)
    send(alice, direct, "one")
    do_disable_user(actor=admin_user, user_id=str(bob.uuid), reason="test")
    assert delivery.send_due() == {}  # the subscription went with the sessions
    assert push_service.deliveries() == []


def test_the_unread_count_of_a_push_is_the_chat_lists_without_muted_chats(alice, bob, carol, direct, group):
    from conversations.selectors import unread_counts, unread_totals
    from messaging.actions.recall import do_recall_message

    conv = str(group.conversation.uuid)
    send(alice, direct, "one")
    send(alice, direct, "two")
    recalled = send(alice, direct, "three")
    do_recall_message(user=alice, message_id=str(recalled.uuid))
    read = send(alice, conv, "group one")
    Member.objects.filter(user=bob, conversation=group.conversation).update(read_seq=read.seq)
    send(bob, conv, "bob's own")  # a send moves its sender's read cursor
    send(carol, conv, "group two")
    lists = {
        u.pk: unread_counts(
            user=u, conversation_ids=list(Member.objects.filter(user=u).values_list("conversation_id", flat=True))
        )
        for u in (alice, bob, carol)
    }
    totals = unread_totals(user_ids=[alice.pk, bob.pk, carol.pk])
    assert totals == {u: sum(per.values()) for u, per in lists.items()}
    assert totals[bob.pk] == 3  # two in the direct chat, Carol's in the group
    Member.objects.filter(user=bob, conversation=group.conversation).update(muted=True)
    assert unread_totals(user_ids=[bob.pk])[bob.pk] == 2


def test_a_push_endpoint_that_rebinds_to_an_internal_address_is_never_connected_to(settings, monkeypatch):
    """DNS rebinding: the endpoint's host answers a public address to the
    check and loopback to the connect. The connection goes only to an
    address that was checked, so the internal service hears nothing."""
    import base64
    import socket
    import threading
    import types

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    settings.PUSH_ALLOW_HTTP = False
    internal = socket.socket()
    internal.bind(("127.0.0.1", 0))
    internal.listen(1)
    internal.settimeout(3)
    port = internal.getsockname()[1]
    heard: list[bytes] = []

    def listen() -> None:
        try:
            conn, _ = internal.accept()
        except OSError:
            return
        conn.settimeout(2)
        try:
            heard.append(conn.recv(100))
        except OSError:
            heard.append(b"(connected)")
        conn.close()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host, port_, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port_, *args, **kwargs)
        answers.append("93.184.216.34" if not answers else "127.0.0.1")  # TTL 0: public, then loopback
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[-1], port_))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(delivery._local, "session", None, raising=False)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    sub = types.SimpleNamespace(
        endpoint=f"https://rebind.example:{port}/push/1", p256dh=b64(point), auth=b64(b"A" * 16)
    )
    push = types.SimpleNamespace(
        delivery=types.SimpleNamespace(subscription=sub), urgency="normal", payload={"t": "x"}, ttl=60
    )
    outcome = delivery.post(push)
    listener.join(timeout=4)
    internal.close()
    assert answers == ["93.184.216.34", "127.0.0.1"], answers  # checked, then resolved again to connect
    assert outcome.status is None and "non-public address" in outcome.error, outcome
    assert heard == [], heard


def test_a_key_that_cannot_be_encrypted_to_fails_alone(
    alice, bob, carol, group, user_factory, subscribe, push_service, settings
):
    """A p256dh of the right shape that is no P-256 point (one stored before
    subscribing checked the curve): encrypting to it raises. That push fails,
    the others of its batch and of later batches go."""
    from conftest import login_tokens
    from contacts.services import do_connect
    from groups.services import do_add_members
    from notifications.services import endpoint_hash

    dave = user_factory("dave", nickname="Dave")
    do_connect(user=alice, other=dave)
    do_add_members(user=alice, group_id=str(group.uuid), users=[str(dave.uuid)])
    settings.PUSH_CONCURRENCY = 2
    bob_sub, dave_sub = subscribe(bob), subscribe(dave)
    browser = push_service.new_subscription("carol-off-curve")
    off_curve = PushSubscription.objects.create(
        user=carol,
        session=login_tokens(carol)["session"],
        endpoint=browser.endpoint,
        endpoint_hash=endpoint_hash(browser.endpoint),
        p256dh="BA" + "A" * 85,  # 04 and 64 zero bytes
        auth=browser.info["keys"]["auth"],
    )
    conv = str(group.conversation.uuid)
    send(alice, conv, "hi team")
    with ThreadPoolExecutor(2) as pool:
        assert delivery.send_due(pool=pool) == {"sent": 2, "failed": 1}
    assert len(push_service.deliveries(bob_sub)) == 1 and len(push_service.deliveries(dave_sub)) == 1
    failed = PushDelivery.objects.get(subscription=off_curve)
    assert failed.state == PushState.FAILED and failed.last_error.startswith("ValueError")
    assert not PushDelivery.objects.exclude(state__in=[PushState.SENT, PushState.FAILED]).exists()
    # Nothing is retried, and the next message goes to the others just the same, without a pool too.
    send(alice, conv, "again")
    due_now()
    assert delivery.send_due() == {"sent": 2, "failed": 1}
    assert len(push_service.deliveries()) == 4


def test_a_contact_request_push_is_dropped_once_the_asker_is_blocked(alice, carol, subscribe, push_service):
    from contacts.services import do_block, do_send_contact_request

    sub = subscribe(alice)
    push_service.respond(sub, status=503, times=1)
    request = do_send_contact_request(user=carol, to=str(alice.uuid), message="hi it's carol")
    delivery.plan_contact_request(request.pk)
    assert delivery.send_due() == {"retry": 1}
    do_block(user=alice, target_id=str(carol.uuid))
    due_now()
    assert delivery.send_due() == {"dropped": 1}
    assert push_service.deliveries(sub) == []
    assert PushDelivery.objects.get().last_error == "blocked"


def test_a_subscription_whose_session_expired_gets_nothing_and_is_deleted(alice, bob, direct, subscribe, push_service):
    from accounts.models import LoginSession

    expired, live = subscribe(bob, "expired"), subscribe(bob, "live")
    send(alice, direct, "one")  # planned while both sessions lived
    LoginSession.objects.filter(push_subscriptions__uuid=expired.id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert delivery.send_due() == {"sent": 1, "dropped": 1}
    send(alice, direct, "two")
    assert PushDelivery.objects.filter(subscription__uuid=expired.id).count() == 1  # nothing more planned
    assert delivery.send_due() == {"sent": 1}
    assert [d.subscription for d in push_service.deliveries()] == [live, live]
    # The notifier's upkeep deletes it (nobody ever logged out to say so).
    sender = delivery.Sender()
    try:
        for _every, upkeep in sender.periodic:
            upkeep()
    finally:
        sender.pool.shutdown()
    assert [str(u) for u in PushSubscription.objects.values_list("uuid", flat=True)] == [live.id]
