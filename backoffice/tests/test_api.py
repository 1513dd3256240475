"""The admin API (rest.md "Administration"): status and whole JSON, every
error code, the audit entry of each action, bounded queries."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import User
from accounts.serializers import user_to_wire
from backoffice.models import AuditEntry
from chatsite.testing import ISO, assert_error, count_queries
from chatsite.wire import iso
from conftest import PASSWORD
from contacts.models import Contact
from groups.models import Group
from groups.serializers import group_to_wire
from groups.tests.factories import make_group
from messaging.tests.helpers import store_text_sync

pytestmark = pytest.mark.django_db

A = "/api/v1/admin"


@pytest.fixture
def root(api_for, admin_user):
    return api_for(admin_user)


def uid(obj) -> str:
    return str(obj.uuid)


def admin_wire(user: User) -> dict:
    user.refresh_from_db()
    return {**user_to_wire(user), "phone": user.phone, "status": user.status}


def group_wire(group: Group) -> dict:
    group = Group.objects.select_related("owner__avatar", "avatar", "conversation").get(pk=group.pk)
    return group_to_wire(group, my_role=None)


def entry_wire(entry: AuditEntry) -> dict:
    return {
        "id": uid(entry),
        "actor": {"id": uid(entry.actor) if entry.actor else None, "label": entry.actor_label},
        "action": entry.action,
        "target": {"type": entry.target_type, "id": entry.target_id, "label": entry.target_label},
        "reason": entry.reason,
        "via": entry.via,
        "metadata": entry.metadata,
        "created_at": iso(entry.created_at),
    }


def endpoints(user_id: str, group_id: str) -> list[tuple[str, str]]:
    return [
        ("get", f"{A}/users"),
        ("post", f"{A}/users/{user_id}/disable"),
        ("post", f"{A}/users/{user_id}/enable"),
        ("post", f"{A}/users/{user_id}/set-admin"),
        ("post", f"{A}/users/{user_id}/unset-admin"),
        ("delete", f"{A}/users/{user_id}"),
        ("get", f"{A}/groups"),
        ("post", f"{A}/groups/{group_id}/disable"),
        ("post", f"{A}/groups/{group_id}/enable"),
        ("delete", f"{A}/groups/{group_id}"),
        ("get", f"{A}/audit"),
    ]


# --------------------------------------------------------------------------- who may call it


def test_everyone_but_administrators_is_refused_and_nothing_changes(api, anon, alice, bob, carol, api_for):
    group = make_group(alice, members=[bob])
    staff_disabled = User.objects.create_user("exstaff", PASSWORD, is_staff=True, status="disabled")
    for method, path in endpoints(uid(carol), uid(group)):
        assert_error(getattr(api, method)(path, {}, format="json"), 403, "forbidden")
        response = getattr(anon, method)(path, {}, format="json")
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    # A disabled administrator's token: account_disabled, before any rule of the back office.
    client = api_for(staff_disabled)
    assert_error(client.get(f"{A}/users"), 403, "account_disabled")
    carol.refresh_from_db()
    assert carol.status == "active" and not carol.is_admin
    assert Group.objects.get(pk=group.pk).status == "active"
    assert AuditEntry.objects.count() == 0


# --------------------------------------------------------------------------- users


def test_list_users_whole_json_newest_first_with_status_and_phone(root, admin_user, alice, bob, carol):
    response = root.get(f"{A}/users")
    assert response.status_code == 200
    assert response.json() == {
        "results": [admin_wire(u) for u in (carol, bob, alice, admin_user)],
        "next": None,
    }
    assert response.json()["results"][2]["phone"] == "+8613800138000"
    assert response.json()["results"][2]["status"] == "active"


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ALI", ["alice"]),
        ("bo", ["bob"]),
        ("Caro", ["carol"]),  # nickname
        ("138001", ["bob", "alice"]),  # part of a phone number
        ("13800138001", ["bob"]),  # a whole mainland number
        ("+86 138 0013 8000", ["alice"]),
        ("nobody", []),
        ("  ", ["carol", "bob", "alice", "root_admin"]),
    ],
)
def test_list_users_search(root, admin_user, alice, bob, carol, q, expected):
    response = root.get(f"{A}/users", {"q": q})
    assert response.status_code == 200
    assert [u["username"] for u in response.json()["results"]] == expected


def test_list_users_by_id_and_by_status(root, admin_user, alice, bob, carol):
    assert [u["id"] for u in root.get(f"{A}/users", {"q": uid(bob)}).json()["results"]] == [uid(bob)]
    root.post(f"{A}/users/{uid(bob)}/disable", {}, format="json")
    root.delete(f"{A}/users/{uid(carol)}", {}, format="json")
    assert [u["id"] for u in root.get(f"{A}/users", {"status": "disabled"}).json()["results"]] == [uid(bob)]
    deleted = root.get(f"{A}/users", {"status": "deleted"}).json()["results"]
    assert [(u["id"], u["username"], u["nickname"], u["phone"]) for u in deleted] == [
        (uid(carol), "", "Deleted user", None)
    ]
    assert len(root.get(f"{A}/users", {"status": "active"}).json()["results"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "gone"}, "status"),
        ({"q": "x" * 65}, "q"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "WyJhIl0"}, "cursor"),  # ["a"]
    ],
)
def test_list_users_bad_parameters_are_invalid(root, params, field):
    error = assert_error(root.get(f"{A}/users", params), 400, "invalid")
    assert list(error["fields"]) == [field]


def test_list_users_pages_with_a_bounded_number_of_queries(root, admin_user, user_factory):
    for n in range(7):
        user_factory(f"member{n}")
    n_small, first = count_queries(lambda: root.get(f"{A}/users", {"limit": "3"}))
    n_large, _ = count_queries(lambda: root.get(f"{A}/users", {"limit": "8"}))
    assert n_small == n_large <= 3  # the caller's session and user, the page
    body = first.json()
    assert [u["username"] for u in body["results"]] == ["member6", "member5", "member4"]
    seen = [u["username"] for u in body["results"]]
    while body["next"]:
        body = root.get(f"{A}/users", {"limit": "3", "cursor": body["next"]}).json()
        seen += [u["username"] for u in body["results"]]
    assert seen == [f"member{n}" for n in range(6, -1, -1)] + ["root_admin"]


def test_disable_and_enable_answer_the_user_and_are_audited(root, admin_user, alice):
    response = root.post(f"{A}/users/{uid(alice)}/disable", {"reason": "spam"}, format="json")
    assert response.status_code == 200
    assert response.json() == admin_wire(alice)
    assert response.json()["status"] == "disabled"
    response = root.post(f"{A}/users/{uid(alice)}/enable", format="json")  # no body at all
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    disable, enable = AuditEntry.objects.order_by("pk")
    assert (disable.action, disable.reason, disable.via, disable.actor_id) == (
        "user.disable",
        "spam",
        "api",
        admin_user.pk,
    )
    assert (enable.action, enable.reason, enable.via) == ("user.enable", "", "api")


def test_set_and_unset_admin(root, admin_user, alice):
    response = root.post(f"{A}/users/{uid(alice)}/set-admin", {}, format="json")
    assert response.status_code == 200
    assert response.json() == admin_wire(alice)
    assert response.json()["is_admin"] is True
    response = root.post(f"{A}/users/{uid(alice)}/unset-admin", {"reason": "stepped down"}, format="json")
    assert response.status_code == 200 and response.json()["is_admin"] is False
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "reason")) == [
        ("user.set_admin", ""),
        ("user.unset_admin", "stepped down"),
    ]


def test_refusals_of_user_actions(root, admin_user, alice):
    me = uid(admin_user)
    for path in (f"{A}/users/{me}/unset-admin", f"{A}/users/{me}/disable"):
        assert_error(root.post(path, {}, format="json"), 409, "conflict")
    assert_error(root.delete(f"{A}/users/{me}", {}, format="json"), 409, "conflict")
    for bad in (str(uuid.uuid4()), "nope", uid(admin_user)[:-1]):
        assert_error(root.post(f"{A}/users/{bad}/disable", {}, format="json"), 404, "not_found")
        assert_error(root.delete(f"{A}/users/{bad}", {}, format="json"), 404, "not_found")
    for body in ({"reason": 5}, {"reason": "x" * 501}, {"reason": "a\x07b"}):
        error = assert_error(root.post(f"{A}/users/{uid(alice)}/disable", body, format="json"), 400, "invalid")
        assert list(error["fields"]) == ["reason"]
    assert_error(root.post(f"{A}/users/{uid(alice)}/disable", "[1]", content_type="application/json"), 400, "invalid")
    alice.refresh_from_db()
    assert alice.status == "active"
    assert AuditEntry.objects.count() == 0


def test_a_staff_administrator_cannot_touch_a_superuser(api_for, admin_user, user_factory):
    staff = api_for(user_factory("staffer", is_staff=True))
    for path in (f"{A}/users/{uid(admin_user)}/disable", f"{A}/users/{uid(admin_user)}/unset-admin"):
        assert_error(staff.post(path, {}, format="json"), 403, "forbidden")
    assert_error(staff.delete(f"{A}/users/{uid(admin_user)}"), 403, "forbidden")
    assert staff.get(f"{A}/users").status_code == 200


def test_delete_answers_the_anonymised_user_and_keeps_messages_under_a_deleted_sender(
    root, api_for, admin_user, alice, bob
):
    conversation = Contact.objects.get(owner=bob, other=alice).conversation
    message = store_text_sync(sender=alice, conversation_uuid=uid(conversation), text="hello")
    response = root.delete(f"{A}/users/{uid(alice)}", {"reason": "request"}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "id": uid(alice),
        "username": "",
        "nickname": "Deleted user",
        "avatar": None,
        "signature": "",
        "is_admin": False,
        "is_bot": False,
        "created_at": iso(alice.created_at),
        "phone": None,
        "status": "deleted",
    }
    history = api_for(bob).get(f"/api/v1/conversations/{uid(conversation)}/messages").json()["results"]
    [stored] = [m for m in history if m["id"] == uid(message)]
    assert stored["content"] == "hello"
    assert stored["sender"]["id"] == uid(alice) and stored["sender"]["nickname"] == "Deleted user"
    assert stored["sender"]["username"] == ""
    assert_error(api_for(bob).get(f"/api/v1/users/{uid(alice)}"), 404, "not_found")
    # Deleting again changes nothing and records nothing more.
    again = root.delete(f"{A}/users/{uid(alice)}", format="json")
    assert again.status_code == 200 and again.json() == response.json()
    assert list(AuditEntry.objects.values_list("action", "reason")) == [("user.delete", "request")]


# --------------------------------------------------------------------------- groups


def test_list_groups_whole_json_search_status_and_paging(root, alice, bob, user_factory):
    first = make_group(alice, members=[bob], name="Book club")
    second = make_group(alice, name="Chess")
    third = make_group(bob, name="Books and tea")
    root.post(f"{A}/groups/{uid(second)}/disable", {}, format="json")
    response = root.get(f"{A}/groups")
    assert response.status_code == 200
    assert response.json() == {"results": [group_wire(g) for g in (third, second, first)], "next": None}
    assert response.json()["results"][0]["my_role"] is None
    names = lambda params: [g["name"] for g in root.get(f"{A}/groups", params).json()["results"]]  # noqa: E731
    assert names({"q": "book"}) == ["Books and tea", "Book club"]
    assert names({"q": "BOB"}) == ["Books and tea"]  # the owner's username
    assert names({"q": uid(first)}) == ["Book club"]
    assert names({"status": "disabled"}) == ["Chess"]
    assert names({"status": "active", "q": "chess"}) == []
    assert_error(root.get(f"{A}/groups", {"status": "paused"}), 400, "invalid")
    page1 = root.get(f"{A}/groups", {"limit": "2"}).json()
    page2 = root.get(f"{A}/groups", {"limit": "2", "cursor": page1["next"]}).json()
    assert [g["name"] for g in page1["results"] + page2["results"]] == ["Books and tea", "Chess", "Book club"]
    assert page2["next"] is None


def test_list_groups_queries_do_not_grow_with_the_page(root, alice, bob):
    for n in range(6):
        make_group(alice, members=[bob], name=f"G{n}")
    small, _ = count_queries(lambda: root.get(f"{A}/groups", {"limit": "2"}))
    large, _ = count_queries(lambda: root.get(f"{A}/groups", {"limit": "6"}))
    assert small == large <= 3


def test_group_actions_answer_the_group_and_are_audited(root, admin_user, alice, bob):
    group = make_group(alice, members=[bob], name="Team")
    response = root.post(f"{A}/groups/{uid(group)}/disable", {"reason": "spam ring"}, format="json")
    assert response.status_code == 200
    assert response.json() == group_wire(group)
    assert response.json()["status"] == "disabled"
    assert root.post(f"{A}/groups/{uid(group)}/enable", {}, format="json").json()["status"] == "active"
    response = root.delete(f"{A}/groups/{uid(group)}", {}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    assert_error(root.post(f"{A}/groups/{uid(group)}/enable", {}, format="json"), 409, "conflict")
    assert_error(root.post(f"{A}/groups/{uuid.uuid4()}/disable", {}, format="json"), 404, "not_found")
    assert_error(root.delete(f"{A}/groups/not-an-id"), 404, "not_found")
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "target_label", "reason", "via")) == [
        ("group.disable", "Team", "spam ring", "api"),
        ("group.enable", "Team", "", "api"),
        ("group.dismiss", "Team", "", "api"),
    ]


# --------------------------------------------------------------------------- the audit log


def test_audit_log_whole_json_and_filters(root, api_for, admin_user, alice, bob, user_factory):
    staff = user_factory("staffer", is_staff=True)
    other = api_for(staff)
    group = make_group(alice, members=[bob], name="Team")
    root.post(f"{A}/users/{uid(alice)}/disable", {"reason": "spam"}, format="json")
    other.post(f"{A}/groups/{uid(group)}/disable", {}, format="json")
    root.post(f"{A}/users/{uid(bob)}/set-admin", {}, format="json")
    entries = list(AuditEntry.objects.select_related("actor").order_by("-pk"))
    response = root.get(f"{A}/audit")
    assert response.status_code == 200
    assert response.json() == {"results": [entry_wire(e) for e in entries], "next": None}
    newest = response.json()["results"][0]
    assert newest["actor"] == {"id": uid(admin_user), "label": "root_admin"}
    assert newest["target"] == {"type": "user", "id": uid(bob), "label": "bob"}
    assert newest["action"] == "user.set_admin" and ISO.match(newest["created_at"])
    actions = lambda params: [e["action"] for e in root.get(f"{A}/audit", params).json()["results"]]  # noqa: E731
    assert actions({"actor": uid(admin_user)}) == ["user.set_admin", "user.disable"]
    assert actions({"actor": uid(staff)}) == ["group.disable"]
    assert actions({"target": uid(group)}) == ["group.disable"]
    assert actions({"target": uid(alice), "actor": uid(staff)}) == []
    assert actions({"target": str(uuid.uuid4())}) == []
    for params, field in (({"actor": "root_admin"}, "actor"), ({"target": "42"}, "target")):
        assert list(assert_error(root.get(f"{A}/audit", params), 400, "invalid")["fields"]) == [field]
    page1 = root.get(f"{A}/audit", {"limit": "2"}).json()
    page2 = root.get(f"{A}/audit", {"limit": "2", "cursor": page1["next"]}).json()
    assert [e["id"] for e in page1["results"] + page2["results"]] == [uid(e) for e in entries]
    small, _ = count_queries(lambda: root.get(f"{A}/audit", {"limit": "1"}))
    large, _ = count_queries(lambda: root.get(f"{A}/audit", {"limit": "3"}))
    assert small == large <= 3
