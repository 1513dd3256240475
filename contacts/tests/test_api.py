"""The contacts API (rest.md "Contacts"): status and whole JSON, every error code, bounded queries."""

from __future__ import annotations

import uuid

import pytest

from accounts.serializers import user_to_wire
from chatsite.testing import ISO, assert_error, count_queries
from chatsite.wire import iso
from contacts import selectors, services
from contacts.models import Block, Contact, ContactRequest

pytestmark = pytest.mark.django_db


def contact_json(owner, other, *, remark="", blocked=False) -> dict:
    row = Contact.objects.get(owner=owner, other=other)
    return {
        "user": user_to_wire(other),
        "remark": remark,
        "since": iso(row.since),
        "conversation": str(row.conversation.uuid),
        "blocked": blocked,
    }


def request_json(row: ContactRequest) -> dict:
    row.refresh_from_db()
    return {
        "id": str(row.uuid),
        "kind": "contact",
        "from": user_to_wire(row.from_user),
        "to": user_to_wire(row.to_user),
        "group": None,
        "message": row.message,
        "status": row.status,
        "created_at": iso(row.created_at),
    }


def befriend(user_factory, alice, username, **kwargs):
    user = user_factory(username, **kwargs)
    services.do_connect(user=alice, other=user)
    return user


# --------------------------------------------------------------------------- the contact list


def test_contact_list_sections_follow_the_spec(api, alice, bob, user_factory):
    zhang = befriend(user_factory, alice, "zhang", nickname="张伟")
    wang = befriend(user_factory, alice, "wang", nickname="王芳")
    emile = befriend(user_factory, alice, "emile", nickname="Émile")
    eve = befriend(user_factory, alice, "eve")  # no nickname: the username
    emoji = befriend(user_factory, alice, "smiley", nickname="😀 smile")
    digits = befriend(user_factory, alice, "agent", nickname="007")
    aaron = befriend(user_factory, alice, "zed", nickname="Zed")
    services.do_update_contact(user=alice, other_id=str(aaron.uuid), remark="Aaron")  # the remark wins
    li = befriend(user_factory, alice, "li", nickname="李明")
    lily = befriend(user_factory, alice, "lily", nickname="Lily")
    Block.objects.create(blocker=alice, blocked=wang)
    Block.objects.create(blocker=eve, blocked=alice)  # being blocked is not shown

    r = api.get("/api/v1/contacts")
    assert r.status_code == 200, r.content

    def c(user, **kw):
        return contact_json(alice, user, **kw)

    assert r.json() == {
        "sections": [
            {"letter": "A", "contacts": [c(aaron, remark="Aaron")]},
            {"letter": "B", "contacts": [c(bob)]},
            {"letter": "E", "contacts": [c(emile), c(eve)]},
            {"letter": "L", "contacts": [c(li), c(lily)]},
            {"letter": "W", "contacts": [c(wang, blocked=True)]},
            {"letter": "Z", "contacts": [c(zhang)]},
            {"letter": "#", "contacts": [c(digits), c(emoji)]},
        ]
    }


def test_contact_list_is_empty_without_contacts(api_for, carol):
    r = api_for(carol).get("/api/v1/contacts")
    assert r.status_code == 200 and r.json() == {"sections": []}


def test_contact_list_query_count_does_not_grow(api, alice, bob, user_factory, django_assert_num_queries):
    with django_assert_num_queries(2):
        selectors.list_contact_sections(user=alice)
    small, r = count_queries(lambda: api.get("/api/v1/contacts"))
    assert r.status_code == 200
    for n in range(30):
        befriend(user_factory, alice, f"friend{n}", nickname=f"朋友{n}")
    with django_assert_num_queries(small):
        r = api.get("/api/v1/contacts")
    assert sum(len(s["contacts"]) for s in r.json()["sections"]) == 31


