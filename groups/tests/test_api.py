"""The groups API (rest.md "Groups"): status and whole JSON, every error code, who may do what, bounded queries."""

from __future__ import annotations

import uuid

import pytest

from accounts.serializers import user_to_wire
from chatsite.testing import ISO, assert_error, count_queries
from chatsite.wire import iso
from contacts.services import do_connect
from conversations.models import Member
from groups import selectors, services
from groups.models import Group, JoinRequest
from groups.tests.factories import make_group, remove

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(alice, user_factory):
    """A group in approval mode and one user of each standing towards it."""
    ada, mia, max_, fred, stan = (user_factory(n, nickname=n.title()) for n in ("ada", "mia", "max", "fred", "stan"))
    group = make_group(alice, admins=[ada], members=[mia, max_, fred], name="Cast")
    remove(group, alice, fred)  # a former member
    group.refresh_from_db()
    return {
        "group": group,
        "owner": alice,
        "admin": ada,
        "member": mia,
        "member2": max_,
        "former": fred,
        "stranger": stan,
    }


def url(group, rest="") -> str:
    return f"/api/v1/groups/{group.uuid}{rest}"


def group_json(group, *, my_role) -> dict:
    group = Group.objects.select_related("owner", "conversation").get(pk=group.pk)
    return {
        "id": str(group.uuid),
        "name": group.name,
        "notice": group.notice,
        "avatar": None,
        "owner": user_to_wire(group.owner),
        "member_count": group.member_count,
        "join_mode": group.join_mode,
        "status": group.status,
        "created_at": iso(group.created_at),
        "conversation": str(group.conversation.uuid),
        "my_role": my_role,
    }


def card_json(group) -> dict:
    group.refresh_from_db()
    return {
        "id": str(group.uuid),
        "name": group.name,
        "avatar": None,
        "member_count": group.member_count,
        "join_mode": group.join_mode,
        "status": group.status,
        "my_role": None,
    }


def _members(group):
    return Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True)


def member_json(group, user) -> dict:
    m = Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True).get(user=user)
    return {"user": user_to_wire(user), "role": m.role, "joined_at": iso(m.joined_at)}


def join_json(request: JoinRequest) -> dict:
    request.refresh_from_db()
    return {
        "id": str(request.uuid),
        "kind": "group_join",
        "from": user_to_wire(request.user),
        "to": None,
        "group": card_json(request.group),
        "message": request.message,
        "status": request.status,
        "created_at": iso(request.created_at),
    }


# --------------------------------------------------------------------------- create and read


def test_create(api, alice, bob):
    r = api.post(
        "/api/v1/groups",
        {"name": "读书会", "members": [str(bob.uuid)], "notice": "每周六", "join_mode": "open"},
        format="json",
    )
    assert r.status_code == 201, r.content
    group = Group.objects.get()
    body = r.json()
    assert body == group_json(group, my_role="owner")
    assert body["member_count"] == 2 and body["join_mode"] == "open" and ISO.match(body["created_at"])
    assert body["owner"]["id"] == str(alice.uuid) and "phone" not in body["owner"]


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({}, 400, "invalid"),
        ({"name": ""}, 400, "invalid"),
        ({"name": "x" * 65}, 400, "invalid"),
        ({"name": 1}, 400, "invalid"),
        ({"name": "ok", "notice": "n" * 2001}, 400, "invalid"),
        ({"name": "ok", "join_mode": "secret"}, 400, "invalid"),
        ({"name": "ok", "members": "bob"}, 400, "invalid"),
        ({"name": "ok", "members": [1]}, 400, "invalid"),
        ({"name": "ok", "members": ["not-an-id"]}, 400, "invalid"),
        ({"name": "ok", "avatar": "nope"}, 400, "invalid"),
        ({"name": "ok", "members": ["CAROL"]}, 403, "not_contact"),
    ],
)
def test_create_errors(api, carol, body, status, code):
    if body.get("members") == ["CAROL"]:
        body = {**body, "members": [str(carol.uuid)]}
    assert_error(api.post("/api/v1/groups", body, format="json"), status, code)
    assert not Group.objects.exists()


