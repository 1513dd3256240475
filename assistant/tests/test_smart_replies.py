"""Smart replies end to end, with the real engine: a direct message's
recipient gets `reply.suggestions` drawn from their own history only (two
users' histories side by side), built-in replies in the message's language
on a cold start; nothing for the sender, in groups, for bots, with the
person's switch off or with ASSISTANT=0.

The end-to-end tests go through the bus (with Kafka, `manage.py
run_assistant`); the others call the worker's step (`handle_stored`) on
messages stored directly, and read the frames it hands to the fan-out."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from assistant import coldstart, embedding
from assistant.models import MessageVector
from assistant.selectors import REPLY_WITHIN, history_rows, users_with_smart_replies
from assistant.smart_replies import handle_stored
from chatsite.testing import assert_error
from conftest import REAL_KAFKA, make_user
from contacts.services import do_connect
from conversations.models import Message
from groups.services import do_create_group
from messaging.actions.react import do_react
from messaging.tests.helpers import send_text, store_text_sync

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/me/assistant"
# The first suggestion of an embedded run loads the model and embeds the
# built-in replies' examples (2-3 s on a busy box).
FIRST_SUGGESTION_S = 20.0
# Long enough for a suggestion that was going to come (p99 well under 1 s).
SILENCE_S = 2.0 if REAL_KAFKA else 1.0


def direct_between(a, b) -> str:
    return str(do_connect(user=a, other=b).conversation.uuid)


def history(*exchanges: tuple[object, object, str, str]) -> None:
    """Each (sender, recipient, message, what the recipient answered), stored
    in that order in their direct chat, then handled by the assistant
    worker's step (embedded, answers noted)."""
    stored = []
    for sender, recipient, text, answer in exchanges:
        conversation = direct_between(sender, recipient)
        stored.append(store_text_sync(sender=sender, conversation_uuid=conversation, text=text))
        stored.append(store_text_sync(sender=recipient, conversation_uuid=conversation, text=answer))
    handle_stored(_reloaded(stored))


def _reloaded(messages: list[Message]) -> list[Message]:
    return list(Message.objects.select_related("conversation").filter(pk__in=[m.pk for m in messages]).order_by("pk"))


def handled(sender, conversation: str, text: str) -> Message:
    """Store a message and run the worker's step on it."""
    message = store_text_sync(sender=sender, conversation_uuid=conversation, text=text)
    handle_stored(_reloaded([message]))
    return message


@pytest.fixture
def dave(db, carol):
    return make_user("dave", nickname="Dave")


@pytest.fixture
def two_histories(assistant_on, alice, bob, carol, dave):
    """Alice and Carol were asked the same things and answered differently."""
    history(
        (bob, alice, "你吃饭了吗", "吃了，你呢"),
        (bob, alice, "what time is the meeting tomorrow?", "10am, room 4"),
        (dave, carol, "你吃了吗？", "没吃，饿死了"),
        (dave, carol, "what time is the meeting tomorrow?", "Noon, in the lab"),
    )


async def suggestions_for(ws, message: dict, timeout: float = FIRST_SUGGESTION_S) -> dict:
    """The `reply.suggestions` frame for `message` (frames of the message itself before it)."""
    while True:
        frame = await ws.expect("reply.suggestions", timeout, skip=("presence", "message.new", "conversation.updated"))
        if frame["message"] == message["id"]:
            return frame


# --------------------------------------------------------------------------- over the bus


async def test_a_chinese_message_gets_the_recipients_own_answer_and_the_sender_nothing(
    smart_replies, two_histories, alice, bob, direct, ws_connect
):
    alice_ws = await ws_connect(alice)
    bob_ws = await ws_connect(bob)
    sent = await send_text(bob_ws, direct, "你吃了吗？")

    frame = await suggestions_for(alice_ws, sent)

    assert frame == {
        "type": "reply.suggestions",
        "conversation": direct,
        "message": sent["id"],
        "seq": sent["seq"],
        "suggestions": frame["suggestions"],
    }
    suggestions = frame["suggestions"]
    # What Alice answered comes first; Carol's answer to the very same words never comes.
    assert suggestions[0] == "吃了，你呢"
    assert "没吃，饿死了" not in suggestions
    assert 1 <= len(suggestions) <= 3
    await bob_ws.silent(SILENCE_S)
    await alice_ws.silent(0.2)


async def test_an_english_message_gets_the_recipients_own_answer(
    smart_replies, two_histories, alice, bob, direct, ws_connect
):
    alice_ws = await ws_connect(alice)
    bob_ws = await ws_connect(bob)
    sent = await send_text(bob_ws, direct, "when do we meet tomorrow?")

    suggestions = (await suggestions_for(alice_ws, sent))["suggestions"]

    assert suggestions[0] == "10am, room 4"
    assert "Noon, in the lab" not in suggestions


