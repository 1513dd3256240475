"""Outgoing events and slash commands: what a bot's URL receives, signed;
its answers posted or shown to the caller alone; retries; refusals."""

from __future__ import annotations

import json
import time

import pytest
from asgiref.sync import sync_to_async

from accounts.actions.sessions import issue_bot_key
from bots import events
from bots.internal import register_internal_bot
from bots.models import Delivery, DeliveryState
from bots.services import do_add_bot, do_create_bot, do_set_commands, do_update_bot
from chatsite import signing
from chatsite.testing import assert_error
from conftest import REAL_KAFKA
from contacts.models import Contact
from conversations.models import Message
from groups.services import do_create_group
from messaging.tests.helpers import new_id

pytestmark = pytest.mark.django_db(transaction=True)


def make_bot(owner, endpoint, *, username="weather_bot", commands=()):
    bot = do_create_bot(owner=owner, username=username, nickname="Weather")
    do_update_bot(user=owner, bot_id=str(bot.user.uuid), events_url=endpoint.url)
    if commands:
        do_set_commands(user=owner, bot_id=str(bot.user.uuid), commands=[{"name": c} for c in commands])
    bot.refresh_from_db()
    return bot


def send(api, conversation: str, text: str, **extra) -> str:
    cmid = new_id()
    r = api.post(
        f"/api/v1/conversations/{conversation}/messages",
        {"kind": "text", "content": text, "client_msg_id": cmid, **extra},
        format="json",
    )
    assert r.status_code == 202, r.content
    return cmid


def wait_message(**filters) -> Message:
    deadline = time.monotonic() + 15
    while (found := Message.objects.filter(**filters).first()) is None:
        assert time.monotonic() < deadline, f"no message {filters}"
        time.sleep(0.05)
    return found


def test_a_direct_message_reaches_the_bot_signed_and_its_answer_is_posted(
    api, alice, endpoint, event_sender, message_worker
):
    bot = make_bot(alice, endpoint)
    conversation = str(do_add_bot(user=alice, bot_id=str(bot.user.uuid)).conversation.uuid)
    endpoint.answer = lambda event: (200, json.dumps({"text": f"Sunny in {event['message']['content']}"}).encode())
    cmid = send(api, conversation, "Paris")
    [request] = endpoint.wait_for(1)
    event = request["event"]
    assert event["type"] == "message" and event["bot"]["id"] == str(bot.user.uuid)
    assert event["conversation"] == {"id": conversation, "kind": "direct"}
    assert event["user"]["id"] == str(alice.uuid) and event["message"]["client_msg_id"] == cmid
    assert event["message"]["content"] == "Paris"
    # Its id is made of public ids only: no row id leaves the server.
    assert event["id"] == f"msg:{event['message']['id']}:{bot.user.uuid}"
    headers = request["headers"]
    assert signing.verify(
        bot.signing_secret, headers["x-slack-request-timestamp"], headers["x-slack-signature"], request["body"]
    )
    assert not signing.verify(
        "another secret", headers["x-slack-request-timestamp"], headers["x-slack-signature"], request["body"]
    )
    reply = wait_message(sender=bot.user, conversation__uuid=conversation)
    assert reply.text == "Sunny in Paris"
    # The bot's own message is not sent back to it.
    time.sleep(0.5)
    assert len(endpoint.requests) == 1


def test_in_a_group_only_a_mention_reaches_the_bot(api, alice, bob, endpoint, event_sender, message_worker):
    bot = make_bot(alice, endpoint)
    do_add_bot(user=alice, bot_id=str(bot.user.uuid))
    group = do_create_group(owner=alice, name="Trip", members=[str(bob.uuid), str(bot.user.uuid)])
    conversation = str(group.conversation.uuid)
    endpoint.answer = lambda event: (200, b'{"text": "On it"}')
    send(api, conversation, "no one in particular")
    mentioned = send(api, conversation, "@Weather tomorrow?", mentions=[str(bot.user.uuid)])
    [request] = endpoint.wait_for(1)
    assert request["event"]["type"] == "mention" and request["event"]["message"]["client_msg_id"] == mentioned
    reply = wait_message(sender=bot.user, conversation=group.conversation)
    # The answer to a mention quotes it.
    assert reply.text == "On it" and reply.reply_to.client_msg_id == mentioned
    time.sleep(0.5)
    assert len(endpoint.requests) == 1