def test_create_blocked_and_full(api, alice, bob, settings):
    from contacts.models import Block

    Block.objects.create(blocker=alice, blocked=bob)
    assert_error(api.post("/api/v1/groups", {"name": "x", "members": [str(bob.uuid)]}, format="json"), 403, "blocked")
    Block.objects.all().delete()
    settings.GROUP_MAX_MEMBERS = 2
    assert api.post("/api/v1/groups", {"name": "x", "members": [str(bob.uuid)]}, format="json").status_code == 201
    settings.GROUP_MAX_MEMBERS = 1  # the owner alone fits, not bob as well
    assert_error(api.post("/api/v1/groups", {"name": "x", "members": [str(bob.uuid)]}, format="json"), 409, "conflict")


def test_get_group_member_sees_all_others_the_card(cast, api_for):
    group = cast["group"]
    for who, role in (("owner", "owner"), ("admin", "admin"), ("member", "member")):
        r = api_for(cast[who]).get(url(group))
        assert r.status_code == 200 and r.json() == group_json(group, my_role=role)
    for who in ("stranger", "former"):
        r = api_for(cast[who]).get(url(group))
        assert r.status_code == 200 and r.json() == card_json(group)
    assert_error(api_for(cast["stranger"]).get(f"/api/v1/groups/{uuid.uuid4()}"), 404, "not_found")
    assert_error(api_for(cast["stranger"]).get("/api/v1/groups/12"), 404, "not_found")


def test_my_groups_are_paged_with_bounded_queries(api, alice, bob, django_assert_num_queries):
    groups = [make_group(alice, members=[bob], name=f"g{n}") for n in range(5)]
    other = make_group(bob, name="bob's own")  # alice is not in it
    first = api.get("/api/v1/groups", {"limit": 2}).json()
    assert first["results"] == [group_json(g, my_role="owner") for g in reversed(groups[-2:])]
    seen = [g["id"] for g in first["results"]]
    cursor = first["next"]
    while cursor:
        page = api.get("/api/v1/groups", {"limit": 2, "cursor": cursor}).json()
        seen += [g["id"] for g in page["results"]]
        cursor = page["next"]
    assert seen == [str(g.uuid) for g in reversed(groups)]
    assert str(other.uuid) not in seen
    with django_assert_num_queries(1):
        selectors.list_my_groups(user=alice, after_id=None, limit=50)
    small, _ = count_queries(lambda: api.get("/api/v1/groups", {"limit": 1}))
    with django_assert_num_queries(small):
        r = api.get("/api/v1/groups", {"limit": 100})
    assert len(r.json()["results"]) == 5
    assert_error(api.get("/api/v1/groups", {"cursor": "???"}), 400, "invalid")