async def test_switched_off_the_recipient_gets_no_suggestion_and_nothing_is_kept_or_embedded(
    smart_replies, api, two_histories, alice, bob, carol, direct, ws_connect
):
    get, patch = sync_to_async(api.get), sync_to_async(api.patch)
    assert (await get(URL)).json() == {"smart_replies": True, "available": True}
    answer = await patch(URL, {"smart_replies": False}, format="json")
    assert answer.status_code == 200 and answer.json() == {"smart_replies": False, "available": True}
    assert (await get(URL)).json() == {"smart_replies": False, "available": True}
    # Her vectors are gone; Carol's stay.
    assert not await MessageVector.objects.filter(recipient=alice).aexists()
    assert await MessageVector.objects.filter(recipient=carol).aexists()
    alice_ws = await ws_connect(alice)
    bob_ws = await ws_connect(bob)

    sent = await send_text(bob_ws, direct, "你吃了吗？")
    await alice_ws.expect("message.new")
    await alice_ws.silent(SILENCE_S)
    assert not await MessageVector.objects.filter(message__uuid=sent["id"]).aexists()

    # On again: from the next message, with an empty history (built-in replies only).
    answer = await patch(URL, {"smart_replies": True}, format="json")
    assert answer.json() == {"smart_replies": True, "available": True}
    again = await send_text(bob_ws, direct, "你吃了吗？")
    suggestions = (await suggestions_for(alice_ws, again))["suggestions"]
    assert "吃了，你呢" not in suggestions
    assert set(suggestions) <= set(next(i for i in coldstart.INTENTS if i.name == "have_you_eaten").replies["zh"])


async def test_a_group_message_gets_no_suggestion(smart_replies, two_histories, alice, bob, ws_connect):
    group = await sync_to_async(do_create_group)(owner=alice, name="Lunch", members=[str(bob.uuid)])
    alice_ws = await ws_connect(alice)
    bob_ws = await ws_connect(bob)

    sent = await send_text(bob_ws, str(group.conversation.uuid), "你吃了吗？")

    await alice_ws.expect("message.new", skip=("presence", "group.updated", "conversation.updated"))
    await alice_ws.silent(SILENCE_S)
    assert not await MessageVector.objects.filter(message__uuid=sent["id"]).aexists()


@pytest.mark.skipif(
    REAL_KAFKA,
    reason="the worker is a process of its own, started with ASSISTANT=1: "
    "test_assistant_off_offers_nothing and test_run_assistant_refuses_with_assistant_off cover it",
)
async def test_with_assistant_off_no_frame_and_no_vector_end_to_end(settings, alice, bob, direct, ws_connect):
    settings.ASSISTANT = False
    alice_ws = await ws_connect(alice)
    bob_ws = await ws_connect(bob)

    sent = await send_text(bob_ws, direct, "谢谢你！")

    await alice_ws.expect("message.new")
    await alice_ws.silent(SILENCE_S)
    assert not await MessageVector.objects.filter(message__uuid=sent["id"]).aexists()


# --------------------------------------------------------------------------- the worker's step


def test_history_is_the_recipients_own(two_histories, alice, carol):
    assert [(r.incoming_text, r.reply_text) for r in history_rows(user_id=alice.pk)] == [
        ("你吃饭了吗", "吃了，你呢"),
        ("what time is the meeting tomorrow?", "10am, room 4"),
    ]
    assert [(r.incoming_text, r.reply_text) for r in history_rows(user_id=carol.pk)] == [
        ("你吃了吗？", "没吃，饿死了"),
        ("what time is the meeting tomorrow?", "Noon, in the lab"),
    ]
    assert all(r.model == embedding.MODEL_ID for r in history_rows(user_id=alice.pk))


def test_only_what_the_recipient_answered_next_and_soon_is_history(assistant_on, alice, bob, direct):
    first = store_text_sync(sender=bob, conversation_uuid=direct, text="are you free tonight?")
    second = store_text_sync(sender=bob, conversation_uuid=direct, text="we could see a movie")
    sure = store_text_sync(sender=alice, conversation_uuid=direct, text="Sure, which one?")
    answered_late = store_text_sync(sender=bob, conversation_uuid=direct, text="did you get my email?")
    reply = store_text_sync(sender=alice, conversation_uuid=direct, text="Yes, thanks")
    Message.objects.filter(pk=reply.pk).update(created_at=answered_late.created_at + REPLY_WITHIN * 2)
    handle_stored(_reloaded([first, second, sure, answered_late, reply]))

    # "are you free tonight?" was followed by another message of Bob's; the email was answered much later.
    assert [(r.incoming_text, r.reply_text) for r in history_rows(user_id=alice.pk)] == [
        ("we could see a movie", "Sure, which one?")
    ]
    # And Bob's own: what he wrote after Alice's message.
    assert [(r.incoming_text, r.reply_text) for r in history_rows(user_id=bob.pk)] == [
        ("Sure, which one?", "did you get my email?")
    ]


