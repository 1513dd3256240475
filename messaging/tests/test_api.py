"""Conversations and messages over REST (docs/protocol/rest.md "Conversations and messages")."""

from __future__ import annotations

import uuid

import pytest

from chatsite.drf import encode_cursor
from chatsite.testing import assert_error
from conversations.models import Member, Message
from messaging.tests.helpers import new_id, store_text_sync

pytestmark = pytest.mark.django_db(transaction=True)


def seed(sender, conversation, n, prefix="m"):
    return [store_text_sync(sender=sender, conversation_uuid=conversation, text=f"{prefix}{i}") for i in range(n)]


# ----------------------------------------------------------------- history


def test_history_pages_by_seq(api, alice, bob, direct):
    seed(bob, direct, 120)
    r = api.get(f"/api/v1/conversations/{direct}/messages")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"results", "has_more"}
    assert [m["seq"] for m in body["results"]] == list(range(71, 121))
    assert body["has_more"] is True
    first = body["results"][0]
    assert set(first) == {
        "id",
        "conversation",
        "seq",
        "sender",
        "kind",
        "content",
        "file",
        "client_msg_id",
        "created_at",
        "recalled",
        "reply_to",
        "forwarded_from",
        "mentions",
        "mention_all",
        "edited_at",
        "reactions",
        "pinned",
    }
    assert first["sender"]["id"] == str(bob.uuid) and first["content"] == "m70"
    older = api.get(f"/api/v1/conversations/{direct}/messages", {"before": 71, "limit": 100}).json()
    assert [m["seq"] for m in older["results"]] == list(range(1, 71)) and older["has_more"] is False
    edge = api.get(f"/api/v1/conversations/{direct}/messages", {"before": 2, "limit": 1}).json()
    assert [m["seq"] for m in edge["results"]] == [1] and edge["has_more"] is False
    newer = api.get(f"/api/v1/conversations/{direct}/messages", {"after": 100, "limit": 10}).json()
    assert [m["seq"] for m in newer["results"]] == list(range(101, 111)) and newer["has_more"] is True
    tail = api.get(f"/api/v1/conversations/{direct}/messages", {"after": 115}).json()
    assert [m["seq"] for m in tail["results"]] == list(range(116, 121)) and tail["has_more"] is False
    none = api.get(f"/api/v1/conversations/{direct}/messages", {"after": 120}).json()
    assert none == {"results": [], "has_more": False}


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"before": -1},
        {"before": 1, "after": 2},
        {"after": "1e3"},
        # Digits that are not ASCII: "²".isdigit() is true and int("²") raised (a 500).
        {"limit": "\u00b2"},
        {"after": "\u00b2"},
        {"before": "\u0663"},
        {"after": "1" * 19},
    ],
)
def test_history_rejects_bad_parameters(api, direct, params):
    assert_error(api.get(f"/api/v1/conversations/{direct}/messages", params), 400, "invalid")


def test_history_is_for_members_only(api_for, carol, direct):
    assert_error(api_for(carol).get(f"/api/v1/conversations/{direct}/messages"), 404, "not_found")
    assert_error(api_for(carol).get("/api/v1/conversations/not-a-uuid/messages"), 404, "not_found")


def test_history_keyset_query_count(api, bob, direct, django_assert_max_num_queries):
    seed(bob, direct, 60)
    with django_assert_max_num_queries(4):
        api.get(f"/api/v1/conversations/{direct}/messages", {"before": 50})


def test_a_page_reads_senders_once_and_reactions_only_when_a_message_has_some(
    api, alice, bob, carol, group, django_assert_num_queries
):
    """A group page from three senders: the session, the membership, the page,
    its senders; a fifth query only once a message on it has a reaction."""
    from messaging.actions.react import do_react

    messages = []
    for n in range(9):
        sender = (alice, bob, carol)[n % 3]
        messages.extend(seed(sender, group, 1, prefix=f"{sender.username}-"))
    with django_assert_num_queries(4):
        r = api.get(f"/api/v1/conversations/{group}/messages")
    page = r.json()["results"]
    assert [(m["sender"]["username"], m["content"]) for m in page[-3:]] == [
        ("alice", "alice-0"),
        ("bob", "bob-0"),
        ("carol", "carol-0"),
    ]
    assert all(m["reactions"] == [] for m in page)
    do_react(user=bob, message_id=str(messages[4].uuid), emoji="👍", op="add")
    with django_assert_num_queries(5):
        r = api.get(f"/api/v1/conversations/{group}/messages")
    reacted = {m["id"]: m["reactions"] for m in r.json()["results"] if m["reactions"]}
    assert reacted == {str(messages[4].uuid): [{"emoji": "👍", "count": 1, "users": [str(bob.uuid)], "me": False}]}


