"""Contract v3 §4, §8 over the WebSocket: message.edit and message.react,
what members and the caller's sockets get, the events in the log, and the
refusals."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from messaging.tests.helpers import send_text
from messaging.tests.test_ws_compose import conversation_of, history, new_id, send

pytestmark = pytest.mark.django_db(transaction=True)


async def frame_of(ws, frame_type: str, message_id: str) -> dict:
    """The next `frame_type` frame about `message_id` (others passed over)."""
    while True:
        frame = await ws.recv(timeout=10)
        if frame["type"] != frame_type:
            continue
        about = frame["message"]["id"] if isinstance(frame["message"], dict) else frame["message"]
        if about == message_id:
            return frame


async def answer(ws, ref: str) -> dict:
    """The next frame carrying `ref` (the answer to the frame sent with it)."""
    while True:
        frame = await ws.recv(timeout=10)
        if frame.get("ref") == ref:
            return frame


# --------------------------------------------------------------------------- edit


async def test_an_edit_reaches_every_socket_and_leaves_a_silent_event(ws_connect, message_worker, alice, bob, direct):
    from conversations.models import MessageVersion

    a1, a2, b = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
    assert a1.hello["limits"]["edit_window_s"] == 900
    original = await send_text(a1, direct, "helo")
    await b.expect("message.new", timeout=10)
    await a1.send({"type": "message.edit", "message": original["id"], "content": "hello", "ref": "e1"})
    own = await frame_of(a1, "message.edited", original["id"])
    assert own["ref"] == "e1" and own["conversation"] == direct
    edited = own["message"]
    assert edited["content"] == "hello" and edited["edited_at"] is not None
    assert {k: v for k, v in edited.items() if k not in ("content", "edited_at")} == {
        k: v for k, v in original.items() if k not in ("content", "edited_at")
    }
    for ws in (a2, b):
        other = await frame_of(ws, "message.edited", original["id"])
        assert other == {"type": "message.edited", "conversation": direct, "message": edited, "seq": own["seq"]}

    # The log: an `edit` event with its own seq, silent, no text in it.
    events = [m for m in await history(bob, direct) if m["kind"] == "system"]
    assert [e["seq"] for e in events] == [own["seq"]] == [original["seq"] + 1]
    assert events[0]["content"] == {
        "event": "edit",
        "actor": str(alice.uuid),
        "targets": [str(alice.uuid)],
        "changes": {"message": original["id"], "seq": original["seq"]},
    }
    bobs = await conversation_of(bob, direct)
    assert bobs["unread"] == 1 and bobs["last_message"]["id"] == original["id"]
    assert bobs["last_message"]["content"] == "hello"
    # Members see only the current text; the earlier one is kept for administrators.
    assert [m["content"] for m in await history(bob, direct) if m["kind"] == "text"] == ["hello"]
    assert await sync_to_async(list)(MessageVersion.objects.values_list("text", flat=True)) == ["helo"]

    # The same text again: no event; only the asking socket is answered, with the last edit's seq.
    await a1.send({"type": "message.edit", "message": original["id"], "content": "hello", "ref": "e2"})
    again = await answer(a1, "e2")
    assert again == {**own, "ref": "e2"}
    await b.silent()
    assert len([m for m in await history(bob, direct) if m["kind"] == "system"]) == 1


async def test_edit_refusals(ws_connect, message_worker, alice, bob, direct, group, settings):
    a, b = await ws_connect(alice), await ws_connect(bob)
    mine = await send_text(a, direct, "mine")
    theirs = await send_text(b, direct, "theirs")

    async def refused(ws, message_id, content="new", ref=None) -> str:
        ref = ref or new_id()
        await ws.send({"type": "message.edit", "message": message_id, "content": content, "ref": ref})
        frame = await answer(ws, ref)
        assert frame["type"] == "error", frame
        return frame["code"]

    assert await refused(a, theirs["id"]) == "forbidden"
    assert await refused(a, new_id()) == "not_found"
    assert await refused(a, mine["id"], content="   ") == "invalid"
    assert await refused(a, mine["id"], content="x" * 5001) == "too_large"
    copy = await send(a, direct, forward_of=theirs["id"])
    assert await refused(a, copy["id"]) == "forbidden"
    settings.EDIT_WINDOW_S = 0
    assert await refused(a, mine["id"]) == "forbidden"
    settings.EDIT_WINDOW_S = 900
    await a.send({"type": "message.recall", "message": mine["id"]})
    await frame_of(a, "message.recalled", mine["id"])
    assert await refused(a, mine["id"]) == "forbidden"
    # A blocked pair cannot edit in their conversation either.
    other = await send_text(a, direct, "before the block")
    from contacts.services import do_block

    await sync_to_async(do_block)(user=bob, target_id=str(alice.uuid))
    assert await refused(a, other["id"]) == "blocked"


# --------------------------------------------------------------------------- reactions


async def test_reactions_reach_everyone_with_their_own_me(ws_connect, message_worker, alice, bob, carol, group):
    a, b, c = await ws_connect(alice), await ws_connect(bob), await ws_connect(carol)
    message = await send_text(a, group, "lunch?")
    await b.send({"type": "message.react", "message": message["id"], "emoji": "👍", "op": "add", "ref": "r1"})
    own = await frame_of(b, "message.reactions", message["id"])
    assert own["ref"] == "r1"
    expected = [{"emoji": "👍", "count": 1, "users": [str(bob.uuid)], "me": True}]
    assert own["reactions"] == expected
    for ws in (a, c):
        frame = await frame_of(ws, "message.reactions", message["id"])
        assert frame == {
            "type": "message.reactions",
            "conversation": group,
            "message": message["id"],
            "reactions": [{**expected[0], "me": False}],
            "seq": own["seq"],
            "seqs": [own["seq"]],
        }
    # ❤ (unqualified) and ❤️ are one reaction, stored fully-qualified.
    await c.send({"type": "message.react", "message": message["id"], "emoji": "❤", "op": "add"})
    await frame_of(c, "message.reactions", message["id"])
    await a.send({"type": "message.react", "message": message["id"], "emoji": "❤️", "op": "add"})
    await a.send({"type": "message.react", "message": message["id"], "emoji": "👍🏽", "op": "add"})
    await a.send({"type": "message.react", "message": message["id"], "emoji": "👨‍👩‍👧", "op": "add", "ref": "last"})
    final = await answer(a, "last")
    assert [(r["emoji"], r["count"], r["me"]) for r in final["reactions"]] == [
        ("👍", 1, False),
        ("❤️", 2, True),
        ("👍🏽", 1, True),
        ("👨‍👩‍👧", 1, True),
    ]
    # History renders them for each reader, in order of first use.
    bobs = [m for m in await history(bob, group) if m["id"] == message["id"]][0]["reactions"]
    assert [(r["emoji"], r["users"], r["me"]) for r in bobs] == [
        ("👍", [str(bob.uuid)], True),
        ("❤️", [str(carol.uuid), str(alice.uuid)], False),
        ("👍🏽", [str(alice.uuid)], False),
        ("👨‍👩‍👧", [str(alice.uuid)], False),
    ]
    # Reactions are silent: nothing unread, the chat keeps its last message.
    carols = await conversation_of(carol, group)
    assert carols["last_message"]["id"] == message["id"]
    assert carols["unread"] == 1  # only "lunch?" itself

    # Removing: the list without it; removing again changes nothing and tells no one else.
    await b.send({"type": "message.react", "message": message["id"], "emoji": "👍", "op": "remove", "ref": "x"})
    removed = await answer(b, "x")
    assert [r["emoji"] for r in removed["reactions"]] == ["❤️", "👍🏽", "👨‍👩‍👧"]
    while (await frame_of(c, "message.reactions", message["id"]))["seq"] != removed["seq"]:
        pass
    await b.send({"type": "message.react", "message": message["id"], "emoji": "👍", "op": "remove", "ref": "y"})
    noop = await answer(b, "y")
    assert noop == {**removed, "ref": "y"}
    await c.silent(skip=("presence", "message.new"))


async def test_reaction_refusals_and_limits(ws_connect, message_worker, alice, bob, direct, group):
    a = await ws_connect(alice)
    message = await send_text(a, direct, "react to me")
    [creation] = [m for m in await history(alice, group) if m["kind"] == "system"]

    async def code(body) -> str:
        ref = new_id()
        await a.send({"type": "message.react", "op": "add", "ref": ref, **body})
        frame = await answer(a, ref)
        return frame["code"] if frame["type"] == "error" else frame["type"]

    for bad in ("a", "👍👍", "🏽", " 👍", "", ":thumbsup:"):
        assert await code({"message": message["id"], "emoji": bad}) == "invalid", bad
    assert await code({"message": message["id"], "emoji": "👍", "op": "toggle"}) == "invalid"
    assert await code({"message": creation["id"], "emoji": "👍"}) == "invalid"
    assert await code({"message": new_id(), "emoji": "👍"}) == "not_found"
    # At most 5 changes per user and message in 10 s.
    for emoji in "😀😁😂🤣😃":
        assert await code({"message": message["id"], "emoji": emoji}) == "message.reactions"
    assert await code({"message": message["id"], "emoji": "😄"}) == "rate_limited"


async def test_at_most_twenty_different_emoji(ws_connect, message_worker, alice, bob, direct):
    from conversations.models import Message, Reaction

    a = await ws_connect(alice)
    message = await send_text(a, direct, "popular")

    @sync_to_async
    def fill():
        row = Message.objects.get(uuid=message["id"])
        for emoji in "😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂":
            Reaction.objects.create(message=row, user=bob, emoji=emoji)

    await fill()
    await a.send({"type": "message.react", "message": message["id"], "emoji": "🤗", "op": "add", "ref": "full"})
    assert (await answer(a, "full"))["code"] == "conflict"
    # One already there can still be added by another person.
    await a.send({"type": "message.react", "message": message["id"], "emoji": "😀", "op": "add", "ref": "ok"})
    ok = await answer(a, "ok")
    assert ok["type"] == "message.reactions" and ok["reactions"][0] == {
        "emoji": "😀",
        "count": 2,
        "users": [str(bob.uuid), str(alice.uuid)],
        "me": True,
    }


async def test_a_recall_takes_reactions_away_and_refuses_new_ones(ws_connect, message_worker, alice, bob, direct):
    a = await ws_connect(alice)
    message = await send_text(a, direct, "oops")
    await a.send({"type": "message.react", "message": message["id"], "emoji": "👍", "op": "add"})
    await frame_of(a, "message.reactions", message["id"])
    await a.send({"type": "message.recall", "message": message["id"]})
    await frame_of(a, "message.recalled", message["id"])
    [row] = [m for m in await history(bob, direct) if m["id"] == message["id"]]
    assert row["reactions"] == [] and row["recalled"] is True
    await a.send({"type": "message.react", "message": message["id"], "emoji": "👍", "op": "add", "ref": "late"})
    assert (await answer(a, "late"))["code"] == "invalid"


async def test_members_who_joined_later_hear_nothing_about_older_messages(
    ws_connect, message_worker, alice, bob, group
):
    from conftest import make_user
    from messaging.tests.test_ws_compose import _join

    a = await ws_connect(alice)
    old = await send_text(a, group, "before dave")
    dave = await sync_to_async(make_user)("dave")
    await sync_to_async(_join)(alice, dave, group)
    d = await ws_connect(dave)
    await a.send({"type": "message.react", "message": old["id"], "emoji": "👍", "op": "add"})
    await a.send({"type": "message.edit", "message": old["id"], "content": "before Dave"})
    await frame_of(a, "message.edited", old["id"])
    from messaging.actions.pins import do_pin_message

    await sync_to_async(do_pin_message)(user=alice, conversation_id=group, message_id=old["id"])
    await a.send({"type": "message.recall", "message": old["id"]})
    await frame_of(a, "message.recalled", old["id"])
    # Dave hears of none of it: not the frames, not the events about a message he cannot read.
    await d.silent(timeout=0.8)
    daves = await history(dave, group)
    assert [m["content"]["event"] for m in daves if m["kind"] == "system"] == ["member_added"]
    assert (await conversation_of(dave, group))["last_message"]["content"]["event"] == "member_added"
    await d.send({"type": "sync", "cursors": {group: 0}, "ref": "s"})
    synced = []
    while (frame := await d.recv())["type"] != "sync.done":
        synced.append(frame["message"]["content"]["event"])
    assert synced == ["member_added"]
    # Bob, who was there, gets all four events.
    bobs = [m["content"]["event"] for m in await history(bob, group) if m["kind"] == "system"]
    assert bobs[-4:] == ["reaction", "edit", "pin", "recall"]


async def test_sync_after_a_reconnect_brings_edits_and_reactions_in_seq_order(
    ws_connect, message_worker, alice, bob, direct
):
    a = await ws_connect(alice)
    message = await send_text(a, direct, "v1")
    b = await ws_connect(bob)
    await b.send({"type": "read", "conversation": direct, "seq": message["seq"]})
    await b.close()
    await a.send({"type": "message.edit", "message": message["id"], "content": "v2"})
    await frame_of(a, "message.edited", message["id"])
    await a.send({"type": "message.react", "message": message["id"], "emoji": "🎉", "op": "add"})
    await frame_of(a, "message.reactions", message["id"])
    b = await ws_connect(bob)
    await b.send({"type": "sync", "cursors": {direct: message["seq"]}, "ref": "s"})
    got = []
    while True:
        frame = await b.recv(timeout=10)
        if frame["type"] == "sync.done":
            break
        if frame["type"] == "message.new":
            got.append(frame["message"])
    assert [m["seq"] for m in got] == [message["seq"] + 1, message["seq"] + 2]
    assert [m["content"]["event"] for m in got] == ["edit", "reaction"]
    assert got[1]["content"]["changes"] == {
        "message": message["id"],
        "seq": message["seq"],
        "reactions": [{"emoji": "🎉", "count": 1, "users": [str(alice.uuid)]}],
    }
    bobs = await conversation_of(bob, direct)
    assert bobs["unread"] == 0 and bobs["last_message"]["content"] == "v2"
    assert bobs["last_message"]["reactions"] == [{"emoji": "🎉", "count": 1, "users": [str(alice.uuid)], "me": False}]


async def test_a_removed_member_hears_of_no_change_after_the_removal(ws_connect, message_worker, alice, bob, group):
    from groups.models import Group
    from groups.services import do_remove_member
    from messaging.actions.pins import do_pin_message

    a, b = await ws_connect(alice), await ws_connect(bob)
    message = await send_text(a, group, "before")
    await frame_of(b, "message.new", message["id"])
    gid = await sync_to_async(lambda: str(Group.objects.get(conversation__uuid=group).uuid))()
    await sync_to_async(do_remove_member)(user=alice, group_id=gid, member_id=str(bob.uuid))
    await b.expect("group.member_removed", skip=("presence", "message.new", "group.updated", "conversation.updated"))
    await a.send({"type": "message.edit", "message": message["id"], "content": "after"})
    await a.send({"type": "message.react", "message": message["id"], "emoji": "👍", "op": "add"})
    await sync_to_async(do_pin_message)(user=alice, conversation_id=group, message_id=message["id"])
    await frame_of(a, "message.reactions", message["id"])
    await b.silent(timeout=0.8, skip=("presence",))
    # Bob keeps the history up to his removal, as it was then.
    kept = [m for m in await history(bob, group) if m["id"] == message["id"]][0]
    assert kept["content"] == "after"  # the message itself is read as it is now
    assert [m["content"]["event"] for m in await history(bob, group) if m["kind"] == "system"][-1] == "member_removed"


async def test_a_burst_of_reactions_reaches_members_in_a_few_frames_with_every_seq(
    ws_connect, message_worker, alice, bob, carol, group, settings
):
    settings.REACTIONS_COALESCE_MS = 400
    a, b, c = await ws_connect(alice), await ws_connect(bob), await ws_connect(carol)
    message = await send_text(a, group, "hot")
    answers = []
    for n, emoji in enumerate("😀😁😂🤣😃"):
        who = (b, c)[n % 2]
        await who.send({"type": "message.react", "message": message["id"], "emoji": emoji, "op": "add", "ref": f"x{n}"})
        answers.append(await answer(who, f"x{n}"))
    # Every asker was answered at once, with its own change's seq.
    seqs = [frame["seq"] for frame in answers]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5
    # The members (alice) got the first change at once and the rest together.
    told = []
    while not told or told[-1]["seq"] != seqs[-1]:
        told.append(await frame_of(a, "message.reactions", message["id"]))
    assert 2 <= len(told) <= 3, told
    assert told[0]["seqs"] == [seqs[0]]
    assert sorted(s for frame in told for s in frame["seqs"]) == seqs
    assert [r["emoji"] for r in told[-1]["reactions"]] == list("😀😁😂🤣😃")
    await a.silent(timeout=0.6)


async def test_a_recall_inside_the_window_still_tells_the_members_every_reaction_seq(
    ws_connect, message_worker, alice, bob, direct, settings
):
    # A window long enough that the recall surely lands inside it.
    settings.REACTIONS_COALESCE_MS = 1500
    a, b = await ws_connect(alice), await ws_connect(bob)
    message = await send_text(a, direct, "oops")
    seqs = []
    for n, emoji in enumerate("😀😁"):
        await b.send({"type": "message.react", "message": message["id"], "emoji": emoji, "op": "add", "ref": f"x{n}"})
        seqs.append((await answer(b, f"x{n}"))["seq"])
    assert (await frame_of(a, "message.reactions", message["id"]))["seqs"] == seqs[:1]
    # The second change waits for the window's end; the message is recalled before it.
    await a.send({"type": "message.recall", "message": message["id"]})
    await frame_of(a, "message.recalled", message["id"])
    # Its seq is still told (a client counts it held, else it sees a gap), with the list as it is then.
    told = await frame_of(a, "message.reactions", message["id"])
    assert told["seqs"] == seqs[1:] and told["seq"] == seqs[1] and told["reactions"] == []
    await a.silent(timeout=0.3)