def test_a_failing_url_is_retried_with_backoff_and_a_4xx_is_final(alice, endpoint, event_sender):
    bot = make_bot(alice, endpoint)
    answers = iter([(503, b""), (200, b"")])
    endpoint.answer = lambda event: next(answers)
    conversation = do_add_bot(user=alice, bot_id=str(bot.user.uuid)).conversation
    events.plan_command(command_id=new_id(), conversation=conversation, user=alice, bot=bot.user, name="x", text="")
    first, second = endpoint.wait_for(2, timeout=20)
    assert first["event"]["id"] == second["event"]["id"]
    delivery = Delivery.objects.get(key=first["event"]["id"])
    deadline = time.monotonic() + 5
    while delivery.state != DeliveryState.DELIVERED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        delivery.refresh_from_db()
    assert delivery.attempts == 2
    endpoint.answer = lambda event: (404, b"")
    events.plan_command(command_id=new_id(), conversation=conversation, user=alice, bot=bot.user, name="x", text="")
    [*_, gone] = endpoint.wait_for(3)
    delivery = Delivery.objects.get(key=gone["event"]["id"])
    deadline = time.monotonic() + 5
    while delivery.state != DeliveryState.FAILED:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        delivery.refresh_from_db()
    assert (delivery.attempts, delivery.last_error) == (1, "HTTP 404")


def test_a_private_address_is_refused_and_never_contacted(alice, endpoint, settings):
    bot = make_bot(alice, endpoint)
    settings.WEBHOOK_ALLOW_PRIVATE = []
    conversation = do_add_bot(user=alice, bot_id=str(bot.user.uuid)).conversation
    events.plan_command(command_id=new_id(), conversation=conversation, user=alice, bot=bot.user, name="x", text="")
    assert events.send_due() == {"failed": 1}
    [delivery] = Delivery.objects.filter(bot=bot)
    assert delivery.state == DeliveryState.FAILED and delivery.last_error.startswith("refused")
    assert endpoint.requests == []


def test_planning_twice_delivers_once(alice, endpoint):
    bot = make_bot(alice, endpoint)
    conversation = do_add_bot(user=alice, bot_id=str(bot.user.uuid)).conversation
    command_id = new_id()
    for _ in range(2):
        events.plan_command(
            command_id=command_id, conversation=conversation, user=alice, bot=bot.user, name="x", text=""
        )
    assert events.send_due() == {"delivered": 1}
    assert events.send_due() == {}
    assert len(endpoint.requests) == 1


# --------------------------------------------------------------------------- slash commands


def test_a_bot_command_goes_to_the_bot_and_its_ephemeral_answer_to_the_caller_only(
    api, alice, bob, endpoint, event_sender, message_worker
):
    bot = make_bot(alice, endpoint, commands=["weather"])
    do_add_bot(user=alice, bot_id=str(bot.user.uuid))
    group = do_create_group(owner=alice, name="Trip", members=[str(bob.uuid), str(bot.user.uuid)])
    conversation = str(group.conversation.uuid)
    listed = api.get(f"/api/v1/conversations/{conversation}/commands").json()["results"]
    assert [c["name"] for c in listed] == ["me", "shrug", "mute", "unmute", "invite", "weather"]
    assert listed[-1]["bot"]["id"] == str(bot.user.uuid) and listed[0]["bot"] is None
    endpoint.answer = lambda event: (200, json.dumps({"text": f"{event['text']}: 21°C"}).encode())
    before = Message.objects.filter(conversation=group.conversation).count()
    r = api.post(f"/api/v1/conversations/{conversation}/commands", {"text": "/weather  Paris "}, format="json")
    assert r.status_code == 200, r.content
    assert r.json() == {"command": "weather", "status": "forwarded", "client_msg_id": None}
    [request] = endpoint.wait_for(1)
    assert (request["event"]["type"], request["event"]["command"], request["event"]["text"]) == (
        "command",
        "/weather",
        "Paris",
    )
    # Nothing is stored for the command, or for its ephemeral answer.
    time.sleep(0.5)
    assert Message.objects.filter(conversation=group.conversation).count() == before