def test_history_by_client_msg_id(api, alice, direct):
    cmid = new_id()
    store_text_sync(sender=alice, conversation_uuid=direct, text="mine", cmid=cmid)
    body = api.get(f"/api/v1/conversations/{direct}/messages", {"client_msg_id": cmid}).json()
    assert [m["client_msg_id"] for m in body["results"]] == [cmid]
    assert api.get(f"/api/v1/conversations/{direct}/messages", {"client_msg_id": new_id()}).json()["results"] == []


# ----------------------------------------------------------------- send over REST


def test_a_rest_retry_of_a_stored_message_costs_no_budget(api, message_worker, alice, bob, direct, settings):
    """A client that sends again what was stored (its answer was lost) is
    answered as the first time, even with its message budget spent."""
    import time

    # One message back in the budget every 100 s: a slow machine cannot
    # refill what the test spends before the fresh send below (at 10/s it did).
    settings.LIMIT_MESSAGES_PER_S = 0.01

    cmid = new_id()
    body = {"kind": "text", "content": "via REST", "client_msg_id": cmid}
    assert api.post(f"/api/v1/conversations/{direct}/messages", body, format="json").status_code == 202
    deadline = time.monotonic() + 10
    while not Message.objects.filter(client_msg_id=cmid).exists():
        assert time.monotonic() < deadline, "never stored"
        time.sleep(0.05)
    # Retries of a stored message cost no budget: with it spent, they are still answered.
    from chatsite.errors import RateLimited
    from messaging.actions.send import check_send_rate

    with pytest.raises(RateLimited):
        for _ in range(1000):
            check_send_rate(user=alice)
    fresh = {"kind": "text", "content": "new", "client_msg_id": new_id()}
    assert_error(api.post(f"/api/v1/conversations/{direct}/messages", fresh, format="json"), 429, "rate_limited")
    for _ in range(3):
        retry = api.post(
            f"/api/v1/conversations/{direct}/messages",
            body,
            format="json",
        )
        assert retry.status_code == 202, retry.content
    assert Message.objects.filter(client_msg_id=cmid).count() == 1


def test_rest_send_goes_the_same_path(api, message_worker, alice, bob, direct):
    cmid = new_id()
    r = api.post(
        f"/api/v1/conversations/{direct}/messages",
        {"kind": "text", "content": "via REST", "client_msg_id": cmid},
        format="json",
    )
    assert r.status_code == 202, r.content
    assert r.json() == {"client_msg_id": cmid, "status": "accepted"}
    import time

    deadline = time.monotonic() + 10
    while not Message.objects.filter(client_msg_id=cmid).exists():
        assert time.monotonic() < deadline, "never stored"
        time.sleep(0.05)
    again = api.post(
        f"/api/v1/conversations/{direct}/messages",
        {"kind": "text", "content": "other", "client_msg_id": cmid},
        format="json",
    )
    assert again.status_code == 202
    assert Message.objects.filter(client_msg_id=cmid).count() == 1
    # A used client_msg_id does not excuse a malformed conversation id.
    assert_error(
        api.post(
            "/api/v1/conversations/0/messages", {"kind": "text", "content": "x", "client_msg_id": cmid}, format="json"
        ),
        400,
        "invalid",
    )
    # Replies, mentions and forwards take the same path.
    original = Message.objects.get(client_msg_id=cmid)
    reply_id, forward_id = new_id(), new_id()
    for body in (
        {
            "kind": "text",
            "content": "re",
            "client_msg_id": reply_id,
            "reply_to": str(original.uuid),
            "mentions": [str(bob.uuid)],
        },
        {"forward_of": str(original.uuid), "client_msg_id": forward_id},
    ):
        r = api.post(f"/api/v1/conversations/{direct}/messages", body, format="json")
        assert r.status_code == 202, r.content
    deadline = time.monotonic() + 10
    while Message.objects.filter(client_msg_id__in=[reply_id, forward_id]).count() < 2:
        assert time.monotonic() < deadline, "never stored"
        time.sleep(0.05)
    reply = Message.objects.get(client_msg_id=reply_id)
    assert reply.reply_to_id == original.pk and reply.mentions == [str(bob.uuid)]
    copy = Message.objects.get(client_msg_id=forward_id)
    assert copy.text == "via REST" and copy.forwarded_from["sender"] == alice.pk
    assert_error(
        api.post(
            f"/api/v1/conversations/{direct}/messages",
            {"forward_of": str(original.uuid), "kind": "text", "client_msg_id": new_id()},
            format="json",
        ),
        400,
        "invalid",
    )


