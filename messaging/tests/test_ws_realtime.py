"""sync, read, typing, presence and recall over the WebSocket."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Message
from messaging.tests.helpers import new_id, send_text, store_text, store_text_sync

pytestmark = pytest.mark.django_db(transaction=True)


# ----------------------------------------------------------------- sync


async def test_offline_user_syncs_everything_missed(ws_connect, message_worker, alice, bob, direct):
    a = await ws_connect(alice)
    sent = [await send_text(a, direct, f"m{n}") for n in range(5)]
    b = await ws_connect(bob)
    await b.send({"type": "sync", "cursors": {direct: 0}, "ref": "s1"})
    got = [await b.expect("message.new") for _ in range(5)]
    assert [g["message"] for g in got] == sent
    assert all(g["sync"] is True for g in got)
    assert await b.expect("sync.done") == {"type": "sync.done", "more": False, "gone": [], "ref": "s1"}
    await b.send({"type": "sync", "cursors": {direct: 3}})
    assert [(await b.expect("message.new"))["message"]["seq"] for _ in range(2)] == [4, 5]
    assert (await b.expect("sync.done"))["more"] is False


async def test_sync_without_cursors_uses_the_read_cursor(ws_connect, alice, bob, direct):
    for n in range(3):
        await store_text(sender=alice, conversation_uuid=direct, text=f"x{n}")
    b = await ws_connect(bob)
    await b.send({"type": "sync", "cursors": {}})
    assert [(await b.expect("message.new"))["message"]["seq"] for _ in range(3)] == [1, 2, 3]
    await b.expect("sync.done")
    # alice's own read cursor moved as she sent: nothing for her.
    a = await ws_connect(alice)
    await a.send({"type": "sync", "cursors": {}})
    assert await a.expect("sync.done") == {"type": "sync.done", "more": False, "gone": [], "ref": None}


async def test_sync_pages_at_1000_frames(ws_connect, alice, bob, direct):
    from conversations.models import Conversation
    from conversations.store import Incoming, store_messages

    def seed():
        conv = Conversation.objects.get(uuid=direct)
        store_messages(
            [
                Incoming(conversation_id=conv.pk, sender_id=alice.pk, kind="text", text=str(n), client_msg_id=new_id())
                for n in range(1203)
            ]
        )

    await sync_to_async(seed)()
    b = await ws_connect(bob)
    await b.send({"type": "sync", "cursors": {direct: 0}})
    seqs = [(await b.expect("message.new"))["message"]["seq"] for _ in range(1000)]
    assert seqs == list(range(1, 1001))
    assert (await b.expect("sync.done"))["more"] is True
    await b.send({"type": "sync", "cursors": {direct: 1000}})
    seqs = [(await b.expect("message.new"))["message"]["seq"] for _ in range(203)]
    assert seqs == list(range(1001, 1204))
    assert (await b.expect("sync.done"))["more"] is False


async def test_sync_reports_unknown_conversations_as_gone(ws_connect, alice, carol, direct):
    c = await ws_connect(carol)
    bogus = "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"
    await c.send({"type": "sync", "cursors": {direct: 0, bogus: 4, "junk": 1}})
    done = await c.expect("sync.done")
    assert sorted(done["gone"]) == sorted([direct, bogus, "junk"])
    await c.send({"type": "sync", "cursors": {direct: -1}})
    assert (await c.expect("error"))["code"] == "invalid"
    await c.send({"type": "sync", "cursors": {direct: 2**63}})  # no seq column holds it
    assert (await c.expect("error"))["code"] == "invalid"
    await c.send({"type": "sync", "cursors": [1]})
    assert (await c.expect("error"))["code"] == "invalid"


# ----------------------------------------------------------------- read


async def test_read_moves_forward_only_and_tells_the_peer(ws_connect, alice, bob, direct):
    for n in range(4):
        await store_text(sender=alice, conversation_uuid=direct, text=str(n))
    a, b, b2 = await ws_connect(alice), await ws_connect(bob), await ws_connect(bob)
    await b.send({"type": "read", "conversation": direct, "seq": 3})
    event = await a.expect("read")
    assert event == {"type": "read", "conversation": direct, "user": str(bob.uuid), "seq": 3}
    updated = await b2.expect("conversation.updated")
    assert updated["conversation"]["read_seq"] == 3 and updated["conversation"]["unread"] == 1
    await b.expect("conversation.updated")
    await b.silent()  # never a `read` to the reader's own sockets
    await b.send({"type": "read", "conversation": direct, "seq": 2})
    await a.silent()
    await b.send({"type": "read", "conversation": direct, "seq": 99})
    assert (await a.expect("read"))["seq"] == 4  # clamped to what exists
    await b.send({"type": "read", "conversation": direct, "seq": "x"})
    assert (await b.expect("error", skip=("conversation.updated", "presence")))["code"] == "invalid"


async def test_hiding_and_opening_again_tell_every_socket_of_the_user(ws_connect, alice, bob, direct):
    """Another tab drops a chat hidden elsewhere from its list: the
    conversation.updated says `hidden`; opening it again says so too."""
    from conversations.services import do_hide_conversation
    from messaging.actions.open import do_open_conversation

    a, a2, b = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
    await sync_to_async(do_hide_conversation)(user=alice, conversation_id=direct)
    for ws in (a, a2):
        updated = await ws.expect("conversation.updated", skip=("presence",))
        assert updated["conversation"]["id"] == direct and updated["conversation"]["hidden"] is True
    await sync_to_async(do_hide_conversation)(user=alice, conversation_id=direct)  # already hidden: nothing
    await a.silent(skip=("presence",))
    await sync_to_async(do_open_conversation)(user=alice, peer=str(bob.uuid))
    assert (await a2.expect("conversation.updated", skip=("presence",)))["conversation"]["hidden"] is False
    await b.silent(skip=("presence",))  # the peer's list is theirs alone


async def test_read_in_someone_elses_conversation_is_not_found(ws_connect, carol, direct):
    c = await ws_connect(carol)
    await c.send({"type": "read", "conversation": direct, "seq": 1})
    assert (await c.expect("error"))["code"] == "not_found"


@pytest.mark.parametrize("conversation", [None, 5, 1.5, True, [], {}, ["x"]])
async def test_read_of_an_id_that_is_not_a_string_is_invalid(ws_connect, alice, conversation):
    """A malformed frame, not a conversation that is not there (found by tests/security/test_ws_fuzz.py)."""
    a = await ws_connect(alice)
    await a.send({"type": "read", "conversation": conversation, "seq": 1, "ref": "r"})
    error = await a.expect("error")
    assert (error["code"], error["ref"], list(error["fields"])) == ("invalid", "r", ["conversation"])


# ----------------------------------------------------------------- typing


async def test_typing_is_relayed_throttled_and_never_stored(ws_connect, alice, bob, direct, settings):
    a, b = await ws_connect(alice), await ws_connect(bob)
    await a.send({"type": "typing", "conversation": direct})
    assert await b.expect("typing") == {"type": "typing", "conversation": direct, "user": str(alice.uuid)}
    await a.send({"type": "typing", "conversation": direct})
    await b.silent(0.4)
    await a.silent()
    assert await sync_to_async(Message.objects.count)() == 0


async def test_typing_names_the_conversation_by_its_own_id(ws_connect, alice, bob, direct):
    # The server accepts an id in any case; what it relays is the id as it writes it.
    a, b = await ws_connect(alice), await ws_connect(bob)
    await a.send({"type": "typing", "conversation": direct.upper()})
    assert (await b.expect("typing"))["conversation"] == direct


async def test_typing_to_a_stranger_or_across_a_block_is_refused(ws_connect, alice, bob, carol, direct):
    from contacts.models import Block

    c = await ws_connect(carol)
    b = await ws_connect(bob)
    await c.send({"type": "typing", "conversation": direct})
    assert (await c.expect("error"))["code"] == "not_found"
    await sync_to_async(Block.objects.create)(blocker=bob, blocked=alice)
    a = await ws_connect(alice)
    await a.send({"type": "typing", "conversation": direct})
    assert (await a.expect("error"))["code"] == "blocked"
    await b.silent()


# ----------------------------------------------------------------- presence


async def test_presence_follows_sockets(ws_connect, alice, bob, carol):
    a = await ws_connect(alice)
    await a.send({"type": "presence.subscribe", "users": [str(bob.uuid), str(carol.uuid), "junk"]})
    first = await a.expect("presence")
    assert first["user"] == str(bob.uuid) and first["online"] is False
    await a.silent(skip=())  # carol is not a contact: ignored
    b1 = await ws_connect(bob)
    online = await a.expect("presence")
    assert online["user"] == str(bob.uuid) and online["online"] is True
    b2 = await ws_connect(bob)
    await a.silent(skip=())
    await b1.close()
    await a.silent(skip=())
    await b2.close()
    offline = await a.expect("presence")
    assert offline["online"] is False and offline["last_seen"].endswith("Z")


@pytest.mark.parametrize("users", [[5], [None], [["x"]], [{"id": "x"}]])
async def test_presence_ids_that_are_not_strings_are_invalid(ws_connect, alice, bob, users):
    """Ids of users who cannot be followed are ignored; an item that is not even
    a string is a malformed frame (found by tests/security/test_ws_fuzz.py)."""
    a = await ws_connect(alice)
    await a.send({"type": "presence.subscribe", "users": [str(bob.uuid), *users]})
    error = await a.expect("error")
    assert (error["code"], list(error["fields"])) == ("invalid", ["users"])
    await a.silent(skip=())  # and nobody was subscribed


async def test_presence_of_unsubscribed_users_is_not_sent(ws_connect, alice, bob):
    a = await ws_connect(alice)
    await ws_connect(bob)
    await a.silent(skip=())


# ----------------------------------------------------------------- recall


async def test_sender_recalls_within_the_window(ws_connect, message_worker, alice, bob, direct):
    a, b = await ws_connect(alice), await ws_connect(bob)
    message = await send_text(a, direct, "oops")
    await b.expect("message.new")
    await a.send({"type": "message.recall", "message": message["id"]})
    expected = {"type": "message.recalled", "conversation": direct, "message": message["id"], "seq": message["seq"]}
    assert await a.expect("message.recalled") == expected
    assert await b.expect("message.recalled") == expected
    system = (await b.expect("message.new"))["message"]
    assert system["kind"] == "system" and system["seq"] == message["seq"] + 1
    assert system["content"] == {
        "event": "recall",
        "actor": str(alice.uuid),
        "targets": [str(alice.uuid)],
        "changes": {"message": message["id"], "seq": message["seq"]},
    }
    row = await sync_to_async(Message.objects.get)(uuid=message["id"])
    assert row.recalled and row.text is None
    # Offline devices learn it through sync; history shows the placeholder.
    b2 = await ws_connect(bob)
    await b2.send({"type": "sync", "cursors": {direct: 0}})
    placeholder = (await b2.expect("message.new"))["message"]
    assert placeholder["recalled"] is True and placeholder["content"] is None and placeholder["seq"] == message["seq"]
    await a.send({"type": "message.recall", "message": message["id"]})
    assert (await a.expect("error", skip=("presence", "message.new")))["code"] == "conflict"


async def test_recall_rules(ws_connect, alice, bob, direct):
    old = await store_text(sender=alice, conversation_uuid=direct, text="old")
    await sync_to_async(Message.objects.filter(pk=old.pk).update)(created_at=old.created_at - dt.timedelta(minutes=3))
    theirs = await store_text(sender=bob, conversation_uuid=direct, text="bob's")
    a = await ws_connect(alice)
    await a.send({"type": "message.recall", "message": str(old.uuid)})
    assert (await a.expect("error"))["code"] == "forbidden"
    await a.send({"type": "message.recall", "message": str(theirs.uuid)})
    assert (await a.expect("error"))["code"] == "forbidden"
    await a.send({"type": "message.recall", "message": "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"})
    assert (await a.expect("error"))["code"] == "not_found"
    await a.send({"type": "message.recall", "message": 12})
    assert (await a.expect("error"))["code"] == "invalid"
    assert not await sync_to_async(Message.objects.filter(recalled=True).exists)()


async def test_strangers_cannot_recall_or_learn_of_messages(ws_connect, alice, carol, direct):
    message = await sync_to_async(store_text_sync)(sender=alice, conversation_uuid=direct, text="private")
    c = await ws_connect(carol)
    await c.send({"type": "message.recall", "message": str(message.uuid)})
    assert (await c.expect("error"))["code"] == "not_found"


def test_recalling_a_file_message_removes_the_file(alice, bob, direct, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.models import Conversation
    from conversations.store import Incoming, store_messages
    from files import services as file_services
    from files.models import File
    from files.storage import files_storage
    from messaging.actions.recall import do_recall_message

    file = file_services.do_upload_file(owner=alice, upload=SimpleUploadedFile("notes.txt", b"secret notes"))
    assert files_storage().exists(file.storage_key)
    conv = Conversation.objects.get(uuid=direct)
    [stored] = store_messages(
        [
            Incoming(
                conversation_id=conv.pk,
                sender_id=alice.pk,
                kind="file",
                text="see",
                file_id=file.pk,
                client_msg_id=new_id(),
            )
        ]
    )
    do_recall_message(user=alice, message_id=str(stored.message.uuid))
    row = Message.objects.get(pk=stored.message.pk)
    assert row.recalled and row.file_id is None and row.text is None
    assert not File.objects.filter(pk=file.pk).exists()
    assert not files_storage().exists(file.storage_key)


# ----------------------------------------------------------------- drafts


async def test_a_saved_draft_reaches_the_owners_other_sockets_only(ws_connect, api_for, alice, bob, direct):
    from conversations.services import do_save_draft

    a, a2, b = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
    await sync_to_async(do_save_draft)(user=alice, conversation_id=direct, text="see you at 5")
    for ws in (a, a2):
        updated = await ws.expect("conversation.updated")
        assert updated["conversation"]["id"] == direct
        assert updated["conversation"]["draft"]["text"] == "see you at 5"
    await b.silent()
    # The same draft again changes nothing and tells nobody.
    await sync_to_async(do_save_draft)(user=alice, conversation_id=direct, text="see you at 5")
    await a.silent()
