"""The Django admin as the back office: who gets in and how (accounts' login
limits), read-only pages that render with a bounded number of queries and
escape what users wrote, and actions that call the back-office services."""

from __future__ import annotations

import pytest
from django.test import Client as PageClient

from accounts.middleware import SESSION_KEY
from accounts.models import LoginSession, User
from backoffice import services
from backoffice.models import AuditEntry
from calls.models import Call
from chatsite.testing import count_queries
from conftest import PASSWORD, login_tokens
from contacts.services import do_send_contact_request
from files.models import File
from groups.models import Group
from groups.tests.factories import make_group

pytestmark = pytest.mark.django_db


def log_in(username: str, password: str = PASSWORD, **extra) -> tuple[PageClient, object]:
    page = PageClient(**extra)
    response = page.post("/admin/login/?next=/admin/", {"username": username, "password": password})
    return page, response


@pytest.fixture
def root_page(admin_user) -> PageClient:
    page, response = log_in("root_admin")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    return page


def uid(obj) -> str:
    return str(obj.uuid)


# --------------------------------------------------------------------------- getting in


def test_anonymous_and_plain_users_are_sent_to_the_admin_login(alice):
    assert PageClient().get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    page = PageClient()
    page.force_login(alice)  # a signed-in user who is not an administrator
    response = page.get("/admin/accounts/user/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/accounts/user/"


def test_admin_login_opens_a_web_login_session_held_by_the_cookie(admin_user):
    page, response = log_in("root_admin", HTTP_USER_AGENT="Firefox")
    assert response.status_code == 302
    session = LoginSession.objects.get(user=admin_user)
    assert (session.kind, session.device, session.revoked_at) == ("web", "Firefox", None)
    assert page.session[SESSION_KEY] == str(session.uuid)
    response = page.get("/admin/")
    assert response.status_code == 200
    assert b"WebsocketChat back office" in response.content


def test_a_staff_administrator_gets_in_and_a_superuser_without_staff_too(user_factory):
    user_factory("staffer", is_staff=True)
    User.objects.create_user("bare_root", PASSWORD, is_superuser=True)
    for name in ("staffer", "bare_root"):
        page, response = log_in(name)
        assert response.status_code == 302, name
        assert page.get("/admin/accounts/user/").status_code == 200


def test_an_administrator_may_log_in_with_the_phone_number(user_factory):
    user_factory("staffer", is_staff=True, phone="+8613900139000")
    page, response = log_in("13900139000")
    assert response.status_code == 302
    assert page.get("/admin/").status_code == 200


def test_a_plain_user_is_refused_like_a_wrong_password_and_keeps_no_session(alice):
    _, response = log_in("alice")
    assert response.status_code == 200
    assert b"Please enter the correct" in response.content
    assert not LoginSession.objects.filter(user=alice, revoked_at__isnull=True).exists()
    assert LoginSession.objects.get(user=alice).revoked_reason == "not_admin"


def test_a_disabled_administrator_is_told_so(admin_user, user_factory):
    staff = user_factory("staffer", is_staff=True)
    services.do_disable_user(actor=admin_user, user_id=uid(staff))
    _, response = log_in("staffer")
    assert response.status_code == 200
    assert b"This account has been disabled." in response.content


def test_the_admin_login_counts_failures_like_the_api(settings, admin_user):
    settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT = 3
    for _ in range(3):
        _, response = log_in("root_admin", "wrong-password")
        assert response.status_code == 200 and b"Please enter the correct" in response.content
    _, response = log_in("root_admin")  # the right password, too late
    assert response.status_code == 200
    assert b"Too many failed logins" in response.content
    assert not LoginSession.objects.filter(user=admin_user).exists()
    # The API shares the counter.
    api = PageClient().post(
        "/api/v1/auth/login", {"login": "root_admin", "password": PASSWORD}, content_type="application/json"
    )
    assert api.status_code == 429


def test_disabling_an_administrator_ends_their_admin_session(admin_user, user_factory):
    staff = user_factory("staffer", is_staff=True)
    page, _ = log_in("staffer")
    assert page.get("/admin/").status_code == 200
    services.do_disable_user(actor=admin_user, user_id=uid(staff))
    assert page.get("/admin/")["Location"] == "/admin/login/?next=/admin/"


def test_removing_the_admin_right_closes_the_back_office_at_the_next_request(admin_user, user_factory):
    staff = user_factory("staffer", is_staff=True)
    page, _ = log_in("staffer")
    services.do_set_admin(actor=admin_user, user_id=uid(staff), admin=False)
    assert page.get("/admin/accounts/user/").status_code == 302


def test_logging_out_revokes_the_login_session(root_page, admin_user):
    assert root_page.post("/admin/logout/").status_code == 200
    session = LoginSession.objects.get(user=admin_user)
    assert session.revoked_at is not None and session.revoked_reason == "logout"
    assert root_page.get("/admin/").status_code == 302


# --------------------------------------------------------------------------- changing the password

NEW_PASSWORD = "a-new-admin-password"


def change_password(page: PageClient, old: str = PASSWORD, new: str = NEW_PASSWORD, repeat: str | None = None):
    return page.post(
        "/admin/password_change/",
        {"old_password": old, "new_password1": new, "new_password2": new if repeat is None else repeat},
    )


def test_the_admin_password_change_refuses_what_the_app_refuses(settings, root_page, admin_user):
    for new, said in [
        ("1", "At least 8 characters."),
        ("12345678901", "Must not be all digits."),
        ("Root_Admin", "Must not be the username."),
    ]:
        response = change_password(root_page, new=new)
        assert response.status_code == 200, new
        assert response.context["form"].errors == {"new_password1": [said]}
    form = root_page.get("/admin/password_change/")
    assert b"Repeat the new password" in form.content
    assert b"At least 8 characters, not all digits, not your username." in form.content
    response = change_password(root_page, repeat="a-new-admin-passwort")
    assert response.context["form"].errors == {"new_password2": ["The two passwords differ."]}
    response = change_password(root_page, old="not-my-password")
    assert response.context["form"].errors == {"old_password": ["The current password is wrong."]}
    # A wrong current password counts against the login limit, as in the app.
    settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT = 2
    change_password(root_page, old="not-my-password")
    response = change_password(root_page)
    assert response.context["form"].errors == {"old_password": ["Too many failed attempts; wait a while."]}
    admin_user.refresh_from_db()
    assert admin_user.check_password(PASSWORD)
    assert not LoginSession.objects.filter(user=admin_user, revoked_at__isnull=False).exists()


def test_changing_the_admin_password_ends_the_other_sessions_and_keeps_this_one(root_page, admin_user):
    other_page, _ = log_in("root_admin")
    login_tokens(admin_user)  # the app, signed in elsewhere
    this_session = root_page.session[SESSION_KEY]
    response = change_password(root_page)
    assert response.status_code == 302
    assert response["Location"] == "/admin/password_change/done/"
    assert root_page.get("/admin/").status_code == 200
    assert other_page.get("/admin/")["Location"] == "/admin/login/?next=/admin/"
    sessions = LoginSession.objects.filter(user=admin_user)
    assert sessions.count() == 3
    assert {str(s.uuid) for s in sessions if s.revoked_at is None} == {this_session}
    assert {s.revoked_reason for s in sessions if s.revoked_at is not None} == {"password_changed"}
    admin_user.refresh_from_db()
    assert admin_user.check_password(NEW_PASSWORD)
    assert log_in("root_admin", NEW_PASSWORD)[1].status_code == 302


# --------------------------------------------------------------------------- pages


def test_the_sidebar_says_deliveries(root_page):
    content = root_page.get("/admin/").content
    assert b"Deliveries" in content
    assert b"Deliverys" not in content


@pytest.fixture
def rows(admin_user, alice, bob, carol, user_factory):
    """A few rows of every model the back office shows."""

    def add(n: int) -> None:
        for i in range(n):
            u = user_factory(nickname=f"N{i}", phone=None)
            do_send_contact_request(user=u, to=uid(carol))
            group = make_group(u, members=[carol], name=f"G-{u.username}")
            services.do_set_group_status(actor=admin_user, group_id=uid(group), status="disabled")
            Call.objects.create(caller=u, callee=carol, media="audio")
            File.objects.create(owner=u, name=f"f{u.pk}.png", size=1, mime="image/png", storage_key=f"k/{u.pk}")

    add(2)
    return add


CHANGELISTS = [
    "/admin/accounts/user/",
    "/admin/groups/group/",
    "/admin/contacts/contactrequest/",
    "/admin/calls/call/",
    "/admin/conversations/conversation/",
    "/admin/files/file/",
    "/admin/backoffice/auditentry/",
]


@pytest.mark.parametrize("path", CHANGELISTS)
def test_changelists_render_with_queries_that_do_not_grow_with_the_rows(root_page, rows, path):
    small, response = count_queries(lambda: root_page.get(path))
    assert response.status_code == 200
    rows(5)
    large, response = count_queries(lambda: root_page.get(path))
    assert response.status_code == 200
    assert large == small, f"{path}: {small} queries with few rows, {large} with more"


def test_every_change_page_is_a_read_only_view(root_page, admin_user, alice, bob, rows):
    group = Group.objects.filter(owner__username="user1").get()
    pages = {
        f"/admin/accounts/user/{alice.pk}/change/": b"alice",
        f"/admin/groups/group/{group.pk}/change/": b"members",
        f"/admin/calls/call/{Call.objects.first().pk}/change/": b"audio",
        f"/admin/backoffice/auditentry/{AuditEntry.objects.first().pk}/change/": b"group.disable",
    }
    for path, text in pages.items():
        response = root_page.get(path)
        assert response.status_code == 200, path
        assert text in response.content
        assert b'name="_save"' not in response.content
        assert root_page.post(path, {"reason": "edited"}).status_code == 403, path
    for path in (
        "/admin/accounts/user/add/",
        "/admin/groups/group/add/",
        "/admin/backoffice/auditentry/add/",
        f"/admin/backoffice/auditentry/{AuditEntry.objects.first().pk}/delete/",
        f"/admin/accounts/user/{alice.pk}/delete/",
        f"/admin/groups/group/{group.pk}/delete/",
    ):
        assert root_page.get(path).status_code == 403, path
        assert root_page.post(path, {"post": "yes"}).status_code == 403, path
    assert AuditEntry.objects.filter(reason="edited").count() == 0
    assert User.objects.filter(pk=alice.pk, status="active").exists()


def test_user_strings_are_escaped(root_page, user_factory):
    user_factory("mallory", nickname="<script>alert(1)</script>")
    group = make_group(User.objects.get(username="mallory"), name="<img src=x onerror=alert(2)>")
    response = root_page.get("/admin/accounts/user/")
    assert b"<script>alert(1)</script>" not in response.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in response.content
    for path in ("/admin/groups/group/", f"/admin/groups/group/{group.pk}/change/"):
        content = root_page.get(path).content
        assert b"<img src=x" not in content and b"&lt;img src=x onerror=alert(2)&gt;" in content


def test_users_are_searched_by_username_phone_and_nickname_and_filtered(root_page, admin_user, alice, bob, carol):
    services.do_disable_user(actor=admin_user, user_id=uid(carol))
    services.do_set_admin(actor=admin_user, user_id=uid(bob), admin=True)

    def listed(params) -> set[str]:
        response = root_page.get("/admin/accounts/user/", params)
        assert response.status_code == 200
        return {u.username for u in response.context["cl"].result_list}

    assert listed({"q": "ali"}) == {"alice"}
    assert listed({"q": "138001"}) == {"alice", "bob"}
    assert listed({"q": "Caro"}) == {"carol"}
    assert listed({"status__exact": "disabled"}) == {"carol"}
    assert listed({"role": "admin"}) == {"bob", "root_admin"}
    assert listed({"role": "superuser"}) == {"root_admin"}
    assert listed({"role": "user"}) == {"alice", "carol"}


def test_groups_are_searched_and_filtered(root_page, admin_user, alice, bob):
    first = make_group(alice, members=[bob], name="Hiking")
    make_group(bob, name="Cooking")
    services.do_set_group_status(actor=admin_user, group_id=uid(first), status="disabled")

    def listed(params) -> set[str]:
        return {g.name for g in root_page.get("/admin/groups/group/", params).context["cl"].result_list}

    assert listed({"q": "hik"}) == {"Hiking"}
    assert listed({"q": "bob"}) == {"Cooking"}
    assert listed({"status__exact": "disabled"}) == {"Hiking"}


def test_the_actions_offered_are_the_back_office_ones(root_page):
    actions = root_page.get("/admin/accounts/user/").context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == [
        "disable",
        "enable",
        "set_admin",
        "unset_admin",
        "delete_and_anonymise",
    ]
    actions = root_page.get("/admin/groups/group/").context["action_form"].fields["action"].choices
    assert [name for name, _ in actions if name] == ["disable", "enable", "dismiss"]
    assert root_page.get("/admin/backoffice/auditentry/").context["action_form"] is None


# --------------------------------------------------------------------------- actions


def act(page: PageClient, path: str, action: str, objs, reason: str = ""):
    return page.post(
        path, {"action": action, "_selected_action": [o.pk for o in objs], "reason": reason, "index": 0}, follow=True
    )


def test_user_actions_call_the_services_and_are_audited_as_admin(root_page, admin_user, alice, bob, carol):
    path = "/admin/accounts/user/"
    response = act(root_page, path, "disable", [alice, bob], "spam")
    assert b"Disable: 2 done." in response.content
    act(root_page, path, "enable", [bob])
    act(root_page, path, "set_admin", [carol])
    act(root_page, path, "unset_admin", [carol], "trial over")
    response = act(root_page, path, "delete_and_anonymise", [alice])
    assert b"Delete: 1 done." in response.content
    for user in (alice, bob, carol):
        user.refresh_from_db()
    assert (alice.status, alice.username) == ("deleted", None)
    assert bob.status == "active" and not carol.is_admin
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "target_label", "reason", "via")) == [
        ("user.disable", "alice", "spam", "admin"),
        ("user.disable", "bob", "spam", "admin"),
        ("user.enable", "bob", "", "admin"),
        ("user.set_admin", "carol", "", "admin"),
        ("user.unset_admin", "carol", "trial over", "admin"),
        ("user.delete", "alice", "", "admin"),
    ]