def test_rest_send_refusals(api, api_for, alice, bob, carol, direct):
    assert_error(
        api.post(
            f"/api/v1/conversations/{direct}/messages",
            {"kind": "text", "content": "", "client_msg_id": new_id()},
            format="json",
        ),
        400,
        "invalid",
    )
    assert_error(
        api.post(
            f"/api/v1/conversations/{direct}/messages",
            {"kind": "text", "content": "x" * 5001, "client_msg_id": new_id()},
            format="json",
        ),
        413,
        "too_large",
    )
    assert_error(
        api_for(carol).post(
            f"/api/v1/conversations/{direct}/messages",
            {"kind": "text", "content": "x", "client_msg_id": new_id()},
            format="json",
        ),
        404,
        "not_found",
    )
    from contacts.models import Contact

    Contact.objects.filter(owner__in=[alice, bob]).delete()
    assert_error(
        api.post(
            f"/api/v1/conversations/{direct}/messages",
            {"kind": "text", "content": "x", "client_msg_id": new_id()},
            format="json",
        ),
        403,
        "not_contact",
    )
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "cmid",
    [
        "x" * 10_000,
        " " * 5_000 + "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00" + " " * 5_000,
        "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00\n",
        "5b0f1ad40c4e4a579d2a0d6f0d7c1f00",
        "{5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00}",
        "urn:uuid:5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00",
        "",
        12345,
    ],
)
def test_client_msg_id_must_be_a_uuid(api, direct, cmid):
    """The contract's client-made UUID in its canonical form, and nothing
    else (a UUID padded with 10,000 spaces was once accepted), over REST for
    a send and for the history lookup alike (the WebSocket: test_ws_send)."""
    r = api.post(
        f"/api/v1/conversations/{direct}/messages",
        {"kind": "text", "content": "x", "client_msg_id": cmid},
        format="json",
    )
    assert set(assert_error(r, 400, "invalid")["fields"]) == {"client_msg_id"}
    if cmid != "":  # an empty lookup is no lookup: the newest page
        r = api.get(f"/api/v1/conversations/{direct}/messages", {"client_msg_id": cmid})
        assert set(assert_error(r, 400, "invalid")["fields"]) == {"client_msg_id"}
    assert Message.objects.count() == 0


# ----------------------------------------------------------------- read


def test_read_cursor_and_unread(api, api_for, alice, bob, direct):
    seed(bob, direct, 5)
    conv = api.get("/api/v1/conversations").json()["results"][0]
    assert conv["unread"] == 5 and conv["read_seq"] == 0 and conv["last_seq"] == 5
    assert api.post(f"/api/v1/conversations/{direct}/read", {"seq": 3}, format="json").status_code == 204
    assert api.post(f"/api/v1/conversations/{direct}/read", {"seq": 1}, format="json").status_code == 204
    conv = api.get("/api/v1/conversations").json()["results"][0]
    assert conv["unread"] == 2 and conv["read_seq"] == 3
    assert_error(api.post(f"/api/v1/conversations/{direct}/read", {"seq": -1}, format="json"), 400, "invalid")
    assert_error(api.post(f"/api/v1/conversations/{direct}/read", {"seq": 2**63}, format="json"), 400, "invalid")
    reads = api.get(f"/api/v1/conversations/{direct}/reads").json()
    assert sorted((r["user"], r["read_seq"]) for r in reads["results"]) == sorted(
        [(str(alice.uuid), 3), (str(bob.uuid), 5)]
    )
    bob_view = api_for(bob).get("/api/v1/conversations").json()["results"][0]
    assert bob_view["peer_read_seq"] == 3 and bob_view["unread"] == 0


