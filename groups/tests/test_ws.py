"""Group events on real sockets: who hears what, and silence for those removed."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from accounts.serializers import user_to_wire
from groups.tests.factories import make_group

pytestmark = pytest.mark.django_db(transaction=True)


def call(client, method, path, body=None):
    return sync_to_async(getattr(client, method))(path, body or {}, format="json")


@pytest.fixture
def crew(alice, bob, user_factory):
    """alice owns a group with bob (admin) and mia (member)."""
    mia = user_factory("mia", nickname="Mia")
    group = make_group(alice, admins=[bob], members=[mia], name="Crew")
    return group, mia


async def test_a_removed_member_gets_the_removal_last_and_nothing_after(
    ws_connect, api_for, message_worker, alice, bob, crew
):
    group, mia = crew
    conversation = await sync_to_async(lambda: str(group.conversation.uuid))()
    a, b, m1, m2 = await ws_connect(alice), await ws_connect(bob), await ws_connect(mia), await ws_connect(mia)
    owner_api = await sync_to_async(api_for)(alice)

    r = await call(owner_api, "delete", f"/api/v1/groups/{group.uuid}/members/{mia.uuid}")
    assert r.status_code == 204
    # On every socket of the removed user: the system message, then the removal, then nothing.
    for ws in (m1, m2):
        note = await ws.expect("message.new", timeout=2)
        assert note["message"]["kind"] == "system" and note["message"]["conversation"] == conversation
        assert note["message"]["content"] == {
            "event": "member_removed",
            "actor": str(alice.uuid),
            "targets": [str(mia.uuid)],
            "changes": {},
        }
        removed = await ws.expect("group.member_removed", timeout=2)
        assert removed["user"] == user_to_wire(mia) and removed["by"] == str(alice.uuid)
        assert removed["group"]["id"] == str(group.uuid) and removed["group"]["my_role"] is None
        assert removed["group"]["member_count"] == 2
    for ws, role in ((a, "owner"), (b, "admin")):
        assert (await ws.expect("message.new"))["message"]["content"]["event"] == "member_removed"
        removed = await ws.expect("group.member_removed")
        assert removed["group"]["my_role"] == role and removed["user"]["id"] == str(mia.uuid)

    # A message to the group afterwards reaches the members only.
    cmid = str(uuid.uuid4())
    await b.send(
        {"type": "message.send", "client_msg_id": cmid, "conversation": conversation, "kind": "text", "content": "bye"}
    )
    assert (await b.expect("message.ack", timeout=10))["status"] == "accepted"
    assert (await b.expect("message.ack", timeout=10))["status"] == "stored"
    assert (await a.expect("message.new", timeout=10))["message"]["content"] == "bye"
    # A change to the group afterwards too.
    assert (await call(owner_api, "patch", f"/api/v1/groups/{group.uuid}", {"notice": "new rules"})).status_code == 200
    for ws in (a, b):
        assert (await ws.expect("message.new"))["message"]["content"]["event"] == "group_updated"
        assert (await ws.expect("group.updated"))["group"]["notice"] == "new rules"
    for ws in (m1, m2):
        await ws.silent(0.5)

    # And she can no longer send there.
    await m1.send(
        {
            "type": "message.send",
            "client_msg_id": str(uuid.uuid4()),
            "conversation": conversation,
            "kind": "text",
            "content": "?",
        }
    )
    assert (await m1.expect("error"))["code"] == "not_member"
    for ws in (a, b, m2):
        await ws.silent()


async def test_an_added_member_and_the_members_hear_of_it(ws_connect, api_for, alice, bob, crew, user_factory):
    group, mia = crew
    from contacts.services import do_connect

    neo = await sync_to_async(user_factory)("neo")
    await sync_to_async(do_connect)(user=bob, other=neo)
    a, m, n = await ws_connect(alice), await ws_connect(mia), await ws_connect(neo)
    r = await call(
        await sync_to_async(api_for)(bob), "post", f"/api/v1/groups/{group.uuid}/members", {"users": [str(neo.uuid)]}
    )
    assert r.status_code == 200
    for ws, role in ((a, "owner"), (m, "member"), (n, "member")):
        note = await ws.expect("message.new")
        assert note["message"]["content"]["event"] == "member_added"
        added = await ws.expect("group.member_added")
        assert added["user"] == user_to_wire(neo) and added["by"] == str(bob.uuid)
        assert added["group"]["my_role"] == role and added["group"]["member_count"] == 4
    for ws in (a, m, n):
        await ws.silent()


async def test_join_requests_reach_the_owner_and_admins_only(ws_connect, api_for, alice, bob, carol, crew):
    group, mia = crew
    a, b, m, c = await ws_connect(alice), await ws_connect(bob), await ws_connect(mia), await ws_connect(carol)
    r = await call(await sync_to_async(api_for)(carol), "post", f"/api/v1/groups/{group.uuid}/join", {"message": "hi"})
    assert r.status_code == 202
    for ws in (a, b):
        assert await ws.expect("group.join_request") == {"type": "group.join_request", "request": r.json()}
    for ws in (m, c):
        await ws.silent()
    # Rejected: the managers and the one who asked hear of it.
    rejected = await call(
        await sync_to_async(api_for)(bob), "post", f"/api/v1/groups/{group.uuid}/join-requests/{r.json()['id']}/reject"
    )
    for ws in (a, b, c):
        assert (await ws.expect("group.join_request"))["request"] == rejected.json()
    await m.silent()


async def test_dismissal_reaches_every_member_and_stops_sending(ws_connect, api_for, message_worker, alice, bob, crew):
    group, mia = crew
    conversation = await sync_to_async(lambda: str(group.conversation.uuid))()
    a, b, m = await ws_connect(alice), await ws_connect(bob), await ws_connect(mia)
    assert (
        await call(await sync_to_async(api_for)(alice), "delete", f"/api/v1/groups/{group.uuid}")
    ).status_code == 204
    for ws in (a, b, m):
        dismissed = await ws.expect("group.dismissed")
        assert dismissed["group"]["status"] == "dismissed" and dismissed["group"]["id"] == str(group.uuid)
    await m.send(
        {
            "type": "message.send",
            "client_msg_id": str(uuid.uuid4()),
            "conversation": conversation,
            "kind": "text",
            "content": "?",
        }
    )
    assert (await m.expect("error"))["code"] == "group_disabled"
    for ws in (a, b, m):
        await ws.silent()


async def test_creation_tells_every_member(ws_connect, api_for, alice, bob):
    a, b = await ws_connect(alice), await ws_connect(bob)
    r = await call(
        await sync_to_async(api_for)(alice), "post", "/api/v1/groups", {"name": "新群", "members": [str(bob.uuid)]}
    )
    assert r.status_code == 201
    for ws, role in ((a, "owner"), (b, "member")):
        assert (await ws.expect("message.new"))["message"]["content"]["event"] == "group_created"
        assert (await ws.expect("group.updated"))["group"] == {**r.json(), "my_role": role}
