"""What administrators' actions do to live sockets (real clients over the
gateway; with Redis the close orders travel through the real-time fan-out
as they would between nodes)."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import Client as PageClient
from rest_framework.test import APIClient

from backoffice.models import AuditEntry
from calls.tests.helpers import ANSWER, OFFER
from conftest import PASSWORD, login_tokens, ws_headers
from groups.tests.factories import make_group

pytestmark = pytest.mark.django_db(transaction=True)

A = "/api/v1/admin"


def bearer(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(user)['access']}")
    return client


def login(username: str):
    return APIClient().post("/api/v1/auth/login", {"login": username, "password": PASSWORD}, format="json")


async def raw_close_code(token: str) -> int:
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application

    comm = WebsocketCommunicator(application, f"/ws/?token={token}", headers=ws_headers())
    connected, _ = await comm.connect(timeout=5)
    assert connected
    while True:
        message = await comm.receive_output(timeout=3)
        if message["type"] == "websocket.close":
            return message.get("code")


async def test_disabling_through_the_api_closes_every_socket_and_locks_the_account_until_enabled(
    ws_connect, admin_user, alice, bob
):
    first, second, other = await ws_connect(alice), await ws_connect(alice), await ws_connect(bob)
    old_access = (await sync_to_async(login_tokens)(alice))["access"]
    root = await sync_to_async(bearer)(admin_user)

    response = await sync_to_async(root.post)(f"{A}/users/{alice.uuid}/disable", {"reason": "spam"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "disabled"
    assert await first.closed() == 4403
    assert await second.closed() == 4403
    await other.send({"type": "ping"})
    await other.expect("pong")  # bob's socket is untouched

    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {old_access}")
    response = await sync_to_async(stale.get)("/api/v1/me")
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_disabled"
    response = await sync_to_async(login)("alice")
    assert response.status_code == 403 and response.json()["error"]["code"] == "account_disabled"
    assert await raw_close_code(old_access) == 4403

    response = await sync_to_async(root.post)(f"{A}/users/{alice.uuid}/enable", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"
    response = await sync_to_async(login)("alice")
    assert response.status_code == 200
    again = await ws_connect(alice, token=response.json()["access"])
    assert again.hello["user"]["id"] == str(alice.uuid)
    # The revoked sessions stay revoked: only a new login gets in.
    response = await sync_to_async(stale.get)("/api/v1/me")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    actions = await sync_to_async(lambda: list(AuditEntry.objects.order_by("pk").values_list("action", "via")))()
    assert actions == [("user.disable", "api"), ("user.enable", "api")]


async def test_deleting_closes_the_sockets_and_the_contact_hears_of_a_deleted_user(ws_connect, admin_user, alice, bob):
    mine, theirs = await ws_connect(alice), await ws_connect(bob)
    old_access = (await sync_to_async(login_tokens)(alice))["access"]
    root = await sync_to_async(bearer)(admin_user)
    response = await sync_to_async(root.delete)(f"{A}/users/{alice.uuid}", {}, format="json")
    assert response.status_code == 200
    assert await mine.closed() == 4403
    frame = await theirs.expect("contact.removed")
    assert frame["user"]["id"] == str(alice.uuid)
    assert (frame["user"]["username"], frame["user"]["nickname"]) == ("", "Deleted user")
    await theirs.silent()
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Bearer {old_access}")
    response = await sync_to_async(stale.get)("/api/v1/me")
    assert response.status_code == 401
    assert (await sync_to_async(login)("alice")).status_code == 401


async def test_the_django_admin_action_disables_with_the_same_effect_and_audit(ws_connect, admin_user, alice):
    first, second = await ws_connect(alice), await ws_connect(alice)

    def disable_in_the_admin():
        page = PageClient()
        response = page.post("/admin/login/", {"username": "root_admin", "password": PASSWORD})
        assert response.status_code == 302, response.content
        return page.post(
            "/admin/accounts/user/",
            {"action": "disable", "_selected_action": [alice.pk], "reason": "reported twice", "index": 0},
        )

    response = await sync_to_async(disable_in_the_admin)()
    assert response.status_code == 302
    assert await first.closed() == 4403
    assert await second.closed() == 4403
    entry = await sync_to_async(AuditEntry.objects.get)()
    assert (entry.action, entry.via, entry.reason, entry.actor_id, entry.target_id) == (
        "user.disable",
        "admin",
        "reported twice",
        admin_user.pk,
        str(alice.uuid),
    )


async def test_disabling_a_group_tells_its_members_and_stops_sending_until_enabled(
    ws_connect, message_worker, admin_user, alice, bob, carol
):
    group = await sync_to_async(make_group)(alice, members=[bob], name="Crew")
    conversation = await sync_to_async(lambda: str(group.conversation.uuid))()
    owner, member, stranger = await ws_connect(alice), await ws_connect(bob), await ws_connect(carol)
    root = await sync_to_async(bearer)(admin_user)

    response = await sync_to_async(root.post)(f"{A}/groups/{group.uuid}/disable", {"reason": "x"}, format="json")
    assert response.status_code == 200
    for ws, role in ((owner, "owner"), (member, "member")):
        frame = await ws.expect("group.updated")
        assert frame["group"]["id"] == str(group.uuid)
        assert (frame["group"]["status"], frame["group"]["my_role"]) == ("disabled", role)
    await stranger.silent()
    send = {"type": "message.send", "conversation": conversation, "kind": "text", "content": "?"}
    await member.send({**send, "client_msg_id": str(uuid.uuid4())})
    assert (await member.expect("error"))["code"] == "group_disabled"

    response = await sync_to_async(root.post)(f"{A}/groups/{group.uuid}/enable", {}, format="json")
    assert response.status_code == 200
    assert (await member.expect("group.updated"))["group"]["status"] == "active"
    cmid = str(uuid.uuid4())
    await member.send({**send, "client_msg_id": cmid})
    ack = await member.expect("message.ack", timeout=10)
    assert ack["client_msg_id"] == cmid and ack["status"] == "accepted"


async def test_set_admin_updates_the_user_object_on_their_sockets_and_their_contacts(
    ws_connect, admin_user, alice, bob
):
    mine, theirs = await ws_connect(alice), await ws_connect(bob)
    root = await sync_to_async(bearer)(admin_user)
    response = await sync_to_async(root.post)(f"{A}/users/{alice.uuid}/set-admin", {}, format="json")
    assert response.status_code == 200
    for ws in (mine, theirs):
        frame = await ws.expect("user.updated")
        assert frame["user"]["id"] == str(alice.uuid) and frame["user"]["is_admin"] is True
    await mine.send({"type": "ping"})
    await mine.expect("pong")  # the socket stays open


async def test_disabling_a_caller_stops_the_ringing_on_every_device(ws_connect, admin_user, alice, bob):
    a, b1 = await ws_connect(alice), await ws_connect(bob)
    for ws in (a, b1):
        await ws.send({"type": "ping"})
        await ws.expect("pong")
    await a.send({"type": "call.invite", "to": str(bob.uuid), "media": "audio", "sdp": OFFER})
    call_id = (await a.expect("call.ringing"))["call_id"]
    await b1.expect("call.incoming")
    root = await sync_to_async(bearer)(admin_user)
    response = await sync_to_async(root.post)(f"{A}/users/{alice.uuid}/disable", {}, format="json")
    assert response.status_code == 200
    await b1.expect("message.new")
    ended = await b1.expect("call.ended")
    assert ended == {
        "type": "call.ended",
        "call_id": call_id,
        "by": None,
        "outcome": "failed",
        "duration_s": 0,
        "reason": "account_disabled",
    }
    # A device of Bob's opened now does not ring, and the call cannot be answered.
    b2 = await ws_connect(bob)
    await b2.send({"type": "call.accept", "call_id": call_id, "sdp": ANSWER, "ref": "acc"})
    assert (await b2.expect("error"))["code"] == "call_state"