def test_reads_are_for_current_members_only(api, api_for, alice, bob):
    """A member who left keeps the history up to then, not the others' read cursors since."""
    from groups.services import do_create_group, do_leave_group

    group = do_create_group(owner=alice, name="team", members=[str(bob.uuid)])
    conversation = str(group.conversation.uuid)
    assert api_for(bob).get(f"/api/v1/conversations/{conversation}/reads").status_code == 200
    do_leave_group(user=bob, group_id=str(group.uuid))
    assert api_for(bob).get(f"/api/v1/conversations/{conversation}/messages").status_code == 200
    assert_error(api_for(bob).get(f"/api/v1/conversations/{conversation}/reads"), 403, "not_member")
    reads = api.get(f"/api/v1/conversations/{conversation}/reads").json()["results"]
    assert [r["user"] for r in reads] == [str(alice.uuid)]


# ----------------------------------------------------------------- the list


def test_conversation_list_shape_and_order(api, api_for, alice, bob, user_factory, direct):
    from contacts.services import do_connect

    dave = user_factory("dave")
    do_connect(user=alice, other=dave)
    body = api.get("/api/v1/conversations").json()
    assert body["next"] is None and len(body["results"]) == 2
    seed(
        dave,
        body["results"][0]["id"] if body["results"][0]["peer"]["id"] == str(dave.uuid) else body["results"][1]["id"],
        1,
    )
    seed(bob, direct, 2)
    results = api.get("/api/v1/conversations").json()["results"]
    assert [c["peer"]["username"] for c in results] == ["bob", "dave"]
    first = results[0]
    assert set(first) == {
        "id",
        "kind",
        "peer",
        "group",
        "last_seq",
        "read_seq",
        "peer_read_seq",
        "unread",
        "unread_mentions",
        "last_message",
        "updated_at",
        "pinned",
        "muted",
        "hidden",
        "draft",
    }
    assert first["kind"] == "direct" and first["group"] is None and first["last_message"]["content"] == "m1"
    dave_conv = results[1]["id"]
    r = api.patch(f"/api/v1/conversations/{dave_conv}", {"pinned": True, "muted": True}, format="json")
    assert r.status_code == 200 and r.json()["pinned"] is True and r.json()["muted"] is True
    assert [c["peer"]["username"] for c in api.get("/api/v1/conversations").json()["results"]] == ["dave", "bob"]
    assert_error(api.patch(f"/api/v1/conversations/{dave_conv}", {"pinned": "yes"}, format="json"), 400, "invalid")


def test_hide_until_a_new_message(api, alice, bob, direct):
    assert api.delete(f"/api/v1/conversations/{direct}").status_code == 204
    assert api.get("/api/v1/conversations").json()["results"] == []
    assert Message.objects.count() == 0
    seed(bob, direct, 1)
    assert [c["id"] for c in api.get("/api/v1/conversations").json()["results"]] == [direct]
    api.delete(f"/api/v1/conversations/{direct}")
    r = api.post("/api/v1/conversations", {"peer": str(bob.uuid)}, format="json")
    assert r.status_code == 200 and r.json()["id"] == direct
    assert not Member.objects.get(conversation__uuid=direct, user=alice).hidden


def test_open_never_creates_with_a_stranger(api, carol):
    assert_error(api.post("/api/v1/conversations", {"peer": str(carol.uuid)}, format="json"), 403, "not_contact")
    assert_error(api.post("/api/v1/conversations", {}, format="json"), 400, "invalid")


def test_conversation_list_is_paged_with_bounded_queries(api, alice, user_factory, django_assert_max_num_queries):
    from contacts.services import do_connect

    for n in range(12):
        friend = user_factory(f"friend{n}")
        conv = do_connect(user=alice, other=friend).conversation
        seed(friend, str(conv.uuid), 1)
    with django_assert_max_num_queries(8):
        first = api.get("/api/v1/conversations", {"limit": 5}).json()
    assert len(first["results"]) == 5 and first["next"]
    seen = [c["id"] for c in first["results"]]
    cursor = first["next"]
    while cursor:
        page = api.get("/api/v1/conversations", {"limit": 5, "cursor": cursor}).json()
        seen += [c["id"] for c in page["results"]]
        cursor = page["next"]
    assert len(seen) == len(set(seen)) == 12
    assert_error(api.get("/api/v1/conversations", {"cursor": "garbage"}), 400, "invalid")
    # The right shape, an impossible moment (a cursor tampered with): not a 500.
    for moment in ("2026-02-30T00:00:00", "2026-06-01T25:00:00Z", "0001-01-01T00:00:00+01:00"):
        tampered = encode_cursor([True, moment, str(uuid.uuid4())])
        assert_error(api.get("/api/v1/conversations", {"cursor": tampered}), 400, "invalid")