async def test_the_ephemeral_answer_reaches_only_the_callers_sockets(
    alice, bob, ws_connect, endpoint, event_sender, message_worker
):
    def setup():
        bot = make_bot(alice, endpoint, commands=["weather"])
        do_add_bot(user=alice, bot_id=str(bot.user.uuid))
        group = do_create_group(owner=alice, name="Trip", members=[str(bob.uuid), str(bot.user.uuid)])
        return bot, str(group.conversation.uuid)

    bot, conversation = await sync_to_async(setup)()
    endpoint.answer = lambda event: (200, b'{"text": "Only you see this", "response_type": "ephemeral"}')
    mine, other_tab, theirs = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
    await mine.send({"type": "command.run", "conversation": conversation, "text": "/weather", "ref": "c1"})
    ack = await mine.expect("command.ack")
    assert ack == {
        "type": "command.ack",
        "ref": "c1",
        "command": "weather",
        "status": "forwarded",
        "client_msg_id": None,
    }
    for ws in (mine, other_tab):
        shown = await ws.expect("bot.ephemeral", timeout=15)
        assert shown["text"] == "Only you see this" and shown["command"] == "/weather"
        assert shown["bot"]["id"] == str(bot.user.uuid) and shown["conversation"] == conversation
    await theirs.silent(0.5)


async def test_an_answer_faster_than_the_ack_waits_for_it(
    alice, ws_connect, endpoint, event_sender, message_worker, monkeypatch
):
    """The bot answers before the caller's `command.ack` is written (here the
    service waits until the answer is out, as a fast bot and a busy node
    would make it): the caller's socket still gets the ack first, and another
    of the caller's sockets gets the answer at once."""
    from bots import ws_handlers

    def setup():
        bot = make_bot(alice, endpoint, commands=["weather"])
        do_add_bot(user=alice, bot_id=str(bot.user.uuid))
        return str(Contact.objects.get(owner=alice, other=bot.user).conversation.uuid)

    conversation = await sync_to_async(setup)()
    endpoint.answer = lambda event: (200, b'{"text": "Sunny", "response_type": "ephemeral"}')
    real = ws_handlers.do_run_command

    def run_then_wait_for_the_answer(**kwargs):
        ran = real(**kwargs)
        deadline = time.monotonic() + 15
        while not Delivery.objects.filter(state=DeliveryState.DELIVERED).exists():
            assert time.monotonic() < deadline, "the bot's event was not delivered"
            time.sleep(0.05)
        time.sleep(0.3)  # the answer reaches the sockets meanwhile
        return ran

    monkeypatch.setattr(ws_handlers, "do_run_command", run_then_wait_for_the_answer)
    mine, other_tab = await ws_connect(alice), await ws_connect(alice)
    await mine.send({"type": "command.run", "conversation": conversation, "text": "/weather", "ref": "c1"})
    shown = await other_tab.expect("bot.ephemeral", timeout=20)
    assert shown["text"] == "Sunny"
    ack = await mine.expect("command.ack", timeout=5)
    assert (ack["ref"], ack["status"]) == ("c1", "forwarded")
    answer = await mine.expect("bot.ephemeral")
    assert answer == shown


async def _until(ws, *types: str) -> dict[str, dict]:
    """Frames until one of each type arrived, in any order (presence aside)."""
    got: dict[str, dict] = {}
    while set(types) - set(got):
        frame = await ws.recv(10)
        if frame["type"] != "presence":
            got[frame["type"]] = frame
    return got


