"""@assistant against a local stand-in for an OpenAI-compatible server: a
summary of the caller's unread messages for the caller alone, answers to
questions, replies in its direct chat; only what the asker may read; a clear
label; off unless configured."""

from __future__ import annotations

import pytest

from assistant import bot as assistant
from assistant.tests.llm_standin import LLMStandIn
from bots import events
from bots.models import Delivery
from bots.services import do_add_bot
from chatsite import realtime
from conversations.models import Conversation, Message
from groups.services import do_create_group
from messaging.tests.helpers import new_id, store_text_sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def model(settings):
    with LLMStandIn() as server:
        settings.ASSISTANT_LLM_URL = server.url
        settings.ASSISTANT_LLM_MODEL = "test-model"
        settings.ASSISTANT_LLM_KEY = "sk-test"
        assistant.ensure_assistant_bot()
        yield server


@pytest.fixture
def shown(monkeypatch):
    """Frames sent to users' sockets from here on: [(user ids, frame)]."""
    sent = []
    real = realtime.deliver

    def record(user_ids, message):
        user_ids = list(user_ids)
        sent.append((user_ids, message))
        return real(user_ids, message)

    monkeypatch.setattr(realtime, "deliver", record)
    return sent


def _ephemerals(shown) -> list[tuple[list[int], dict]]:
    from chatsite import wire

    found = []
    for user_ids, message in shown:
        text = message.get("text") if isinstance(message, dict) else None
        if text and '"bot.ephemeral"' in text:
            found.append((user_ids, wire.loads(text)))
    return found


def run(command: str, text: str, *, user, conversation) -> None:
    events.plan_command(
        command_id=new_id(),
        conversation=conversation,
        user=user,
        bot=assistant.get_assistant(),
        name=command,
        text=text,
    )
    assert events.send_due() == {"delivered": 1}


def test_summarize_reads_the_callers_unread_messages_and_answers_them_alone(model, shown, alice, bob, carol):
    group = do_create_group(owner=alice, name="Plans", members=[str(bob.uuid)])
    conv = str(group.conversation.uuid)
    store_text_sync(sender=bob, conversation_uuid=conv, text="Who is coming?")
    store_text_sync(sender=alice, conversation_uuid=conv, text="Lunch at noon?")
    store_text_sync(sender=alice, conversation_uuid=conv, text="The noodle place")
    run("summarize", "", user=bob, conversation=group.conversation)
    [request] = model.requests
    assert request.headers["authorization"] == "Bearer sk-test" and request.body["model"] == "test-model"
    prompt = request.body["messages"][-1]["content"]
    # Bob's unread: what came after his own message (sending moved his read cursor).
    assert "Alice: Lunch at noon?\nAlice: The noodle place" in prompt and "Who is coming" not in prompt
    assert "these 2 unread" in prompt
    [(to, frame)] = _ephemerals(shown)
    assert to == [bob.pk] and frame["command"] == "/summarize"
    assert frame["text"].startswith(assistant.LABEL) and "summary of" in frame["text"]
    # Never stored.
    assert not Message.objects.filter(conversation=group.conversation, sender=assistant.get_assistant()).exists()


def test_summarize_never_reads_a_conversation_the_caller_is_not_in(model, shown, alice, bob, carol):
    group = do_create_group(owner=alice, name="Secret", members=[str(bob.uuid)])
    store_text_sync(sender=alice, conversation_uuid=str(group.conversation.uuid), text="the secret plan")
    run("summarize", "", user=carol, conversation=group.conversation)
    assert model.requests == [] and _ephemerals(shown) == []


def test_nothing_unread_and_an_empty_question_are_answered_without_the_model(model, shown, alice, bob, direct):
    conversation = Conversation.objects.get(uuid=direct)
    run("summarize", "", user=alice, conversation=conversation)
    run("ask", "  ", user=alice, conversation=conversation)
    assert model.requests == []
    texts = [frame["text"] for _, frame in _ephemerals(shown)]
    assert texts == ["You have no unread messages here.", "Ask a question: /ask followed by your question."]


def test_ask_answers_the_caller_alone_with_a_label(model, shown, alice, direct):
    conversation = Conversation.objects.get(uuid=direct)
    run("ask", "什么是 WebSocket？", user=alice, conversation=conversation)
    assert model.requests[0].body["messages"][-1] == {"role": "user", "content": "什么是 WebSocket？"}
    [(to, frame)] = _ephemerals(shown)
    assert to == [alice.pk] and frame["text"].startswith(assistant.LABEL)


