"""What a planned event may still carry when it is sent: each attempt reads
the message and the bot's membership again (a recall, an edit, a removal
since it was planned), and a slow answer is never sent twice by two workers.

The sends here are this process's own `send_due` calls: no sender thread or
bots worker runs in this module, so nothing else claims these events."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.utils import timezone

from bots import events
from bots.internal import register_internal_bot
from bots.models import Bot, Delivery, DeliveryState
from bots.services import do_add_bot, do_create_bot, do_update_bot
from conversations.models import Message
from conversations.store import Incoming, store_messages
from groups.services import do_create_group, do_remove_member
from messaging.actions.edit import do_edit_message
from messaging.actions.recall import do_recall_message
from messaging.tests.helpers import new_id

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def trip(alice, bob, endpoint):
    """Alice's bot (answering at `endpoint`) in a group with Alice and Bob."""
    bot = do_create_bot(owner=alice, username="weather_bot", nickname="Weather")
    do_update_bot(user=alice, bot_id=str(bot.user.uuid), events_url=endpoint.url)
    do_add_bot(user=alice, bot_id=str(bot.user.uuid))
    group = do_create_group(owner=alice, name="Trip", members=[str(bob.uuid), str(bot.user.uuid)])
    return bot.user, group


def mention(sender, group, bot, text: str) -> Message:
    [stored] = store_messages(
        [
            Incoming(
                conversation_id=group.conversation.pk,
                sender_id=sender.pk,
                kind="text",
                text=text,
                client_msg_id=new_id(),
                mentions=[str(bot.uuid)],
                mention_ids=[bot.pk],
            )
        ]
    )
    return stored.message


def first_attempt_fails(endpoint) -> None:
    """The bot's URL answers 503 once, then 200."""
    answers = iter([(503, b"")])
    endpoint.answer = lambda event: next(answers, (200, b""))


def due_now() -> None:
    """The retry's wait (5 s) is over."""
    Delivery.objects.filter(state=DeliveryState.PENDING).update(next_at=timezone.now())


def test_a_mention_recalled_before_a_retry_is_dropped_not_sent(alice, bob, trip, endpoint):
    bot, group = trip
    message = mention(bob, group, bot, "@Weather my secret plan")
    assert events.plan_messages([message]) == 1
    first_attempt_fails(endpoint)
    assert events.send_due() == {"retried": 1}
    do_recall_message(user=bob, message_id=str(message.uuid))
    due_now()
    assert events.send_due() == {"dropped": 1}
    # The one request is the failed first attempt: the text never left again.
    assert len(endpoint.requests) == 1
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.last_error) == (DeliveryState.DROPPED, "the message was recalled")
    assert events.send_due() == {}


def test_a_bot_removed_before_a_retry_gets_nothing_more_from_the_group(alice, bob, trip, endpoint):
    bot, group = trip
    message = mention(bob, group, bot, "@Weather hello")
    assert events.plan_messages([message]) == 1
    events.plan_command(
        command_id=new_id(), conversation=group.conversation, user=bob, bot=bot, name="weather", text="Paris"
    )
    endpoint.answer = lambda event: (503, b"")
    assert events.send_due() == {"retried": 2}
    do_remove_member(user=alice, group_id=str(group.uuid), member_id=str(bot.uuid))
    endpoint.answer = lambda event: (200, json.dumps({"text": "still here", "response_type": "in_channel"}).encode())
    due_now()
    assert events.send_due() == {"dropped": 2}
    assert len(endpoint.requests) == 2
    assert set(Delivery.objects.values_list("state", "last_error")) == {
        (DeliveryState.DROPPED, "the bot is no longer in the conversation")
    }
    assert not Message.objects.filter(sender=bot).exists()


def test_a_retry_carries_the_message_as_it_is_now(alice, bob, trip, endpoint):
    bot, group = trip
    message = mention(bob, group, bot, "@Weather tomorrw?")
    assert events.plan_messages([message]) == 1
    first_attempt_fails(endpoint)
    assert events.send_due() == {"retried": 1}
    do_edit_message(user=bob, message_id=str(message.uuid), content="@Weather tomorrow?")
    due_now()
    assert events.send_due() == {"delivered": 1}
    first, second = endpoint.requests
    assert first["event"]["id"] == second["event"]["id"]
    assert first["event"]["message"]["content"] == "@Weather tomorrw?"
    assert first["event"]["message"]["edited_at"] is None
    assert second["event"]["message"]["content"] == "@Weather tomorrow?"
    assert second["event"]["message"]["edited_at"] is not None


def test_a_slow_answer_keeps_its_lease_and_a_second_worker_leaves_it_alone(alice, monkeypatch):
    """A lease shorter than the answer (as 60 s is to a model given 300 s):
    the worker doing it renews it, so another worker's claims find nothing
    and the bot is asked once."""
    monkeypatch.setattr(events, "LEASE_S", 1)
    asked = []

    def slow(event):
        asked.append(event["id"])
        time.sleep(3.5)
        return {"text": "done", "response_type": "ephemeral"}

    register_internal_bot("slow-test", slow)
    bot = do_create_bot(owner=alice, username="slow_bot")
    Bot.objects.filter(pk=bot.pk).update(events_url="internal:slow-test")
    conversation = do_add_bot(user=alice, bot_id=str(bot.user.uuid)).conversation
    events.plan_command(command_id=new_id(), conversation=conversation, user=alice, bot=bot.user, name="x", text="")
    first: list[dict] = []

    def worker_one() -> None:
        try:
            with ThreadPoolExecutor(2) as pool:
                first.append(events.send_due(pool=pool))
        finally:
            connection.close()

    one = threading.Thread(target=worker_one)
    one.start()
    deadline = time.monotonic() + 5
    while not asked:  # the first worker has it
        assert time.monotonic() < deadline, "the first worker never started the event"
        time.sleep(0.02)
    second: list[dict] = []
    with ThreadPoolExecutor(2) as pool:
        while one.is_alive():
            second.append(events.send_due(pool=pool))
            time.sleep(0.2)
    one.join()
    assert first == [{"delivered": 1}]
    assert len(asked) == 1 and not any(second), second
    assert Delivery.objects.get().attempts == 1
