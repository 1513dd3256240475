"""Conversations and messages over REST (shared/spec/rest.md "Conversations and messages")."""

from __future__ import annotations

import pytest

from accounts.tests.test_api import assert_error
from messaging.models import ConversationMember, Message
from messaging.tests.helpers import new_id, store_text_sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def direct(alice, bob):
    from contacts.models import Contact

    return str(Contact.objects.get(owner=alice, other=bob).conversation.uuid)


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
    [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"before": -1}, {"before": 1, "after": 2}, {"after": "1e3"}],
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


def test_history_by_client_msg_id(api, alice, direct):
    cmid = new_id()
    store_text_sync(sender=alice, conversation_uuid=direct, text="mine", cmid=cmid)
    body = api.get(f"/api/v1/conversations/{direct}/messages", {"client_msg_id": cmid}).json()
    assert [m["client_msg_id"] for m in body["results"]] == [cmid]
    assert api.get(f"/api/v1/conversations/{direct}/messages", {"client_msg_id": new_id()}).json()["results"] == []


# ----------------------------------------------------------------- send over REST


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
    reads = api.get(f"/api/v1/conversations/{direct}/reads").json()
    assert sorted((r["user"], r["read_seq"]) for r in reads["results"]) == sorted(
        [(str(alice.uuid), 3), (str(bob.uuid), 5)]
    )
    bob_view = api_for(bob).get("/api/v1/conversations").json()["results"][0]
    assert bob_view["peer_read_seq"] == 3 and bob_view["unread"] == 0


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
        "last_message",
        "updated_at",
        "pinned",
        "muted",
        "hidden",
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
    assert not ConversationMember.objects.get(conversation__uuid=direct, user=alice).hidden


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


# ----------------------------------------------------------------- search


def test_search_is_literal_and_scoped(api, api_for, alice, bob, carol, direct):
    store_text_sync(sender=bob, conversation_uuid=direct, text="let's meet at 100% 下午三点")
    store_text_sync(sender=bob, conversation_uuid=direct, text="plain text")
    found = api.get("/api/v1/messages/search", {"q": "100%"}).json()
    assert [m["content"] for m in found["results"]] == ["let's meet at 100% 下午三点"] and found["next"] is None
    assert api.get("/api/v1/messages/search", {"q": "三点"}).json()["results"][0]["content"].endswith("三点")
    assert api.get("/api/v1/messages/search", {"q": "%"}).json()["results"][0]["content"].startswith("let's")
    assert api.get("/api/v1/messages/search", {"q": "_"}).json()["results"] == []
    assert api_for(carol).get("/api/v1/messages/search", {"q": "plain"}).json()["results"] == []
    assert_error(api.get("/api/v1/messages/search", {"q": ""}), 400, "invalid")
    assert_error(api.get("/api/v1/messages/search", {"q": "x" * 101}), 400, "invalid")


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
    assert bob_conv["group"]["my_role"] == "member" and bob_conv["unread"] == 1


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