def test_group_conversations_in_the_list(api, api_for, alice, bob, user_factory, django_assert_max_num_queries):
    from contacts.services import do_connect
    from groups.services import do_create_group

    dave = user_factory("dave")
    do_connect(user=alice, other=dave)
    group = do_create_group(owner=alice, name="Team 团队", members=[str(bob.uuid), str(dave.uuid)])
    with django_assert_max_num_queries(8):
        results = api.get("/api/v1/conversations").json()["results"]
    conv = next(c for c in results if c["kind"] == "group")
    assert conv["peer"] is None and conv["peer_read_seq"] is None
    assert conv["group"]["id"] == str(group.uuid) and conv["group"]["my_role"] == "owner"
    assert conv["group"]["conversation"] == conv["id"] and conv["group"]["member_count"] == 3
    assert conv["last_message"]["kind"] == "system" and conv["last_message"]["content"]["event"] == "group_created"
    bob_conv = next(c for c in api_for(bob).get("/api/v1/conversations").json()["results"] if c["kind"] == "group")
    # `group_created` is a system event: no system message counts as unread.
    assert bob_conv["group"]["my_role"] == "member" and bob_conv["unread"] == 0


async def test_a_removed_member_receives_nothing_after_removal(ws_connect, message_worker, alice, bob, user_factory):
    from asgiref.sync import sync_to_async

    from contacts.services import do_connect
    from groups.services import do_create_group, do_remove_member
    from messaging.tests.helpers import send_text

    dave = await sync_to_async(user_factory)("dave")
    await sync_to_async(do_connect)(user=alice, other=dave)
    group = await sync_to_async(do_create_group)(owner=alice, name="G", members=[str(bob.uuid), str(dave.uuid)])
    conversation = await sync_to_async(lambda: str(group.conversation.uuid))()
    a, b, d = await ws_connect(alice), await ws_connect(bob), await ws_connect(dave)
    first = await send_text(a, conversation, "before")
    assert (await b.expect("message.new", skip=("presence", "conversation.updated")))["message"]["id"] == first["id"]
    await sync_to_async(do_remove_member)(user=alice, group_id=str(group.uuid), member_id=str(bob.uuid))
    removed = await b.expect("group.member_removed", skip=("presence", "message.new", "group.updated"))
    assert removed["user"]["id"] == str(bob.uuid)
    await send_text(a, conversation, "after")
    await a.send({"type": "typing", "conversation": conversation})
    await d.expect("message.new", skip=("presence", "group.member_removed", "group.updated"))
    await b.silent(0.5, skip=())
    await b.send(
        {
            "type": "message.send",
            "client_msg_id": new_id(),
            "conversation": conversation,
            "kind": "text",
            "content": "x",
        }
    )
    assert (await b.expect("error"))["code"] == "not_member"


# ----------------------------------------------------------------- silent events (recall)


def _conversation_of(client, conversation: str) -> dict:
    return next(c for c in client.get("/api/v1/conversations").json()["results"] if c["id"] == conversation)