def test_a_refused_action_says_why_and_the_others_still_happen(root_page, admin_user, alice):
    response = act(root_page, "/admin/accounts/user/", "disable", [admin_user, alice])
    assert b"Disable: 1 done." in response.content
    assert b"Disable refused for root_admin: You cannot disable yourself." in response.content
    admin_user.refresh_from_db()
    assert admin_user.status == "active"
    assert list(AuditEntry.objects.values_list("action", "target_label")) == [("user.disable", "alice")]


def test_group_actions_call_the_services_and_are_audited_as_admin(root_page, alice, bob):
    group = make_group(alice, members=[bob], name="Team")
    path = "/admin/groups/group/"
    act(root_page, path, "disable", [group], "raids")
    act(root_page, path, "enable", [group])
    act(root_page, path, "dismiss", [group])
    response = act(root_page, path, "enable", [group])
    assert b"Enable refused for Team: This group is dismissed." in response.content
    assert Group.objects.get(pk=group.pk).status == "dismissed"
    assert list(AuditEntry.objects.order_by("pk").values_list("action", "reason", "via")) == [
        ("group.disable", "raids", "admin"),
        ("group.enable", "", "admin"),
        ("group.dismiss", "", "admin"),
    ]


# --------------------------------------------------------------------------- a reported message