def test_a_reaction_before_the_answer_does_not_part_them(assistant_on, alice, bob, direct):
    question = store_text_sync(sender=bob, conversation_uuid=direct, text="are you free tonight?")
    do_react(user=alice, message_id=str(question.uuid), emoji="👍", op="add")
    answer = store_text_sync(sender=alice, conversation_uuid=direct, text="Yes, after 8")

    handle_stored(_reloaded([question, answer]))

    assert [(r.incoming_text, r.reply_text) for r in history_rows(user_id=alice.pk)] == [
        ("are you free tonight?", "Yes, after 8")
    ]


def test_cold_start_gets_built_in_replies_in_the_messages_language(assistant_on, events, user_factory):
    erin, frank = user_factory("erin"), user_factory("frank")
    conversation = direct_between(erin, frank)
    thanks = next(i for i in coldstart.INTENTS if i.name == "thanks")

    in_chinese = handled(frank, conversation, "谢谢你！")
    in_english = handled(frank, conversation, "thanks a lot!")

    frames = events.of_type("reply.suggestions")
    assert [(uids, frame["message"]) for uids, frame in frames] == [
        ({erin.pk}, str(in_chinese.uuid)),
        ({erin.pk}, str(in_english.uuid)),
    ]
    assert set(frames[0][1]["suggestions"]) <= set(thanks.replies["zh"]) and frames[0][1]["suggestions"]
    assert set(frames[1][1]["suggestions"]) <= set(thanks.replies["en"]) and frames[1][1]["suggestions"]


def test_assistant_off_offers_nothing(settings, api, events, alice, bob, direct):
    settings.ASSISTANT = False

    handled(bob, direct, "你吃了吗？")

    assert events.of_type("reply.suggestions") == []
    assert not MessageVector.objects.exists()
    assert api.get(URL).json() == {"smart_replies": False, "available": False}
    error = assert_error(api.patch(URL, {"smart_replies": True}, format="json"), 409, "conflict")
    assert "ASSISTANT=0" in error["message"]
    assert api.get(URL).json() == {"smart_replies": False, "available": False}
    assert api.patch(URL, {"smart_replies": False}, format="json").json() == {
        "smart_replies": False,
        "available": False,
    }


def test_run_assistant_refuses_with_assistant_off(settings):
    settings.ASSISTANT = False
    settings.BUS_BACKEND = "kafka"
    with pytest.raises(CommandError, match="ASSISTANT=0"):
        call_command("run_assistant")


def test_nothing_for_a_bot_a_disabled_person_or_the_sender(assistant_on, events, alice, bob, direct):
    robot = make_user("robot", is_bot=True)
    to_robot = direct_between(bob, robot)

    handled(bob, to_robot, "thanks a lot!")
    handled(robot, to_robot, "thanks a lot!")  # to bob: he gets them, the bot never
    alice.status = "disabled"
    alice.save(update_fields=["status"])
    handled(bob, direct, "thanks a lot!")

    assert [uids for uids, _ in events.of_type("reply.suggestions")] == [{bob.pk}]
    assert users_with_smart_replies(user_ids=[alice.pk, bob.pk, robot.pk]) == {bob.pk: None}


def test_a_redelivered_message_is_not_offered_twice(assistant_on, events, alice, bob, direct):
    message = handled(bob, direct, "thanks a lot!")

    handle_stored(_reloaded([message]))

    assert len(events.of_type("reply.suggestions")) == 1
    assert MessageVector.objects.filter(message=message).count() == 1


def test_in_a_batch_only_a_conversations_newest_message_is_offered_replies(assistant_on, events, alice, bob, direct):
    thanks = store_text_sync(sender=bob, conversation_uuid=direct, text="thanks a lot!")
    good_night = store_text_sync(sender=bob, conversation_uuid=direct, text="good night!")

    handle_stored(_reloaded([thanks, good_night]))

    assert [(uids, frame["message"]) for uids, frame in events.of_type("reply.suggestions")] == [
        ({alice.pk}, str(good_night.uuid))
    ]
    assert MessageVector.objects.filter(message__in=[thanks, good_night]).count() == 2


def test_vectors_of_another_model_are_embedded_again(events, two_histories, alice, bob, direct):
    MessageVector.objects.filter(recipient=alice).update(model="an-older-model", vector=bytes(embedding.VECTOR_BYTES))
    events.clear()  # what building the histories offered

    handled(bob, direct, "你吃了吗？")

    [(_, frame)] = events.of_type("reply.suggestions")
    assert frame["suggestions"][0] == "吃了，你呢"
    assert set(MessageVector.objects.filter(recipient=alice).values_list("model", flat=True)) == {embedding.MODEL_ID}
