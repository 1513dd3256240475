"""Contract v3 §2–§3 over the WebSocket: replies, mentions and @all,
forwards, and what each leaves in the Message object, unread_mentions,
history and sync."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.serializers import user_to_wire
from messaging.tests.helpers import send_text

pytestmark = pytest.mark.django_db(transaction=True)


def new_id() -> str:
    return str(uuid.uuid4())


async def send(ws, conversation: str, **fields) -> dict:
    """Send a message.send with `fields`; returns the stored Message or the error frame."""
    cmid = new_id()
    frame = {"type": "message.send", "client_msg_id": cmid, "conversation": conversation, **fields}
    if "forward_of" not in fields:
        frame.setdefault("kind", "text")
    await ws.send(frame)
    while True:
        got = await ws.recv(timeout=10)
        if got["type"] == "error" and got.get("ref") == cmid:
            return got
        if got["type"] == "message.ack" and got["client_msg_id"] == cmid and got["status"] == "stored":
            return got["message"]


@sync_to_async
def conversation_of(user, conversation: str) -> dict:
    from conversations.models import Member
    from conversations.wire import conversation_for

    member = Member.objects.get(user=user, conversation__uuid=conversation)
    return conversation_for(user=user, member_id=member.pk)


@sync_to_async
def wire_of(user) -> dict:
    from accounts.models import User

    return user_to_wire(User.objects.select_related("avatar").get(pk=user.pk))


@sync_to_async
def history(user, conversation: str) -> list[dict]:
    from rest_framework.test import APIClient

    from conftest import login_tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(user)['access']}")
    r = client.get(f"/api/v1/conversations/{conversation}/messages")
    assert r.status_code == 200, r.content
    return r.json()["results"]


# --------------------------------------------------------------------------- replies


async def test_a_reply_quotes_the_original_and_keeps_the_quote_after_a_recall(
    ws_connect, message_worker, alice, bob, direct
):
    a, b = await ws_connect(alice), await ws_connect(bob)
    long_text = "原" * 30 + "x" * 90  # 120 code points
    original = await send_text(a, direct, long_text)
    await b.expect("message.new", timeout=10)
    reply = await send(b, direct, content="agreed", reply_to=original["id"])
    assert reply["reply_to"] == {
        "id": original["id"],
        "seq": original["seq"],
        "sender": await wire_of(alice),
        "kind": "text",
        "excerpt": long_text[:100],
        "recalled": False,
    }
    assert reply["mentions"] == [] and reply["mention_all"] is False and reply["forwarded_from"] is None
    assert reply["reactions"] == [] and reply["pinned"] is False and reply["edited_at"] is None
    assert (await a.expect("message.new", timeout=10)) == {"type": "message.new", "message": reply}

    await a.send({"type": "message.recall", "message": original["id"]})
    await a.expect("message.recalled")
    [kept] = [m for m in await history(bob, direct) if m["id"] == reply["id"]]
    assert kept["reply_to"] == {**reply["reply_to"], "excerpt": "", "recalled": True}
    assert kept["content"] == "agreed"


async def test_reply_refusals(ws_connect, message_worker, alice, bob, direct, group):
    a = await ws_connect(alice)
    in_group = await send_text(a, group, "in the group")
    [creation] = [m for m in await history(alice, group) if m["kind"] == "system"]
    mine = await send_text(a, direct, "hi")

    unknown = await send(a, direct, content="x", reply_to=new_id())
    assert unknown["code"] == "not_found"
    elsewhere = await send(a, direct, content="x", reply_to=in_group["id"])
    assert elsewhere["code"] == "invalid" and "reply_to" in elsewhere["fields"]
    system = await send(a, group, content="x", reply_to=creation["id"])
    assert system["code"] == "invalid" and "reply_to" in system["fields"]
    malformed = await send(a, direct, content="x", reply_to="nope")
    assert malformed["code"] == "invalid"
    # A message of a conversation the sender cannot read is not even found.
    carols = await sync_to_async(_other_direct)()
    hidden = await sync_to_async(_store)(carols, "private")
    assert (await send(a, direct, content="x", reply_to=str(hidden.uuid)))["code"] == "not_found"
    # Nothing was stored by the refusals.
    assert [m["id"] for m in await history(alice, direct)] == [mine["id"]]


def _other_direct():
    """A direct conversation of two strangers to alice."""
    from conftest import make_user
    from contacts.models import Contact
    from contacts.services import do_connect

    x, y = make_user("xavier"), make_user("yvonne")
    do_connect(user=x, other=y)
    return Contact.objects.get(owner=x, other=y)


def _store(contact, text):
    from messaging.tests.helpers import store_text_sync

    return store_text_sync(sender=contact.owner, conversation_uuid=str(contact.conversation.uuid), text=text)


async def test_a_quote_from_before_a_member_joined_shows_no_text_to_them(ws_connect, message_worker, alice, bob, group):
    from conftest import make_user

    a, b = await ws_connect(alice), await ws_connect(bob)
    early = await send_text(a, group, "before dave")
    await b.expect("message.new", timeout=10)
    dave = await sync_to_async(make_user)("dave")
    await sync_to_async(_join)(alice, dave, group)
    d = await ws_connect(dave)
    reply = await send(a, group, content="see above", reply_to=early["id"])
    assert reply["reply_to"]["excerpt"] == "before dave"
    assert await new_message(b, reply["id"]) == reply
    seen_by_dave = await new_message(d, reply["id"])
    assert seen_by_dave == {**reply, "reply_to": {**reply["reply_to"], "excerpt": ""}}
    assert (await history(dave, group))[-1]["reply_to"]["excerpt"] == ""
    assert (await history(bob, group))[-1]["reply_to"]["excerpt"] == "before dave"


async def new_message(ws, message_id: str) -> dict:
    """The Message of the `message.new` for `message_id` (other frames passed over)."""
    while True:
        frame = await ws.recv(timeout=10)
        if frame["type"] == "message.new" and frame["message"]["id"] == message_id:
            return frame["message"]


def _join(owner, user, conversation):
    from contacts.services import do_connect
    from groups.models import Group
    from groups.services import do_add_members

    do_connect(user=owner, other=user)
    group = Group.objects.get(conversation__uuid=conversation)
    do_add_members(user=owner, group_id=str(group.uuid), users=[str(user.uuid)])


# --------------------------------------------------------------------------- mentions


async def test_mentions_count_for_the_mentioned_even_when_muted(ws_connect, message_worker, alice, bob, carol, group):
    from conversations.services import do_update_conversation_state

    await sync_to_async(do_update_conversation_state)(user=bob, conversation_id=group, muted=True)
    a = await ws_connect(alice)
    # Repeats count once; the sender's own mention never counts.
    sent = await send(a, group, content="@Bob look", mentions=[str(bob.uuid), str(bob.uuid).upper(), str(alice.uuid)])
    assert sent["mentions"] == [str(bob.uuid), str(alice.uuid)]
    assert sent["mention_all"] is False
    bobs = await conversation_of(bob, group)
    assert (bobs["unread"], bobs["unread_mentions"], bobs["muted"]) == (1, 1, True)
    assert (await conversation_of(carol, group))["unread_mentions"] == 0
    assert (await conversation_of(alice, group))["unread_mentions"] == 0
    await send_text(a, group, "no mention")
    assert (await conversation_of(bob, group))["unread_mentions"] == 1

    b = await ws_connect(bob)
    await b.send({"type": "read", "conversation": group, "seq": sent["seq"]})
    await b.expect("conversation.updated", skip=("presence", "message.new"))
    bobs = await conversation_of(bob, group)
    assert (bobs["unread"], bobs["unread_mentions"]) == (1, 0)


async def test_a_recalled_mention_stops_counting(ws_connect, message_worker, alice, bob, group):
    a = await ws_connect(alice)
    sent = await send(a, group, content="@Bob", mentions=[str(bob.uuid)])
    assert (await conversation_of(bob, group))["unread_mentions"] == 1
    await a.send({"type": "message.recall", "message": sent["id"]})
    await a.expect("message.recalled", skip=("presence", "message.new"))
    assert (await conversation_of(bob, group))["unread_mentions"] == 0
    [recalled] = [m for m in await history(bob, group) if m["id"] == sent["id"]]
    assert recalled["mentions"] == [] and recalled["recalled"] is True


async def test_mentions_from_someone_the_reader_blocks_do_not_count(
    ws_connect, message_worker, alice, bob, carol, group
):
    from contacts.services import do_block, do_unblock

    a = await ws_connect(alice)
    await send(a, group, content="@Bob before", mentions=[str(bob.uuid)])
    await sync_to_async(do_block)(user=bob, target_id=str(alice.uuid))
    # Hidden while the block lasts: the one from before and the new ones.
    assert (await conversation_of(bob, group))["unread_mentions"] == 0
    await send(a, group, content="@Bob during", mentions=[str(bob.uuid)])
    await send(a, group, content="@all during", mention_all=True)
    assert (await conversation_of(bob, group))["unread_mentions"] == 0
    assert (await conversation_of(carol, group))["unread_mentions"] == 1
    # Unblocked: the mention from before counts again; those sent during the
    # block never do (they were not written for him).
    await sync_to_async(do_unblock)(user=bob, target_id=str(alice.uuid))
    assert (await conversation_of(bob, group))["unread_mentions"] == 1
    await send(a, group, content="@Bob after", mentions=[str(bob.uuid)])
    assert (await conversation_of(bob, group))["unread_mentions"] == 2


async def test_mention_refusals(ws_connect, message_worker, alice, bob, carol, direct, group):
    from conftest import make_user

    outsider = await sync_to_async(make_user)("olga")
    a = await ws_connect(alice)
    not_member = await send(a, group, content="x", mentions=[str(outsider.uuid)])
    assert not_member["code"] == "invalid" and "mentions" in not_member["fields"]
    # In a direct conversation only the two of them.
    third = await send(a, direct, content="x", mentions=[str(carol.uuid)])
    assert third["code"] == "invalid"
    ok = await send(a, direct, content="@Bob", mentions=[str(bob.uuid)])
    assert ok["mentions"] == [str(bob.uuid)]
    too_many = await send(a, group, content="x", mentions=[new_id() for _ in range(51)])
    assert too_many["code"] == "invalid"
    assert (await send(a, group, content="x", mentions="bob"))["code"] == "invalid"
    assert (await send(a, group, content="x", mentions=["bob"]))["code"] == "invalid"
    assert (await send(a, group, content="x", mention_all="yes"))["code"] == "invalid"


async def test_mention_all_is_for_owners_and_admins_and_counts_for_every_other_member(
    ws_connect, message_worker, alice, bob, carol, direct, group, settings
):
    settings.LIMIT_MENTION_ALL_PER_HOUR = 2
    a, b = await ws_connect(alice), await ws_connect(bob)
    refused = await send(b, group, content="@all", mention_all=True)
    assert refused["code"] == "forbidden"
    assert (await send(a, direct, content="@all", mention_all=True))["code"] == "invalid"
    sent = await send(a, group, content="@all meeting", mention_all=True)
    assert sent["mention_all"] is True and sent["mentions"] == []
    assert [(await conversation_of(u, group))["unread_mentions"] for u in (alice, bob, carol)] == [0, 1, 1]
    await send(a, group, content="@all again", mention_all=True)
    limited = await send(a, group, content="@all thrice", mention_all=True)
    assert limited["code"] == "rate_limited"
    assert [(await conversation_of(u, group))["unread_mentions"] for u in (alice, bob, carol)] == [0, 2, 2]


# --------------------------------------------------------------------------- forwards


async def test_a_forward_copies_the_original_and_outlives_its_recall(
    ws_connect, message_worker, alice, bob, carol, direct, group
):
    a, b = await ws_connect(alice), await ws_connect(bob)
    original = await send_text(b, direct, "worth sharing")
    copy = await send(a, group, forward_of=original["id"])
    assert copy["kind"] == "text" and copy["content"] == "worth sharing"
    assert copy["sender"]["id"] == str(alice.uuid) and copy["conversation"] == group
    assert copy["forwarded_from"] == {"sender": await wire_of(bob), "created_at": original["created_at"]}
    # Forwarding the copy keeps the first original.
    again = await send(a, direct, forward_of=copy["id"])
    assert again["forwarded_from"] == copy["forwarded_from"]

    await b.send({"type": "message.recall", "message": original["id"]})
    await b.expect("message.recalled", skip=("presence", "message.new", "message.ack"))
    [kept] = [m for m in await history(carol, group) if m["id"] == copy["id"]]
    assert kept["content"] == "worth sharing" and kept["recalled"] is False


async def test_forward_refusals(ws_connect, message_worker, alice, bob, direct, group):
    a = await ws_connect(alice)
    original = await send_text(a, direct, "x")
    for extra in ({"kind": "text"}, {"content": "y"}, {"file": new_id()}):
        refused = await send(a, group, forward_of=original["id"], **extra)
        assert refused["code"] == "invalid", extra
    assert (await send(a, group, forward_of=new_id()))["code"] == "not_found"
    contact = await sync_to_async(_other_direct)()
    hidden = await sync_to_async(_store)(contact, "private")
    assert (await send(a, group, forward_of=str(hidden.uuid)))["code"] == "not_found"
    [creation] = [m for m in await history(alice, group) if m["kind"] == "system"]
    assert (await send(a, direct, forward_of=creation["id"]))["code"] == "invalid"
    await a.send({"type": "message.recall", "message": original["id"]})
    await a.expect("message.recalled", skip=("presence", "message.new"))
    assert (await send(a, group, forward_of=original["id"]))["code"] == "invalid"


async def test_a_blocked_pair_cannot_forward_to_each_other(ws_connect, message_worker, alice, bob, direct, group):
    from contacts.services import do_block

    a = await ws_connect(alice)
    original = await send_text(a, group, "from the group")
    await sync_to_async(do_block)(user=bob, target_id=str(alice.uuid))
    assert (await send(a, direct, forward_of=original["id"]))["code"] == "blocked"


async def test_a_forwarded_file_is_readable_in_the_target_and_kept_until_no_message_uses_it(
    ws_connect, message_worker, alice, bob, carol, direct, group
):
    from conversations.models import Message
    from files.models import File

    file = await sync_to_async(_upload)(bob)
    b, a = await ws_connect(bob), await ws_connect(alice)
    sent = await send(b, direct, kind="file", file=str(file.uuid), content="the plan")
    await a.expect("message.new", timeout=10)
    # carol is not in the direct conversation: she cannot read the file yet.
    assert await sync_to_async(_may_read)(carol, file) is False
    copy = await send(a, group, forward_of=sent["id"])
    assert copy["kind"] == "file" and copy["file"]["id"] == str(file.uuid) and copy["content"] == "the plan"
    assert await sync_to_async(_may_read)(carol, file) is True

    # The original is recalled: the copy still holds the file, which stays.
    await b.send({"type": "message.recall", "message": sent["id"]})
    await b.expect("message.recalled", skip=("presence", "message.new", "message.ack"))
    assert await sync_to_async(File.objects.filter(pk=file.pk).exists)()
    assert await sync_to_async(_may_read)(carol, file) is True
    # The copy is recalled too: nothing uses the file any more; it is deleted.
    await a.send({"type": "message.recall", "message": copy["id"]})
    while (await a.expect("message.recalled", skip=("presence", "message.new", "message.ack")))["message"] != copy[
        "id"
    ]:
        pass
    assert not await sync_to_async(File.objects.filter(pk=file.pk).exists)()
    assert await sync_to_async(Message.objects.filter(uuid=copy["id"], recalled=True).exists)()


async def test_a_member_removed_from_a_group_cannot_get_its_files_back_by_forwarding(
    ws_connect, message_worker, alice, bob, carol, direct, group
):
    """Bob keeps the group's history after Alice removes him, not its files:
    forwarding the file message, or putting it in a merged forward, is
    refused as a file sent directly is, and he still cannot read the file."""
    from groups.models import Group
    from groups.services import do_remove_member

    file = await sync_to_async(_upload)(alice)
    a = await ws_connect(alice)
    shared = await send(a, group, kind="file", file=str(file.uuid), content="the plan")
    words = await send_text(a, group, "and this")
    b = await ws_connect(bob)
    assert await sync_to_async(_may_read)(bob, file) is True
    group_id = await sync_to_async(lambda: str(Group.objects.get(conversation__uuid=group).uuid))()
    await sync_to_async(do_remove_member)(user=alice, group_id=group_id, member_id=str(bob.uuid))
    assert await sync_to_async(_may_read)(bob, file) is False
    assert (await send(b, direct, kind="file", file=str(file.uuid)))["code"] == "not_found"
    assert (await send(b, direct, forward_of=shared["id"]))["code"] == "not_found"
    assert (await send(b, direct, kind="bundle", bundle=[shared["id"], words["id"]]))["code"] == "not_found"
    assert await sync_to_async(_may_read)(bob, file) is False
    # Text from the history is still his to forward.
    assert (await send(b, direct, forward_of=words["id"]))["content"] == "and this"


def _upload(user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files.services import do_upload_file

    return do_upload_file(owner=user, upload=SimpleUploadedFile("plan.txt", b"step one", content_type="text/plain"))


def _may_read(user, file) -> bool:
    from files.access import may_read_file

    file.refresh_from_db()
    return may_read_file(user=user, file=file)


# --------------------------------------------------------------------------- sync


async def test_sync_brings_replies_mentions_and_forwards_as_the_reader_sees_them(
    ws_connect, message_worker, alice, bob, direct, group
):
    a = await ws_connect(alice)
    original = await send_text(a, direct, "first")
    reply = await send(a, direct, content="second", reply_to=original["id"], mentions=[str(bob.uuid)])
    copy = await send(a, direct, forward_of=original["id"])
    b = await ws_connect(bob)
    await b.send({"type": "sync", "cursors": {direct: 0}, "ref": "s"})
    got = []
    while True:
        frame = await b.recv(timeout=10)
        if frame["type"] == "sync.done":
            break
        if frame["type"] == "message.new" and frame["message"]["conversation"] == direct:
            got.append(frame["message"])
    assert [m["id"] for m in got] == [original["id"], reply["id"], copy["id"]]
    assert got[1] == reply and got[2] == copy


# --------------------------------------------------------------------------- bundles (merged forwards)


async def test_a_merged_forward_holds_a_snapshot_and_its_files(
    ws_connect, message_worker, alice, bob, carol, direct, group
):
    from files.models import File

    file = await sync_to_async(_upload)(bob)
    a, b = await ws_connect(alice), await ws_connect(bob)
    first = await send_text(a, direct, "plan A")
    second = await send(b, direct, kind="file", file=str(file.uuid), content="the plan")
    third = await send_text(b, direct, "or plan B")
    bundle = await send(a, group, kind="bundle", bundle=[third["id"], first["id"], second["id"], first["id"]])
    assert bundle["kind"] == "bundle" and bundle["file"] is None
    alice_wire, bob_wire = await wire_of(alice), await wire_of(bob)
    assert bundle["content"] == {
        "title": "Chat history of Alice and Bob",
        "items": [
            {
                "sender": alice_wire,
                "kind": "text",
                "content": "plan A",
                "file": None,
                "created_at": first["created_at"],
            },
            {
                "sender": bob_wire,
                "kind": "file",
                "content": "the plan",
                "file": second["file"],
                "created_at": second["created_at"],
            },
            {
                "sender": bob_wire,
                "kind": "text",
                "content": "or plan B",
                "file": None,
                "created_at": third["created_at"],
            },
        ],
    }
    # carol, in the group, may read the file the bundle carries; it counts as unread for her.
    assert await sync_to_async(_may_read)(carol, file) is True
    carols = await conversation_of(carol, group)
    assert carols["unread"] == 1 and carols["last_message"]["id"] == bundle["id"]
    # A reply quotes its title.
    reply = await send(b, group, content="nice", reply_to=bundle["id"])
    assert reply["reply_to"]["excerpt"] == "Chat history of Alice and Bob" and reply["reply_to"]["kind"] == "bundle"

    # The originals recalled: the bundle keeps its copy and the file stays.
    for message in (second, first):
        owner = b if message is second else a
        await owner.send({"type": "message.recall", "message": message["id"]})
        while (await owner.expect("message.recalled", skip=("presence", "message.new", "message.ack")))[
            "message"
        ] != message["id"]:
            pass
    [kept] = [m for m in await history(carol, group) if m["id"] == bundle["id"]]
    assert kept["content"] == bundle["content"]
    assert await sync_to_async(File.objects.filter(pk=file.pk).exists)()
    # The bundle recalled too: nothing holds the file any more.
    await a.send({"type": "message.recall", "message": bundle["id"]})
    while (await a.expect("message.recalled", skip=("presence", "message.new", "message.ack")))["message"] != bundle[
        "id"
    ]:
        pass
    assert not await sync_to_async(File.objects.filter(pk=file.pk).exists)()


async def test_bundle_refusals(ws_connect, message_worker, alice, bob, direct, group):
    a = await ws_connect(alice)
    one = await send_text(a, direct, "one")
    two = await send_text(a, direct, "two")
    in_group = await send_text(a, group, "three")
    [creation] = [m for m in await history(alice, group) if m["kind"] == "system"]
    cases = [
        ({"bundle": [one["id"]]}, "invalid"),
        ({"bundle": [one["id"], one["id"]]}, "invalid"),
        ({"bundle": "x"}, "invalid"),
        ({"bundle": [one["id"], "nope"]}, "invalid"),
        ({"bundle": [one["id"], in_group["id"]]}, "invalid"),
        ({"bundle": [one["id"], new_id()]}, "not_found"),
        ({"bundle": [creation["id"], in_group["id"]]}, "invalid"),
        ({"bundle": [one["id"], two["id"]], "content": "x"}, "invalid"),
        ({"bundle": [one["id"], two["id"]] * 51}, "invalid"),
    ]
    for fields, code in cases:
        got = await send(a, group, kind="bundle", **fields)
        assert got.get("code") == code, (fields, got)
    # A bundle is not forwarded one by one, nor bundled again.
    bundle = await send(a, group, kind="bundle", bundle=[one["id"], two["id"]])
    assert (await send(a, direct, forward_of=bundle["id"]))["code"] == "invalid"
    again = await send_text(a, group, "four")
    assert (await send(a, direct, kind="bundle", bundle=[bundle["id"], again["id"]]))["code"] == "invalid"
    # Another person's conversation stays out of reach.
    contact = await sync_to_async(_other_direct)()
    hidden = await sync_to_async(_store)(contact, "private")
    hidden2 = await sync_to_async(_store)(contact, "private 2")
    assert (await send(a, group, kind="bundle", bundle=[str(hidden.uuid), str(hidden2.uuid)]))["code"] == "not_found"


async def test_a_bundle_over_256_kib_is_too_large(ws_connect, message_worker, alice, bob, direct, group):
    a = await ws_connect(alice)
    ids = [(await send_text(a, direct, "x" * 5000))["id"] for _ in range(60)]
    got = await send(a, group, kind="bundle", bundle=ids)
    assert got["code"] == "too_large"