def test_a_message_is_found_by_its_id_with_its_earlier_versions_and_the_look_is_audited(root_page, alice, bob):
    from datetime import timedelta

    from django.utils import timezone

    from contacts.models import Contact
    from conversations.models import Message
    from messaging.actions.edit import do_edit_message
    from messaging.tests.helpers import store_text_sync

    direct = str(Contact.objects.get(owner=alice, other=bob).conversation.uuid)
    message = store_text_sync(sender=alice, conversation_uuid=direct, text="first <b>draft</b>")
    do_edit_message(user=alice, message_id=str(message.uuid), content="second", now=timezone.now())
    do_edit_message(
        user=alice, message_id=str(message.uuid), content="final", now=timezone.now() + timedelta(seconds=1)
    )

    # Nothing is listed until searched by an exact id; a malformed one finds nothing.
    listing = root_page.get("/admin/conversations/message/")
    assert listing.status_code == 200 and str(message.uuid) not in listing.content.decode()
    assert root_page.get("/admin/conversations/message/?q=not-an-id").status_code == 200
    found = root_page.get(f"/admin/conversations/message/?q={message.uuid}")
    assert str(message.uuid) in found.content.decode()
    assert not AuditEntry.objects.filter(action="message.view").exists()

    page = root_page.get(f"/admin/conversations/message/{Message.objects.get(uuid=message.uuid).pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "final" in html and "second" in html
    assert "first &lt;b&gt;draft&lt;/b&gt;" in html and "<b>draft</b>" not in html
    [entry] = AuditEntry.objects.filter(action="message.view")
    assert (entry.target_type, entry.target_id, entry.actor.username) == ("message", str(message.uuid), "root_admin")
    assert entry.metadata == {"versions": 2, "edited": True}


def test_a_list_filters_only_by_what_it_offers_so_no_text_is_searched_unaudited(root_page, alice, bob):
    """A changelist's address could filter on any field of the model: message
    text, a bot event's payload, a password hash. Only the filters the page
    offers are taken; any other is refused and lists nothing."""
    from contacts.models import Contact
    from messaging.tests.helpers import store_text_sync

    direct = str(Contact.objects.get(owner=alice, other=bob).conversation.uuid)
    message = store_text_sync(sender=alice, conversation_uuid=direct, text="the password is hunter2")
    for address in (
        f"/admin/conversations/message/?q={message.uuid}&text__icontains=hunter2",
        "/admin/accounts/user/?password__startswith=md5",
        "/admin/bots/delivery/?payload__icontains=hunter2",
    ):
        answer = root_page.get(address)
        assert answer.status_code in (302, 400), (address, answer.status_code)
        assert str(message.uuid) not in answer.content.decode()
    assert not AuditEntry.objects.filter(action="message.view").exists()
    # What the pages offer still works.
    assert root_page.get("/admin/accounts/user/?status__exact=active").status_code == 200
    assert root_page.get("/admin/bots/bot/?user__status__exact=active").status_code == 200


def test_bots_are_listed_with_their_owner_and_an_administrator_disables_or_deletes_one(root_page, alice):
    from accounts.actions.sessions import authenticate_bot_key, issue_bot_key
    from bots.services import do_create_bot
    from chatsite.errors import AccountDisabled, NotAuthenticated

    bot = do_create_bot(owner=alice, username="spam_bot", is_public=True)
    _, key = issue_bot_key(bot=bot.user, name="k")
    page = root_page.get("/admin/bots/bot/")
    assert page.status_code == 200 and b"spam_bot" in page.content and b"alice" in page.content
    only_bots = root_page.get("/admin/accounts/user/?is_bot__exact=1")
    assert f"/admin/accounts/user/{bot.user.pk}/change/".encode() in only_bots.content
    assert f"/admin/accounts/user/{alice.pk}/change/".encode() not in only_bots.content
    assert b"Disable: 1 done." in act(root_page, "/admin/accounts/user/", "disable", [bot.user], "spam").content
    with pytest.raises(AccountDisabled):
        authenticate_bot_key(key)
    # Disabling the bot itself revoked its keys, as it ends a person's sessions:
    # enabled again, it needs a new key from its owner.
    act(root_page, "/admin/accounts/user/", "enable", [bot.user])
    with pytest.raises(NotAuthenticated):
        authenticate_bot_key(key)
    _, key = issue_bot_key(bot=bot.user, name="after")
    assert authenticate_bot_key(key)[0] == bot.user
    assert b"Delete: 1 done." in act(root_page, "/admin/accounts/user/", "delete_and_anonymise", [bot.user]).content
    with pytest.raises(NotAuthenticated):
        authenticate_bot_key(key)
    refused = act(root_page, "/admin/accounts/user/", "set_admin", [User.objects.get(pk=bot.user.pk)])
    assert b"Set admin: 0 done." in refused.content or b"refused" in refused.content