async def test_builtin_commands_use_the_same_services(alice, bob, direct, ws_connect, message_worker):
    ws = await ws_connect(alice)
    cmid = new_id()
    await ws.send(
        {"type": "command.run", "conversation": direct, "text": "/shrug fine", "client_msg_id": cmid, "ref": "s"}
    )
    # The answer, and the message on every socket of the sender (as a REST send does), in either order.
    got = await _until(ws, "command.ack", "message.new")
    assert (got["command.ack"]["status"], got["command.ack"]["client_msg_id"]) == ("sent", cmid)
    assert got["message.new"]["message"]["client_msg_id"] == cmid
    stored = await sync_to_async(wait_message)(client_msg_id=cmid)
    assert stored.text == "fine ¯\\_(ツ)_/¯" and stored.sender_id == alice.pk
    await ws.send({"type": "command.run", "conversation": direct, "text": "/me waves", "ref": "m"})
    got = await _until(ws, "command.ack", "message.new")
    assert got["message.new"]["message"]["content"] == "* Alice waves"
    assert got["command.ack"]["client_msg_id"] == got["message.new"]["message"]["client_msg_id"]
    await ws.send({"type": "command.run", "conversation": direct, "text": "/mute", "ref": "u"})
    got = await _until(ws, "command.ack", "conversation.updated")
    assert got["command.ack"]["status"] == "done" and got["conversation.updated"]["conversation"]["muted"] is True
    # Refusals: unknown, /invite outside a group, malformed.
    for text, ref in (("/nope", "n"), ("/invite @bob", "i"), ("no slash", "x")):
        await ws.send({"type": "command.run", "conversation": direct, "text": text, "ref": ref})
        error = await ws.expect("error")
        assert (error["code"], error["ref"]) == ("invalid", ref)


def test_mute_and_invite_over_rest(api, alice, bob, carol, direct):
    from contacts.services import do_connect
    from conversations.models import Member

    r = api.post(f"/api/v1/conversations/{direct}/commands", {"text": "/mute"}, format="json")
    assert r.json() == {"command": "mute", "status": "done", "client_msg_id": None}
    assert Member.objects.get(conversation__uuid=direct, user=alice).muted
    api.post(f"/api/v1/conversations/{direct}/commands", {"text": "/unmute"}, format="json")
    assert not Member.objects.get(conversation__uuid=direct, user=alice).muted
    do_connect(user=alice, other=carol)
    group = do_create_group(owner=alice, name="G", members=[str(bob.uuid)])
    conv = str(group.conversation.uuid)
    r = api.post(f"/api/v1/conversations/{conv}/commands", {"text": "/invite @carol"}, format="json")
    assert r.status_code == 200, r.content
    assert Member.objects.filter(conversation=group.conversation, user=carol, left_seq__isnull=True).exists()
    assert_error(
        api.post(f"/api/v1/conversations/{conv}/commands", {"text": "/invite @nobody_here"}, format="json"),
        404,
        "not_found",
    )


@pytest.mark.parametrize("text", ["/mute", "/unmute", "/shrug", "/me waves", "/nosuchcommand"])
def test_every_command_counts_against_the_callers_message_budget(api, settings, direct, message_worker, text):
    settings.LIMIT_MESSAGES_PER_S = 1
    settings.LIMIT_MESSAGES_BURST = 2
    url = f"/api/v1/conversations/{direct}/commands"
    answers = [api.post(url, {"text": text}, format="json").status_code for _ in range(3)]
    assert answers[:2] in ([200, 200], [400, 400]), answers
    assert answers[2] == 429, answers


def test_a_stranger_cannot_list_or_run_commands(api_for, carol, direct):
    theirs = api_for(carol)
    assert_error(theirs.get(f"/api/v1/conversations/{direct}/commands"), 404, "not_found")
    assert_error(
        theirs.post(f"/api/v1/conversations/{direct}/commands", {"text": "/shrug"}, format="json"), 404, "not_found"
    )