def test_one_conversation_is_read_listed_or_not(api, api_for, alice, bob, carol, direct, group):
    """GET /conversations/{id}: a hidden chat (it stays hidden) and a group
    the caller left (read up to the departure) as the list would show them;
    someone who never belonged gets 404."""
    from conversations.services import do_hide_conversation
    from groups.models import Group
    from groups.services import do_leave_group

    seed(bob, direct, 2)
    do_hide_conversation(user=alice, conversation_id=direct)
    one = api.get(f"/api/v1/conversations/{direct}").json()
    assert one["id"] == direct and one["last_seq"] == 2 and one["peer"]["username"] == "bob"
    assert direct not in [c["id"] for c in api.get("/api/v1/conversations").json()["results"]]

    seed(alice, group, 1)
    do_leave_group(user=bob, group_id=str(Group.objects.get(conversation__uuid=group).uuid))
    seed(alice, group, 1)
    left = api_for(bob).get(f"/api/v1/conversations/{group}").json()
    assert left["group"]["my_role"] is None
    assert left["last_seq"] == Member.objects.get(conversation__uuid=group, user=bob).left_seq
    assert left["last_seq"] < api.get(f"/api/v1/conversations/{group}").json()["last_seq"]
    assert_error(api_for(carol).get(f"/api/v1/conversations/{direct}"), 404, "not_found")
    assert_error(api.get(f"/api/v1/conversations/{uuid.uuid4()}"), 404, "not_found")


def test_a_recall_is_a_silent_event(api, api_for, alice, bob, direct):
    """The recall's `system` message is stored and synced like any message, but
    it never counts as unread, is never the conversation's last message and
    does not move it up; the recalled message stops counting as unread."""
    from messaging.actions.recall import do_recall_message

    first, second = seed(bob, direct, 2)
    before = _conversation_of(api, direct)
    assert before["unread"] == 2 and before["last_message"]["id"] == str(second.uuid)
    do_recall_message(user=bob, message_id=str(second.uuid))
    event = Message.objects.get(conversation__uuid=direct, seq=3)
    assert event.kind == "system" and event.data["event"] == "recall" and event.silent
    after = _conversation_of(api, direct)
    assert after["last_seq"] == 3 and after["unread"] == 1
    assert after["last_message"]["id"] == str(second.uuid) and after["last_message"]["recalled"] is True
    assert after["updated_at"] == before["updated_at"]
    # Sync and history still carry the event.
    page = api.get(f"/api/v1/conversations/{direct}/messages").json()["results"]
    assert [(m["seq"], m["kind"]) for m in page] == [(1, "text"), (2, "text"), (3, "system")]
    # The sender's own view: nothing unread either way.
    assert _conversation_of(api_for(bob), direct)["unread"] == 0


def test_a_recall_does_not_bring_a_hidden_conversation_back(api, alice, bob, direct):
    [message] = seed(bob, direct, 1)
    assert api.delete(f"/api/v1/conversations/{direct}").status_code == 204
    from messaging.actions.recall import do_recall_message

    do_recall_message(user=bob, message_id=str(message.uuid))
    assert direct not in [c["id"] for c in api.get("/api/v1/conversations").json()["results"]]
    seed(bob, direct, 1, prefix="again")
    assert direct in [c["id"] for c in api.get("/api/v1/conversations").json()["results"]]


def test_when_only_silent_events_are_visible_there_is_no_last_message(api, alice, bob, direct):
    from messaging.actions.recall import do_recall_message

    [message] = seed(bob, direct, 1)
    do_recall_message(user=bob, message_id=str(message.uuid))
    conv = _conversation_of(api, direct)
    # The recalled message itself is still the last one (a placeholder); its event is not.
    assert conv["last_message"]["id"] == str(message.uuid) and conv["unread"] == 0


def test_existing_recall_events_become_silent_in_the_migration(alice, bob, direct):
    import importlib

    from django.apps import apps

    from messaging.actions.recall import do_recall_message

    [message] = seed(bob, direct, 1)
    do_recall_message(user=bob, message_id=str(message.uuid))
    Message.objects.filter(conversation__uuid=direct).update(silent=False)
    migration = importlib.import_module("conversations.migrations.0005_message_silent")
    migration.mark_silent(apps, None)
    assert list(Message.objects.filter(conversation__uuid=direct).order_by("seq").values_list("silent", flat=True)) == [
        False,
        True,
    ]


# ----------------------------------------------------------------- drafts