def test_a_message_in_its_direct_chat_gets_an_answer_posted_there(model, alice, message_worker):
    bot = assistant.get_assistant()
    conversation = do_add_bot(user=alice, bot_id=str(bot.uuid)).conversation
    stored = store_text_sync(sender=alice, conversation_uuid=str(conversation.uuid), text="Hello, who are you?")
    assert events.plan_messages([stored]) == 1
    assert events.send_due() == {"delivered": 1}
    reply_id = Delivery.objects.get(bot__user=bot).key
    assert reply_id.startswith("msg:")
    import time

    deadline = time.monotonic() + 10
    while not (reply := Message.objects.filter(conversation=conversation, sender=bot).first()):
        assert time.monotonic() < deadline, "the answer was never stored"
        time.sleep(0.05)
    assert reply.text.startswith(assistant.LABEL) and "Hello, who are you?" in reply.text


def test_the_model_down_is_said_and_not_retried_forever(model, shown, alice, direct):
    model.status = 503
    conversation = Conversation.objects.get(uuid=direct)
    run("ask", "anything", user=alice, conversation=conversation)
    [(_, frame)] = _ephemerals(shown)
    assert frame["text"] == "The assistant cannot answer right now; try again later."


def test_off_unless_configured(settings, api, direct):
    settings.ASSISTANT_LLM_URL = ""
    assistant.ensure_assistant_bot()
    assert assistant.get_assistant() is None
    names = [c["name"] for c in api.get(f"/api/v1/conversations/{direct}/commands").json()["results"]]
    assert "summarize" not in names and "ask" not in names


def test_configured_its_commands_are_offered_everywhere(model, api, direct):
    names = [c["name"] for c in api.get(f"/api/v1/conversations/{direct}/commands").json()["results"]]
    assert {"summarize", "ask"} <= set(names)


def _answers(bot) -> list[Message]:
    return list(Message.objects.filter(sender=bot))


def _wait_answers(bot, n: int) -> list[Message]:
    import time

    deadline = time.monotonic() + 10
    while len(found := _answers(bot)) < n:
        assert time.monotonic() < deadline, f"{len(found)} of {n} answers stored"
        time.sleep(0.05)
    return found


def test_each_asker_has_a_share_of_the_budget_not_one_bucket_for_everyone(
    model, settings, user_factory, message_worker
):
    """The bots' budget is 2 answers here: four people asking at once each
    get an answer, and the model is asked once per answer."""
    settings.LIMIT_BOT_MESSAGES_PER_S, settings.LIMIT_BOT_MESSAGES_BURST = 0.001, 2
    bot = assistant.get_assistant()
    stored = []
    for person in [user_factory() for _ in range(4)]:
        conversation = do_add_bot(user=person, bot_id=str(bot.uuid)).conversation
        stored.append(store_text_sync(sender=person, conversation_uuid=str(conversation.uuid), text="Hello?"))
    assert events.plan_messages(stored) == 4
    assert events.send_due() == {"delivered": 4}
    assert len(_wait_answers(bot, 4)) == 4 and len(model.requests) == 4


def test_an_asker_past_their_share_is_told_and_the_model_is_not_asked(model, shown, settings, alice, message_worker):
    settings.LIMIT_BOT_MESSAGES_PER_S, settings.LIMIT_BOT_MESSAGES_BURST = 0.001, 2
    bot = assistant.get_assistant()
    conversation = do_add_bot(user=alice, bot_id=str(bot.uuid)).conversation
    stored = [
        store_text_sync(sender=alice, conversation_uuid=str(conversation.uuid), text=f"Question {i}?") for i in range(3)
    ]
    assert events.plan_messages(stored) == 3
    assert events.send_due() == {"delivered": 3}
    assert len(_wait_answers(bot, 2)) == 2
    # The third is not paid for with the model and then dropped: Alice hears why, alone.
    assert len(model.requests) == 2
    [(to, frame)] = _ephemerals(shown)
    assert to == [alice.pk] and frame["text"] == "The assistant cannot answer right now; try again later."
    assert frame["conversation"] == str(conversation.uuid)
    import time

    time.sleep(0.3)
    assert len(_answers(bot)) == 2