def test_patch_remark(api, alice, bob):
    r = api.patch(f"/api/v1/contacts/{bob.uuid}", {"remark": "小鲍 😀"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json() == contact_json(alice, bob, remark="小鲍 😀")
    assert_error(api.patch(f"/api/v1/contacts/{bob.uuid}", {"remark": "x" * 65}, format="json"), 400, "invalid")
    assert_error(api.patch(f"/api/v1/contacts/{bob.uuid}", {}, format="json"), 400, "invalid")
    assert_error(api.patch(f"/api/v1/contacts/{bob.uuid}", {"remark": 5}, format="json"), 400, "invalid")


def test_patch_or_delete_a_non_contact_is_not_found(api, carol):
    for path in (f"/api/v1/contacts/{carol.uuid}", "/api/v1/contacts/not-a-uuid", f"/api/v1/contacts/{uuid.uuid4()}"):
        assert_error(api.patch(path, {"remark": "x"}, format="json"), 404, "not_found")
        assert_error(api.delete(path), 404, "not_found")


def test_delete_contact(api, api_for, alice, bob):
    r = api.delete(f"/api/v1/contacts/{bob.uuid}")
    assert r.status_code == 204 and r.content == b""
    assert api.get("/api/v1/contacts").json() == {"sections": []}
    assert api_for(bob).get("/api/v1/contacts").json() == {"sections": []}
    assert_error(api.delete(f"/api/v1/contacts/{bob.uuid}"), 404, "not_found")


# --------------------------------------------------------------------------- requests


def test_send_a_request(api, alice, carol):
    r = api.post("/api/v1/contact-requests", {"to": str(carol.uuid), "message": "我是 Alice"}, format="json")
    assert r.status_code == 201, r.content
    row = ContactRequest.objects.get()
    body = r.json()
    assert body == request_json(row)
    assert body["status"] == "pending" and body["message"] == "我是 Alice" and ISO.match(body["created_at"])
    assert "phone" not in body["from"] and "phone" not in body["to"]
    # without a message
    r = api.post("/api/v1/contact-requests", {"to": str(carol.uuid)}, format="json")
    assert_error(r, 409, "conflict")


def test_request_errors(api, alice, bob, carol):
    post = lambda body: api.post("/api/v1/contact-requests", body, format="json")  # noqa: E731
    assert_error(post({"to": str(alice.uuid)}), 400, "invalid")
    assert_error(post({}), 400, "invalid")
    assert_error(post({"to": 12}), 400, "invalid")
    assert_error(post({"to": "not-a-uuid"}), 400, "invalid")
    assert_error(post({"to": str(carol.uuid), "message": "x" * 201}), 400, "invalid")
    assert_error(post({"to": str(uuid.uuid4())}), 404, "not_found")
    assert_error(post({"to": str(bob.uuid)}), 409, "conflict")  # already contacts
    Block.objects.create(blocker=carol, blocked=alice)
    assert_error(post({"to": str(carol.uuid)}), 403, "blocked")
    assert not ContactRequest.objects.exists()


def test_crossing_request_is_accepted_instead(api, api_for, alice, carol):
    theirs = api_for(carol).post("/api/v1/contact-requests", {"to": str(alice.uuid)}, format="json").json()
    r = api.post("/api/v1/contact-requests", {"to": str(carol.uuid), "message": "sure"}, format="json")
    assert r.status_code == 201, r.content
    assert r.json() == {**theirs, "status": "accepted"}
    assert Contact.objects.count() == 2


def test_list_requests_by_box_with_pages(api, api_for, alice, user_factory, django_assert_num_queries):
    senders = [user_factory(f"fan{n}") for n in range(5)]
    for sender in senders:
        api_for(sender).post("/api/v1/contact-requests", {"to": str(alice.uuid)}, format="json")
    outgoing_to = user_factory("idol")
    api.post("/api/v1/contact-requests", {"to": str(outgoing_to.uuid)}, format="json")

    rows = list(ContactRequest.objects.filter(to_user=alice).order_by("-pk"))
    first = api.get("/api/v1/contact-requests", {"box": "incoming", "limit": 3})
    assert first.status_code == 200
    assert first.json()["results"] == [request_json(r) for r in rows[:3]]
    assert first.json()["next"]
    second = api.get("/api/v1/contact-requests", {"box": "incoming", "limit": 3, "cursor": first.json()["next"]})
    assert second.json() == {"results": [request_json(r) for r in rows[3:]], "next": None}
    # incoming is the default box
    assert api.get("/api/v1/contact-requests").json()["results"] == [request_json(r) for r in rows]
    out = api.get("/api/v1/contact-requests", {"box": "outgoing"}).json()
    assert out == {"results": [request_json(ContactRequest.objects.get(to_user=outgoing_to))], "next": None}
    # status filter
    services.do_reject_contact_request(user=alice, request_id=str(rows[0].uuid))
    pending = api.get("/api/v1/contact-requests", {"status": "pending"}).json()["results"]
    assert [p["id"] for p in pending] == [str(r.uuid) for r in rows[1:]]
    # peer: only requests with that person, in the box asked for
    with_first = api.get("/api/v1/contact-requests", {"peer": str(rows[0].from_user.uuid)}).json()["results"]
    assert [r["id"] for r in with_first] == [str(rows[0].uuid)]
    assert api.get("/api/v1/contact-requests", {"peer": str(alice.uuid)}).json()["results"] == []
    to_outgoing = api.get("/api/v1/contact-requests", {"box": "outgoing", "peer": str(outgoing_to.uuid)}).json()
    assert [r["id"] for r in to_outgoing["results"]] == [str(ContactRequest.objects.get(to_user=outgoing_to).uuid)]
    # ...and not the incoming one from that person in the outgoing box
    from_first = api.get("/api/v1/contact-requests", {"box": "outgoing", "peer": str(rows[0].from_user.uuid)})
    assert from_first.json()["results"] == []
    assert_error(api.get("/api/v1/contact-requests", {"peer": "not-a-user"}), 400, "invalid")
    assert_error(api.get("/api/v1/contact-requests", {"box": "sideways"}), 400, "invalid")
    assert_error(api.get("/api/v1/contact-requests", {"status": "maybe"}), 400, "invalid")
    assert_error(api.get("/api/v1/contact-requests", {"cursor": "garbage!"}), 400, "invalid")
    assert_error(api.get("/api/v1/contact-requests", {"limit": "0"}), 400, "invalid")
    # bounded queries
    with django_assert_num_queries(1):
        selectors.list_contact_requests(user=alice, box="incoming", after_id=None, limit=50)
    small, _ = count_queries(lambda: api.get("/api/v1/contact-requests", {"limit": 1}))
    with django_assert_num_queries(small):
        api.get("/api/v1/contact-requests", {"limit": 100})


def test_accept_and_reject(api, api_for, alice, carol, user_factory):
    dave = user_factory("dave")
    req1 = api_for(carol).post("/api/v1/contact-requests", {"to": str(alice.uuid)}, format="json").json()
    req2 = api_for(dave).post("/api/v1/contact-requests", {"to": str(alice.uuid)}, format="json").json()

    # only the receiver: the sender and strangers get 404
    assert_error(api_for(carol).post(f"/api/v1/contact-requests/{req1['id']}/accept"), 404, "not_found")
    assert_error(api_for(dave).post(f"/api/v1/contact-requests/{req1['id']}/reject"), 404, "not_found")
    assert_error(api.post(f"/api/v1/contact-requests/{uuid.uuid4()}/accept"), 404, "not_found")

    r = api.post(f"/api/v1/contact-requests/{req1['id']}/accept")
    assert r.status_code == 200 and r.json() == {**req1, "status": "accepted"}
    assert api.get("/api/v1/contacts").json()["sections"] == [{"letter": "C", "contacts": [contact_json(alice, carol)]}]
    assert_error(api.post(f"/api/v1/contact-requests/{req1['id']}/accept"), 409, "conflict")

    r = api.post(f"/api/v1/contact-requests/{req2['id']}/reject")
    assert r.status_code == 200 and r.json() == {**req2, "status": "rejected"}
    assert_error(api.post(f"/api/v1/contact-requests/{req2['id']}/reject"), 409, "conflict")
    assert not Contact.objects.filter(owner=alice, other=dave).exists()


def test_accept_when_blocked(api, api_for, alice, carol):
    req = api_for(carol).post("/api/v1/contact-requests", {"to": str(alice.uuid)}, format="json").json()
    api.post("/api/v1/blocks", {"user": str(carol.uuid)}, format="json")
    assert_error(api.post(f"/api/v1/contact-requests/{req['id']}/accept"), 403, "blocked")


def test_cancel(api, api_for, alice, carol, user_factory):
    req = api.post("/api/v1/contact-requests", {"to": str(carol.uuid)}, format="json").json()
    assert_error(api_for(carol).delete(f"/api/v1/contact-requests/{req['id']}"), 403, "forbidden")
    assert_error(api_for(user_factory("dave")).delete(f"/api/v1/contact-requests/{req['id']}"), 404, "not_found")
    r = api.delete(f"/api/v1/contact-requests/{req['id']}")
    assert r.status_code == 204 and r.content == b""
    assert api.get("/api/v1/contact-requests", {"box": "outgoing"}).json()["results"] == [
        {**req, "status": "cancelled"}
    ]
    assert_error(api.delete(f"/api/v1/contact-requests/{req['id']}"), 409, "conflict")


# --------------------------------------------------------------------------- blocks


def test_blocks(api, api_for, alice, bob, carol, django_assert_num_queries):
    r = api.post("/api/v1/blocks", {"user": str(carol.uuid)}, format="json")
    assert r.status_code == 201 and r.json() == user_to_wire(carol)
    api.post("/api/v1/blocks", {"user": str(bob.uuid)}, format="json")
    assert api.get("/api/v1/blocks").json() == {"results": [user_to_wire(bob), user_to_wire(carol)], "next": None}
    page1 = api.get("/api/v1/blocks", {"limit": 1}).json()
    assert page1["results"] == [user_to_wire(bob)] and page1["next"]
    assert api.get("/api/v1/blocks", {"limit": 1, "cursor": page1["next"]}).json() == {
        "results": [user_to_wire(carol)],
        "next": None,
    }
    with django_assert_num_queries(1):
        selectors.list_blocks(user=alice, after_id=None, limit=50)

    assert_error(api.post("/api/v1/blocks", {"user": str(carol.uuid)}, format="json"), 409, "conflict")
    assert_error(api.post("/api/v1/blocks", {"user": str(alice.uuid)}, format="json"), 400, "invalid")
    assert_error(api.post("/api/v1/blocks", {"user": str(uuid.uuid4())}, format="json"), 404, "not_found")
    assert_error(api.post("/api/v1/blocks", {}, format="json"), 400, "invalid")

    # the blocked contact stays listed, marked
    assert api.get("/api/v1/contacts").json()["sections"] == [
        {"letter": "B", "contacts": [contact_json(alice, bob, blocked=True)]}
    ]
    # the blocked side is refused
    assert_error(
        api_for(carol).post("/api/v1/contact-requests", {"to": str(alice.uuid)}, format="json"), 403, "blocked"
    )

    r = api.delete(f"/api/v1/blocks/{bob.uuid}")
    assert r.status_code == 204
    assert_error(api.delete(f"/api/v1/blocks/{bob.uuid}"), 404, "not_found")
    assert_error(api.delete("/api/v1/blocks/nope"), 404, "not_found")
    assert api.get("/api/v1/contacts").json()["sections"][0]["contacts"] == [contact_json(alice, bob)]


def test_user_search_hides_both_sides_of_a_block(api, api_for, alice, carol):
    assert api.get("/api/v1/users/search", {"q": "carol"}).json()["results"] == [user_to_wire(carol)]
    api.post("/api/v1/blocks", {"user": str(carol.uuid)}, format="json")
    assert api.get("/api/v1/users/search", {"q": "carol"}).json()["results"] == []
    assert api_for(carol).get("/api/v1/users/search", {"q": "alice"}).json()["results"] == []
    api.delete(f"/api/v1/blocks/{carol.uuid}")
    assert api_for(carol).get("/api/v1/users/search", {"q": "alice"}).json()["results"] == [user_to_wire(alice)]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/contacts"),
        ("patch", "/api/v1/contacts/x"),
        ("delete", "/api/v1/contacts/x"),
        ("get", "/api/v1/contact-requests"),
        ("post", "/api/v1/contact-requests"),
        ("post", "/api/v1/contact-requests/x/accept"),
        ("post", "/api/v1/contact-requests/x/reject"),
        ("delete", "/api/v1/contact-requests/x"),
        ("get", "/api/v1/blocks"),
        ("post", "/api/v1/blocks"),
        ("delete", "/api/v1/blocks/x"),
    ],
)
def test_everything_needs_authentication(anon, method, path):
    assert_error(getattr(anon, method)(path, {}, format="json"), 401, "not_authenticated")
