"""Who hears of what, over the WebSocket (docs/protocol/delivery.md "Who
stops receiving, and when"): a blocked person hears nothing more of the
chat (the blocker's reads, recalls and their events); a member who left
moves their own read cursor without the group hearing of it; `sync.done`
names unknown cursors as they were sent; a `read` or `typing` frame whose
conversation is not an id at all is `invalid`, as for message.send."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from messaging.tests.helpers import send_text, store_text_sync
from messaging.tests.test_ws_changes import answer, frame_of

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_blocked_person_hears_nothing_more_of_the_chat(ws_connect, message_worker, alice, bob, direct):
    from contacts.services import do_block

    a, b = await ws_connect(alice), await ws_connect(bob)
    mine = await send_text(a, direct, "from alice")
    await frame_of(b, "message.new", mine["id"])
    theirs = await send_text(b, direct, "from bob")
    await frame_of(a, "message.new", theirs["id"])
    await sync_to_async(do_block)(user=alice, target_id=str(bob.uuid))
    await b.silent(0.5, skip=("presence", "contact.blocked", "contact.removed", "conversation.updated"))
    await a.send({"type": "read", "conversation": direct, "seq": theirs["seq"]})
    await a.send({"type": "message.recall", "message": mine["id"], "ref": "r1"})
    # Alice's own devices hear of both, as ever.
    await frame_of(a, "message.recalled", mine["id"])
    await b.silent(1.0, skip=("presence",))


async def test_a_member_who_left_reads_without_the_group_hearing_of_it(ws_connect, alice, bob, carol, group):
    from groups.models import Group
    from groups.services import do_remove_member

    for i in range(3):
        await sync_to_async(store_text_sync)(sender=bob, conversation_uuid=group, text=f"m{i}")
    g = await sync_to_async(Group.objects.get)(conversation__uuid=group)
    await sync_to_async(do_remove_member)(user=alice, group_id=str(g.uuid), member_id=str(carol.uuid))
    a, c = await ws_connect(alice), await ws_connect(carol)
    await c.send({"type": "read", "conversation": group, "seq": 3})
    assert (await c.expect("conversation.updated"))["conversation"]["read_seq"] == 3
    await a.silent(1.5)


async def test_sync_names_unknown_cursors_as_they_were_sent(ws_connect, alice):
    a = await ws_connect(alice)
    key = str(uuid.uuid4()).upper()
    await a.send({"type": "sync", "cursors": {key: 0, "junk": 1}, "ref": "s1"})
    done = await a.expect("sync.done")
    assert sorted(done["gone"]) == sorted([key, "junk"])


@pytest.mark.parametrize("frame_type", ["read", "typing"])
async def test_a_conversation_that_is_not_an_id_is_invalid(ws_connect, alice, frame_type):
    a = await ws_connect(alice)
    await a.send({"type": frame_type, "conversation": "not-an-id", "seq": 1, "ref": "x1"})
    error = await answer(a, "x1")
    assert (error["type"], error["code"], list(error["fields"])) == ("error", "invalid", ["conversation"])