def test_a_draft_is_saved_shown_to_its_owner_only_and_cleared(api, api_for, alice, bob, direct):
    [quoted] = seed(bob, direct, 1)
    before = _conversation_of(api, direct)
    assert before["draft"] is None
    r = api.put(
        f"/api/v1/conversations/{direct}/draft",
        {"text": " half a thought ", "reply_to": str(quoted.uuid)},
        format="json",
    )
    assert r.status_code == 200, r.content
    draft = r.json()["draft"]
    assert draft["text"] == " half a thought " and draft["reply_to"] == str(quoted.uuid)
    assert draft["updated_at"].endswith("Z")
    # The owner's list shows it; the conversation keeps its place; the peer sees nothing.
    listed = _conversation_of(api, direct)
    assert listed["draft"] == draft and listed["updated_at"] == before["updated_at"]
    assert _conversation_of(api_for(bob), direct)["draft"] is None
    # Without reply_to the reply goes; "" clears everything.
    assert (
        api.put(f"/api/v1/conversations/{direct}/draft", {"text": "x"}, format="json").json()["draft"]["reply_to"]
        is None
    )
    assert api.put(f"/api/v1/conversations/{direct}/draft", {"text": ""}, format="json").json()["draft"] is None


def test_a_draft_is_checked_like_a_reply(api, api_for, alice, bob, carol, direct):
    from contacts.services import do_connect
    from conversations.services import post_system_message

    [mine] = seed(alice, direct, 1)
    url = f"/api/v1/conversations/{direct}/draft"
    assert_error(api.put(url, {"text": "x", "reply_to": "nope"}, format="json"), 400, "invalid")
    assert_error(api.put(url, {"text": "", "reply_to": "nope"}, format="json"), 400, "invalid")
    assert_error(api.put(url, {"text": "x", "reply_to": str(uuid.uuid4())}, format="json"), 404, "not_found")
    assert_error(api.put(url, {"text": 5}, format="json"), 400, "invalid")
    assert_error(api.put(url, {"text": "a\x00b"}, format="json"), 400, "invalid")
    assert_error(api.put(url, {"text": "x" * 5001}, format="json"), 413, "too_large")
    # A message of a conversation the caller cannot read: not_found; of another one they can: invalid.
    do_connect(user=bob, other=carol)
    from contacts.models import Contact

    bob_carol = str(Contact.objects.get(owner=bob, other=carol).conversation.uuid)
    [theirs] = seed(carol, bob_carol, 1)
    assert_error(api.put(url, {"text": "x", "reply_to": str(theirs.uuid)}, format="json"), 404, "not_found")
    do_connect(user=alice, other=carol)
    alice_carol = str(Contact.objects.get(owner=alice, other=carol).conversation.uuid)
    [elsewhere] = seed(carol, alice_carol, 1)
    assert_error(api.put(url, {"text": "x", "reply_to": str(elsewhere.uuid)}, format="json"), 400, "invalid")
    conversation = Message.objects.get(uuid=mine.uuid).conversation
    event = post_system_message(conversation=conversation, event="recall", actor=alice, changes={})
    assert_error(api.put(url, {"text": "x", "reply_to": str(event.uuid)}, format="json"), 400, "invalid")
    # Nobody else's conversation: not_found, and nothing was saved.
    assert_error(api_for(carol).put(url, {"text": "x"}, format="json"), 404, "not_found")
    assert _conversation_of(api, direct)["draft"] is None


def test_sending_clears_the_senders_draft_and_a_recall_its_reply(api, api_for, alice, bob, direct, events):
    from messaging.actions.recall import do_recall_message

    [quoted] = seed(bob, direct, 1)
    url = f"/api/v1/conversations/{direct}/draft"
    api.put(url, {"text": "draft", "reply_to": str(quoted.uuid)}, format="json")
    api_for(bob).put(url, {"text": "bob's draft", "reply_to": str(quoted.uuid)}, format="json")
    events.clear()
    with events.capture():
        do_recall_message(user=bob, message_id=str(quoted.uuid))
    assert _conversation_of(api, direct)["draft"]["reply_to"] is None
    # Both drafts changed: each owner's devices hear of it, with the new draft.
    for user in (alice, bob):
        [told] = [f for ids, f in events.items if ids == {user.pk} and f["type"] == "conversation.updated"]
        assert told["conversation"]["draft"]["reply_to"] is None
    assert _conversation_of(api_for(bob), direct)["draft"]["text"] == "bob's draft"
    seed(alice, direct, 1)
    assert _conversation_of(api, direct)["draft"] is None
    assert _conversation_of(api_for(bob), direct)["draft"]["text"] == "bob's draft"
    read_seq = Member.objects.get(conversation__uuid=direct, user=alice).read_seq
    assert read_seq == 3  # the send still moved the sender's read cursor