def test_a_bot_signs_in_to_answer_over_rest_too(alice, endpoint):
    """The key the example bot uses works for the commands route as well."""
    bot = make_bot(alice, endpoint, commands=["weather"])
    _, key = issue_bot_key(bot=bot.user, name="t")
    assert key.startswith("wscb_")


def test_a_bot_the_product_runs_answers_in_process_and_its_commands_work_everywhere(api, alice, bob, direct):
    """The hook the assistant uses: `internal:<name>` bots are answered by a
    registered function, and their commands are offered in every conversation."""
    from bots.models import Bot

    seen = []

    def answer(event):
        seen.append(event)
        return {"text": f"you asked {event['command']} {event['text']}"}

    register_internal_bot("echo-test", answer)
    bot = do_create_bot(owner=alice, username="internal_bot")
    Bot.objects.filter(pk=bot.pk).update(events_url="internal:echo-test")
    do_set_commands(user=alice, bot_id=str(bot.user.uuid), commands=[{"name": "ask"}])
    # Not a member of alice and bob's chat, and still offered there.
    names = [c["name"] for c in api.get(f"/api/v1/conversations/{direct}/commands").json()["results"]]
    assert "ask" in names
    r = api.post(f"/api/v1/conversations/{direct}/commands", {"text": "/ask why"}, format="json")
    assert r.json()["status"] == "forwarded"
    if REAL_KAFKA:
        # The bots group runs in a worker process, where this test's handler
        # is not registered: do here what it does with the record.
        conversation = Contact.objects.get(owner=alice, other=bob).conversation
        events.plan_command(
            command_id=new_id(), conversation=conversation, user=alice, bot=bot.user, name="ask", text="why"
        )
    deadline = time.monotonic() + 10
    while not seen:
        assert time.monotonic() < deadline, "the command never reached the bot"
        events.send_due()
        time.sleep(0.05)
    assert [(e["command"], e["text"], e["user"]["id"]) for e in seen] == [("/ask", "why", str(alice.uuid))]
    # (With Kafka the module's bots worker planned the bus record too, and
    # could not answer it: this test's handler lives in this process only.)
    assert Delivery.objects.get(key=seen[0]["id"]).state == DeliveryState.DELIVERED


def test_a_bot_stops_with_its_owner(alice, bob, carol, admin_user, endpoint):
    """Alice's public bot, in a group with Bob: once an administrator disables
    Alice, the bot hears nothing (events already planned are not sent, a new
    mention plans none), offers no commands, and nobody can add it."""
    from backoffice.services import do_disable_user
    from bots.selectors import commands_in
    from chatsite.errors import NotFound
    from messaging.tests.helpers import store_text_sync

    bot = make_bot(alice, endpoint, commands=("weather",))
    do_update_bot(user=alice, bot_id=str(bot.user.uuid), is_public=True)
    do_add_bot(user=alice, bot_id=str(bot.user.uuid))
    group = do_create_group(owner=alice, name="Trip", members=[str(bob.uuid), str(bot.user.uuid)])
    conversation = group.conversation

    def mention(text: str) -> Message:
        message = store_text_sync(sender=bob, conversation_uuid=str(conversation.uuid), text=text)
        message.mentions = [str(bot.user.uuid)]
        return message

    assert [c.name for c in commands_in(conversation_id=conversation.pk)] == ["weather"]
    assert events.plan_messages([mention("@Weather before")]) == 1
    events.plan_command(command_id=new_id(), conversation=conversation, user=bob, bot=bot.user, name="weather", text="")
    do_disable_user(actor=admin_user, user_id=str(alice.uuid))
    endpoint.answer = lambda event: (200, json.dumps({"text": "still here", "response_type": "in_channel"}).encode())
    assert events.send_due() == {"failed": 2}
    assert endpoint.requests == []
    assert not Message.objects.filter(sender=bot.user).exists()
    assert events.plan_messages([mention("@Weather after")]) == 0
    assert commands_in(conversation_id=conversation.pk) == []
    with pytest.raises(NotFound):
        do_add_bot(user=carol, bot_id=str(bot.user.uuid))