def test_members_list_is_ordered_paged_and_bounded(cast, api_for, user_factory, django_assert_num_queries):
    group, owner = cast["group"], cast["owner"]
    extra = [user_factory(f"extra{n}") for n in range(4)]
    for user in extra:
        do_connect(user=owner, other=user)
    services.do_add_members(user=owner, group_id=str(group.uuid), users=[str(u.uuid) for u in extra])
    expected = [member_json(group, u) for u in (owner, cast["admin"], cast["member"], cast["member2"], *extra)]
    client = api_for(cast["member"])
    got, cursor = [], None
    while True:
        r = client.get(url(group, "/members"), {"limit": 3, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200
        got += r.json()["results"]
        cursor = r.json()["next"]
        if not cursor:
            break
    assert got == expected
    with django_assert_num_queries(1):
        selectors.list_members(group=group, after=None, limit=50)
    small, _ = count_queries(lambda: client.get(url(group, "/members"), {"limit": 1}))
    with django_assert_num_queries(small):
        client.get(url(group, "/members"), {"limit": 100})
    assert_error(client.get(url(group, "/members"), {"cursor": "WzEsMiwzXQ"}), 400, "invalid")  # [1,2,3]


# --------------------------------------------------------------------------- who may do what

STRANGER = (404, "not_found")
FORMER = (403, "not_member")
FORBIDDEN = (403, "forbidden")

MATRIX = {
    # action: {standing: expected (status, code) or success status}
    "patch": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": 200, "owner": 200},
    "dismiss": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": FORBIDDEN, "owner": 204},
    "members": {"stranger": STRANGER, "former": FORMER, "member": 200, "admin": 200, "owner": 200},
    "add": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": 200, "owner": 200},
    "role": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": FORBIDDEN, "owner": 200},
    "remove": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": 204, "owner": 204},
    "leave": {"stranger": STRANGER, "former": FORMER, "member": 204, "admin": 204, "owner": (409, "conflict")},
    "transfer": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": FORBIDDEN, "owner": 200},
    "join_requests": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": 200, "owner": 200},
    "accept": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": 200, "owner": 200},
    "reject": {"stranger": STRANGER, "former": FORMER, "member": FORBIDDEN, "admin": 200, "owner": 200},
    "join": {
        "stranger": 202,
        "former": 202,
        "member": (409, "conflict"),
        "admin": (409, "conflict"),
        "owner": (409, "conflict"),
    },
}


def _do(action, cast, client, actor, user_factory):
    group = cast["group"]
    if action == "patch":
        return client.patch(url(group), {"notice": "new notice"}, format="json")
    if action == "dismiss":
        return client.delete(url(group))
    if action == "members":
        return client.get(url(group, "/members"))
    if action == "add":
        newcomer = user_factory("newcomer")
        do_connect(user=actor, other=newcomer)
        return client.post(url(group, "/members"), {"users": [str(newcomer.uuid)]}, format="json")
    if action == "role":
        return client.patch(url(group, f"/members/{cast['member2'].uuid}"), {"role": "admin"}, format="json")
    if action == "remove":
        return client.delete(url(group, f"/members/{cast['member2'].uuid}"))
    if action == "leave":
        return client.post(url(group, "/leave"))
    if action == "transfer":
        return client.post(url(group, "/transfer"), {"user": str(cast["member2"].uuid)}, format="json")
    if action == "join_requests":
        return client.get(url(group, "/join-requests"))
    if action in ("accept", "reject"):
        asker = user_factory("asker")
        request = services.do_join_group(user=asker, group_id=str(group.uuid))
        return client.post(url(group, f"/join-requests/{request.uuid}/{action}"))
    if action == "join":
        return client.post(url(group, "/join"), {"message": "hi"}, format="json")
    raise AssertionError(action)


@pytest.mark.parametrize("standing", ["stranger", "former", "member", "admin", "owner"])
@pytest.mark.parametrize("action", list(MATRIX))
def test_authorization_matrix(cast, api_for, user_factory, action, standing):
    actor = cast[standing]
    expected = MATRIX[action][standing]
    before = (_members(cast["group"]).count(), Group.objects.get().status)
    r = _do(action, cast, api_for(actor), actor, user_factory)
    if isinstance(expected, tuple):
        assert_error(r, *expected)
        if action not in ("accept", "reject"):
            assert (_members(cast["group"]).count(), Group.objects.get().status) == before
    else:
        assert r.status_code == expected, r.content


def test_every_write_on_a_disabled_or_dismissed_group_is_group_disabled(cast, api_for, user_factory):
    group, owner = cast["group"], cast["owner"]
    request = services.do_join_group(user=cast["stranger"], group_id=str(group.uuid))
    services.do_admin_set_group_status(group_id=str(group.uuid), status="disabled")
    client = api_for(owner)
    newcomer = user_factory("newcomer")
    do_connect(user=owner, other=newcomer)
    writes = [
        lambda: client.patch(url(group), {"name": "x"}, format="json"),
        lambda: client.delete(url(group)),
        lambda: client.post(url(group, "/members"), {"users": [str(newcomer.uuid)]}, format="json"),
        lambda: client.patch(url(group, f"/members/{cast['member'].uuid}"), {"role": "admin"}, format="json"),
        lambda: client.delete(url(group, f"/members/{cast['member'].uuid}")),
        lambda: client.post(url(group, "/transfer"), {"user": str(cast["member"].uuid)}, format="json"),
        lambda: client.post(url(group, f"/join-requests/{request.uuid}/accept")),
        lambda: client.post(url(group, f"/join-requests/{request.uuid}/reject")),
        lambda: api_for(user_factory("late")).post(url(group, "/join"), {}, format="json"),
    ]
    for write in writes:
        assert_error(write(), 403, "group_disabled")
    # reading stays open to members
    assert client.get(url(group)).json() == group_json(group, my_role="owner")
    assert client.get(url(group, "/members")).status_code == 200
    assert client.get(url(group, "/join-requests")).status_code == 200
    services.do_admin_set_group_status(group_id=str(group.uuid), status="active")
    assert client.delete(url(group)).status_code == 204
    for write in writes[:-1]:
        assert_error(write(), 403, "group_disabled")
    assert client.get(url(group)).json()["status"] == "dismissed"


# --------------------------------------------------------------------------- each write's JSON


def test_patch_group(cast, api_for):
    group = cast["group"]
    r = api_for(cast["admin"]).patch(url(group), {"name": "Renamed", "join_mode": "open"}, format="json")
    assert r.status_code == 200 and r.json() == group_json(group, my_role="admin")
    assert r.json()["name"] == "Renamed" and r.json()["join_mode"] == "open"
    client = api_for(cast["owner"])
    assert_error(client.patch(url(group), {"name": ""}, format="json"), 400, "invalid")
    assert_error(client.patch(url(group), {"join_mode": "x"}, format="json"), 400, "invalid")
    assert_error(client.patch(url(group), {"avatar": str(uuid.uuid4())}, format="json"), 400, "invalid")
    assert client.patch(url(group), {"avatar": None}, format="json").json()["avatar"] is None


def test_add_members_json(cast, api_for, user_factory):
    group, admin = cast["group"], cast["admin"]
    new1, new2 = user_factory("new1"), user_factory("new2")
    for u in (new1, new2):
        do_connect(user=admin, other=u)
    r = api_for(admin).post(
        url(group, "/members"), {"users": [str(new1.uuid), str(new2.uuid), str(cast["member"].uuid)]}, format="json"
    )
    assert r.status_code == 200
    assert r.json() == {"results": [member_json(group, new1), member_json(group, new2)], "next": None}
    client = api_for(admin)
    assert_error(client.post(url(group, "/members"), {"users": []}, format="json"), 400, "invalid")
    assert_error(client.post(url(group, "/members"), {}, format="json"), 400, "invalid")
    assert_error(
        client.post(url(group, "/members"), {"users": [str(cast["stranger"].uuid)]}, format="json"), 403, "not_contact"
    )


def test_member_lists_longer_than_a_group_are_refused_before_any_work(cast, api, api_for, alice, bob):
    """50,000 unknown ids once took minutes (and stalled everyone): a list
    longer than GROUP_MAX_MEMBERS is `invalid` before any query about it."""
    from django.conf import settings

    ids = [str(uuid.uuid4()) for _ in range(50_000)]
    owner_api = api_for(cast["owner"])
    owner_api.get("/api/v1/me")  # authentication's own queries are not the point
    baseline, _ = count_queries(lambda: owner_api.get("/api/v1/me"))
    for client, path, field in (
        (api, "/api/v1/groups", "members"),
        (owner_api, url(cast["group"], "/members"), "users"),
    ):
        queries, r = count_queries(lambda c=client, p=path, f=field: c.post(p, {"name": "x", f: ids}, format="json"))
        err = assert_error(r, 400, "invalid")
        assert set(err["fields"]) == {field}
        assert str(settings.GROUP_MAX_MEMBERS) in err["fields"][field][0]
        assert queries <= baseline
    # Exactly the limit's worth of ids is a list like any other (here: not contacts).
    ids = ids[: settings.GROUP_MAX_MEMBERS]
    assert_error(api.post("/api/v1/groups", {"name": "x", "members": ids}, format="json"), 403, "not_contact")
    # Duplicates collapse (in linear time) before the contact check.
    r = api.post("/api/v1/groups", {"name": "x", "members": [str(bob.uuid)] * 2000}, format="json")
    assert r.status_code == 201 and r.json()["member_count"] == 2


def test_add_beyond_the_limit(cast, api_for, user_factory, settings):
    group, owner = cast["group"], cast["owner"]
    settings.GROUP_MAX_MEMBERS = group.member_count
    newcomer = user_factory("newcomer")
    do_connect(user=owner, other=newcomer)
    assert_error(
        api_for(owner).post(url(group, "/members"), {"users": [str(newcomer.uuid)]}, format="json"), 409, "conflict"
    )


def test_role_remove_transfer_json(cast, api_for):
    group, owner, member = cast["group"], cast["owner"], cast["member"]
    client = api_for(owner)
    r = client.patch(url(group, f"/members/{member.uuid}"), {"role": "admin"}, format="json")
    assert r.status_code == 200 and r.json() == member_json(group, member) and r.json()["role"] == "admin"
    assert_error(client.patch(url(group, f"/members/{member.uuid}"), {"role": "owner"}, format="json"), 400, "invalid")
    assert_error(client.patch(url(group, f"/members/{owner.uuid}"), {"role": "member"}, format="json"), 409, "conflict")
    assert_error(
        client.patch(url(group, f"/members/{uuid.uuid4()}"), {"role": "admin"}, format="json"), 404, "not_found"
    )
    # an admin cannot remove an admin
    assert_error(api_for(cast["admin"]).delete(url(group, f"/members/{member.uuid}")), 403, "forbidden")
    assert_error(client.delete(url(group, f"/members/{cast['former'].uuid}")), 404, "not_found")
    assert_error(client.delete(url(group, f"/members/{owner.uuid}")), 409, "conflict")

    r = client.post(url(group, "/transfer"), {"user": str(member.uuid)}, format="json")
    assert r.status_code == 200 and r.json() == group_json(group, my_role="admin")
    assert r.json()["owner"] == user_to_wire(member)
    assert_error(client.post(url(group, "/transfer"), {"user": str(member.uuid)}, format="json"), 403, "forbidden")
    assert_error(api_for(member).post(url(group, "/transfer"), {}, format="json"), 400, "invalid")
    assert_error(
        api_for(member).post(url(group, "/transfer"), {"user": str(cast["stranger"].uuid)}, format="json"),
        404,
        "not_found",
    )
    # the old owner may now leave
    assert client.post(url(group, "/leave")).status_code == 204
    assert client.get(url(group)).json() == card_json(group)
    assert_error(client.get(url(group, "/members")), 403, "not_member")


def test_join_and_requests_json(cast, api_for, django_assert_num_queries):
    group, stranger = cast["group"], cast["stranger"]
    r = api_for(stranger).post(url(group, "/join"), {"message": "我想加入"}, format="json")
    assert r.status_code == 202
    request = JoinRequest.objects.get()
    assert r.json() == join_json(request) and r.json()["status"] == "pending" and r.json()["message"] == "我想加入"
    assert_error(api_for(stranger).post(url(group, "/join"), {}, format="json"), 409, "conflict")
    assert_error(api_for(stranger).post(url(group, "/join"), {"message": "x" * 201}, format="json"), 400, "invalid")
    assert_error(api_for(stranger).post(f"/api/v1/groups/{uuid.uuid4()}/join", {}, format="json"), 404, "not_found")

    admin = api_for(cast["admin"])
    r = admin.get(url(group, "/join-requests"))
    assert r.json() == {"results": [join_json(request)], "next": None}
    assert admin.get(url(group, "/join-requests"), {"status": "accepted"}).json()["results"] == []
    assert_error(admin.get(url(group, "/join-requests"), {"status": "??"}), 400, "invalid")
    with django_assert_num_queries(1):
        selectors.list_join_requests(group=group, after_id=None, limit=50)

    r = admin.post(url(group, f"/join-requests/{request.uuid}/accept"))
    assert r.status_code == 200 and r.json() == join_json(request) and r.json()["status"] == "accepted"
    assert r.json()["group"]["member_count"] == 5
    assert_error(admin.post(url(group, f"/join-requests/{request.uuid}/reject")), 409, "conflict")
    assert_error(admin.post(url(group, f"/join-requests/{uuid.uuid4()}/accept")), 404, "not_found")
    assert api_for(stranger).get(url(group)).json() == group_json(group, my_role="member")


def test_join_open_group_json(cast, api_for):
    group = cast["group"]
    services.do_update_group(user=cast["owner"], group_id=str(group.uuid), join_mode="open")
    r = api_for(cast["former"]).post(url(group, "/join"), {}, format="json")
    assert r.status_code == 200 and r.json() == member_json(group, cast["former"])


def test_join_requests_are_paged_and_bounded(cast, api_for, user_factory, django_assert_num_queries):
    group = cast["group"]
    for n in range(4):
        services.do_join_group(user=user_factory(f"asker{n}"), group_id=str(group.uuid))
    client = api_for(cast["owner"])
    first = client.get(url(group, "/join-requests"), {"limit": 3}).json()
    assert len(first["results"]) == 3 and first["next"]
    second = client.get(url(group, "/join-requests"), {"limit": 3, "cursor": first["next"]}).json()
    assert len(second["results"]) == 1 and second["next"] is None
    expected = [join_json(r) for r in JoinRequest.objects.order_by("-pk")]
    assert first["results"] + second["results"] == expected
    small, _ = count_queries(lambda: client.get(url(group, "/join-requests"), {"limit": 1}))
    with django_assert_num_queries(small):
        client.get(url(group, "/join-requests"), {"limit": 100})


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/groups"),
        ("post", "/api/v1/groups"),
        ("get", "/api/v1/groups/x"),
        ("patch", "/api/v1/groups/x"),
        ("delete", "/api/v1/groups/x"),
        ("get", "/api/v1/groups/x/members"),
        ("post", "/api/v1/groups/x/members"),
        ("patch", "/api/v1/groups/x/members/y"),
        ("delete", "/api/v1/groups/x/members/y"),
        ("post", "/api/v1/groups/x/leave"),
        ("post", "/api/v1/groups/x/transfer"),
        ("post", "/api/v1/groups/x/join"),
        ("get", "/api/v1/groups/x/join-requests"),
        ("post", "/api/v1/groups/x/join-requests/y/accept"),
        ("post", "/api/v1/groups/x/join-requests/y/reject"),
    ],
)
def test_everything_needs_authentication(anon, method, path):
    assert_error(getattr(anon, method)(path, {}, format="json"), 401, "not_authenticated")


