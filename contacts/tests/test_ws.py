"""Contact events on real sockets: who gets `contact.request`, `contact.added`, `contact.removed`."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from accounts.serializers import user_to_wire
from contacts.models import Contact

pytestmark = pytest.mark.django_db(transaction=True)


def call(client, method, path, body=None):
    return sync_to_async(getattr(client, method))(path, body or {}, format="json")


async def test_request_accept_and_delete_reach_every_socket_of_the_right_users(
    ws_connect, api_for, alice, carol, user_factory
):
    dave = await sync_to_async(user_factory)("dave")
    a1, a2, c1, d1 = await ws_connect(alice), await ws_connect(alice), await ws_connect(carol), await ws_connect(dave)
    alice_api, carol_api = await sync_to_async(api_for)(alice), await sync_to_async(api_for)(carol)

    r = await call(carol_api, "post", "/api/v1/contact-requests", {"to": str(alice.uuid), "message": "hi"})
    assert r.status_code == 201
    request = r.json()
    for ws in (a1, a2):
        assert await ws.expect("contact.request") == {"type": "contact.request", "request": request}
    await c1.silent()  # a new request goes to the receiver only

    r = await call(alice_api, "post", f"/api/v1/contact-requests/{request['id']}/accept")
    assert r.status_code == 200
    conversation = str(
        (await sync_to_async(Contact.objects.select_related("conversation").get)(owner=alice)).conversation.uuid
    )
    accepted = {"type": "contact.request", "request": {**request, "status": "accepted"}}
    for ws, other in ((a1, carol), (a2, carol), (c1, alice)):
        added = await ws.expect("contact.added")
        assert added == {"type": "contact.added", "user": user_to_wire(other), "conversation": conversation}
        assert await ws.expect("contact.request") == accepted

    r = await call(carol_api, "delete", f"/api/v1/contacts/{alice.uuid}")
    assert r.status_code == 204
    for ws, other in ((a1, carol), (a2, carol), (c1, alice)):
        removed = await ws.expect("contact.removed")
        assert removed == {"type": "contact.removed", "user": user_to_wire(other), "conversation": conversation}
    for ws in (a1, a2, c1, d1):
        await ws.silent()


async def test_reject_and_cancel_tell_both_sides(ws_connect, api_for, alice, carol):
    a, c = await ws_connect(alice), await ws_connect(carol)
    alice_api, carol_api = await sync_to_async(api_for)(alice), await sync_to_async(api_for)(carol)

    request = (await call(carol_api, "post", "/api/v1/contact-requests", {"to": str(alice.uuid)})).json()
    await a.expect("contact.request")
    assert (await call(alice_api, "post", f"/api/v1/contact-requests/{request['id']}/reject")).status_code == 200
    for ws in (a, c):
        assert (await ws.expect("contact.request"))["request"] == {**request, "status": "rejected"}

    request = (await call(carol_api, "post", "/api/v1/contact-requests", {"to": str(alice.uuid)})).json()
    await a.expect("contact.request")
    assert (await call(carol_api, "delete", f"/api/v1/contact-requests/{request['id']}")).status_code == 204
    for ws in (a, c):
        assert (await ws.expect("contact.request"))["request"] == {**request, "status": "cancelled"}
    for ws in (a, c):
        await ws.silent()


async def test_blocking_tells_only_the_blockers_devices_and_refused_requests_send_nothing(
    ws_connect, api_for, alice, carol
):
    a, a2, c = await ws_connect(alice), await ws_connect(alice), await ws_connect(carol)
    alice_api, carol_api = await sync_to_async(api_for)(alice), await sync_to_async(api_for)(carol)
    assert (await call(alice_api, "post", "/api/v1/blocks", {"user": str(carol.uuid)})).status_code == 201
    # Each of Alice's devices hears of it (to stop notifying of Carol); Carol never does.
    for ws in (a, a2):
        changed = await ws.expect("block.changed")
        assert (changed["user"]["id"], changed["blocked"]) == (str(carol.uuid), True)
    r = await call(carol_api, "post", "/api/v1/contact-requests", {"to": str(alice.uuid)})
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    for ws in (a, c):
        await ws.silent()


async def test_a_block_stops_direct_messages_both_ways_until_lifted(ws_connect, api_for, message_worker, alice, bob):
    a, b = await ws_connect(alice), await ws_connect(bob)
    alice_api = await sync_to_async(api_for)(alice)
    conversation = str(
        (await sync_to_async(Contact.objects.select_related("conversation").get)(owner=alice)).conversation.uuid
    )
    assert (await call(alice_api, "post", "/api/v1/blocks", {"user": str(bob.uuid)})).status_code == 201
    assert (await a.expect("block.changed"))["blocked"] is True

    def frame(n):
        return {
            "type": "message.send",
            "client_msg_id": f"00000000-0000-4000-8000-00000000000{n}",
            "conversation": conversation,
            "kind": "text",
            "content": f"hello {n}",
        }

    await b.send(frame(1))  # the blocked side is told
    error = await b.expect("error")
    assert error["code"] == "blocked" and error["ref"] == frame(1)["client_msg_id"]
    await a.send(frame(2))  # and so is the blocker writing to them
    assert (await a.expect("error"))["code"] == "blocked"
    await a.silent()  # the blocker receives nothing
    await b.silent()

    assert (await call(alice_api, "delete", f"/api/v1/blocks/{bob.uuid}")).status_code == 204
    changed = await a.expect("block.changed")
    assert (changed["user"]["id"], changed["blocked"]) == (str(bob.uuid), False)
    await b.send(frame(3))
    assert (await b.expect("message.ack", timeout=10))["status"] == "accepted"
    assert (await a.expect("message.new", timeout=10))["message"]["content"] == "hello 3"