def test_history_follows_membership(cast, api_for):
    """Through the conversations API: a removed member reads up to their removal, members of
    a dismissed group keep their history, a returning member reads from their return."""
    group, owner, member = cast["group"], cast["owner"], cast["member"]
    conversation = str(Group.objects.select_related("conversation").get(pk=group.pk).conversation.uuid)
    history = f"/api/v1/conversations/{conversation}/messages"

    def events_seen(user):
        r = api_for(user).get(history)
        assert r.status_code == 200, r.content
        return [(m["seq"], m["content"]["event"]) for m in r.json()["results"]]

    before = events_seen(member)
    remove(group, owner, member)
    services.do_update_group(user=owner, group_id=str(group.uuid), notice="after she left")
    seen = events_seen(member)
    assert seen[:-1] == before and seen[-1][1] == "member_removed"
    assert events_seen(owner)[-1][1] == "group_updated"

    services.do_update_group(user=owner, group_id=str(group.uuid), join_mode="open")
    services.do_join_group(user=member, group_id=str(group.uuid))
    assert [e for _, e in events_seen(member)] == ["member_added"]

    services.do_dismiss_group(user=owner, group_id=str(group.uuid))
    assert [e for _, e in events_seen(member)] == ["member_added"]
    assert events_seen(owner)[0] == (1, "group_created")
