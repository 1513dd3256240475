"""Back-office services: what each action changes, who is told, the audit
entry it writes, and every refusal (which writes nothing)."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.actions.login import do_login_password, do_register
from accounts.actions.sessions import Client, authenticate_access_token, do_refresh
from accounts.models import LoginSession, User, UserStatus
from accounts.serializers import user_to_wire
from backoffice import services
from backoffice.models import AuditEntry, AuditLogIsAppendOnly
from calls.models import Call, CallSlot
from calls.services import do_accept_call, do_invite_call, on_user_connected
from calls.tests.helpers import ANSWER, OFFER
from chatsite.errors import (
    AccountDisabled,
    Conflict,
    Forbidden,
    Invalid,
    InvalidCredentials,
    NotAuthenticated,
    NotFound,
)
from conftest import PASSWORD, login_tokens
from contacts.models import Block, Contact, ContactRequest
from contacts.services import do_block, do_connect, do_send_contact_request
from conversations.models import Member, Message
from conversations.serializers import message_to_wire
from groups import services as groups
from groups.models import Group, GroupStatus, JoinRequest
from groups.serializers import group_to_wire
from groups.tests.factories import make_group
from messaging.tests.helpers import store_text_sync

pytestmark = pytest.mark.django_db

CLIENT = Client(ip="10.0.0.1", device="pytest")


@pytest.fixture
def staff(user_factory):
    """An administrator who is staff, not superuser."""
    return user_factory("staffer", nickname="Staffer", is_staff=True)


def uid(obj) -> str:
    return str(obj.uuid)


def entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.order_by("pk"))


def live_sessions(user) -> int:
    return LoginSession.objects.filter(user=user, revoked_at__isnull=True).count()


def assert_entry(entry: AuditEntry, *, actor, action, target_type, target, label, reason="", via="api", metadata=None):
    assert entry.actor_id == actor.pk
    assert entry.actor_label == actor.username
    assert entry.action == action
    assert entry.target_type == target_type
    assert entry.target_id == str(target.uuid)
    assert entry.target_label == label
    assert entry.reason == reason
    assert entry.via == via
    if metadata is not None:
        assert entry.metadata == metadata
    assert entry.created_at is not None


# --------------------------------------------------------------------------- disable and enable


def test_disable_revokes_every_session_closes_sockets_with_4403_and_is_audited(closes, events, admin_user, alice):
    tokens = [login_tokens(alice), login_tokens(alice)]
    with events.capture():
        user = services.do_disable_user(actor=admin_user, user_id=uid(alice), reason="  spam \n")
    assert user.status == UserStatus.DISABLED
    alice.refresh_from_db()
    assert alice.status == UserStatus.DISABLED
    assert live_sessions(alice) == 0
    assert set(LoginSession.objects.filter(user=alice).values_list("revoked_reason", flat=True)) == {"disabled"}
    assert closes.items == [({alice.pk}, 4403, None)]
    [entry] = entries()
    assert_entry(
        entry,
        actor=admin_user,
        action="user.disable",
        target_type="user",
        target=alice,
        label="alice",
        reason="spam",
        metadata={"sessions_revoked": 2},
    )
    # Tokens, refreshes and logins answer account_disabled from now on (the
    # sessions are revoked, but the refresh says why, not "session ended").
    with pytest.raises(AccountDisabled):
        authenticate_access_token(tokens[0]["access"])
    with pytest.raises(AccountDisabled):
        do_refresh(refresh_token=tokens[1]["refresh"])
    with pytest.raises(AccountDisabled):
        do_login_password(login="alice", password=PASSWORD, client=CLIENT)


def _live_call(caller, callee, *, answered: bool):
    call = do_invite_call(caller=caller, to=uid(callee), media="audio", sdp=OFFER, socket_id="s-caller", ref=None)
    if answered:
        do_accept_call(user=callee, call_id=uid(call), sdp=ANSWER, socket_id="s-callee", ref=None)
    return call


@pytest.mark.parametrize("answered", [False, True], ids=["ringing", "active"])
@pytest.mark.parametrize("who", ["caller", "callee"])
def test_disabling_a_user_ends_their_call_and_tells_the_other_why(events, admin_user, alice, bob, who, answered):
    call = _live_call(alice, bob, answered=answered)
    target, other = (alice, bob) if who == "caller" else (bob, alice)
    with events.capture():
        services.do_disable_user(actor=admin_user, user_id=uid(target))
    row = Call.objects.get(pk=call.pk)
    assert (row.state, row.outcome, row.ended_by_id) == ("ended", "failed", None)
    assert row.end_reason == "account_disabled"
    assert not CallSlot.objects.exists()
    [(to, ended)] = [(uids, f) for uids, f in events.of_type("call.ended") if other.pk in uids]
    assert ended == {
        "type": "call.ended",
        "call_id": uid(call),
        "by": None,
        "outcome": "failed",
        "duration_s": row.duration_s,
        "reason": "account_disabled",
    }
    # A socket of the callee that connects now is not rung by a disabled caller.
    assert on_user_connected(user_id=bob.pk) is None


def test_deleting_a_user_ends_their_call_and_tells_the_other_why(events, admin_user, alice, bob):
    call = _live_call(alice, bob, answered=True)
    with events.capture():
        services.do_delete_user(actor=admin_user, user_id=uid(bob))
    row = Call.objects.get(pk=call.pk)
    assert (row.state, row.outcome, row.ended_by_id) == ("ended", "failed", None)
    assert row.end_reason == "account_deleted"
    [ended] = [f for uids, f in events.of_type("call.ended") if alice.pk in uids]
    assert (ended["outcome"], ended["by"], ended["reason"]) == ("failed", None, "account_deleted")


def test_enable_lets_the_user_log_in_again_and_is_audited(admin_user, alice):
    services.do_disable_user(actor=admin_user, user_id=uid(alice))
    user = services.do_enable_user(actor=admin_user, user_id=uid(alice), reason="appeal accepted", via="admin")
    assert user.status == UserStatus.ACTIVE
    assert do_login_password(login="alice", password=PASSWORD, client=CLIENT).user.pk == alice.pk
    disable, enable = entries()
    assert disable.action == "user.disable" and disable.reason == ""
    assert_entry(
        enable,
        actor=admin_user,
        action="user.enable",
        target_type="user",
        target=alice,
        label="alice",
        reason="appeal accepted",
        via="admin",
        metadata={},
    )


def test_an_action_on_a_target_already_in_that_state_writes_nothing(closes, events, admin_user, alice, bob):
    services.do_disable_user(actor=admin_user, user_id=uid(alice))
    closes.items.clear()
    login_tokens(bob)
    with events.capture():
        assert services.do_disable_user(actor=admin_user, user_id=uid(alice)).status == "disabled"
        assert services.do_enable_user(actor=admin_user, user_id=uid(bob)).status == "active"
        assert services.do_set_admin(actor=admin_user, user_id=uid(admin_user), admin=True).is_superuser
        assert not services.do_set_admin(actor=admin_user, user_id=uid(bob), admin=False).is_admin
    assert [e.action for e in entries()] == ["user.disable"]
    assert closes.items == [] and events.items == []
    assert live_sessions(bob) == 1


def test_nobody_disables_deletes_or_demotes_themselves(admin_user):
    for call in (
        lambda: services.do_disable_user(actor=admin_user, user_id=uid(admin_user)),
        lambda: services.do_delete_user(actor=admin_user, user_id=uid(admin_user)),
        lambda: services.do_set_admin(actor=admin_user, user_id=uid(admin_user), admin=False),
    ):
        with pytest.raises(Conflict):
            call()
    admin_user.refresh_from_db()
    assert admin_user.status == "active" and admin_user.is_superuser and admin_user.is_staff
    assert entries() == []


def test_only_a_superuser_disables_deletes_or_demotes_a_superuser(admin_user, staff, user_factory):
    for call in (
        lambda: services.do_disable_user(actor=staff, user_id=uid(admin_user)),
        lambda: services.do_delete_user(actor=staff, user_id=uid(admin_user)),
        lambda: services.do_set_admin(actor=staff, user_id=uid(admin_user), admin=False),
    ):
        with pytest.raises(Forbidden):
            call()
    admin_user.refresh_from_db()
    assert admin_user.status == "active" and admin_user.is_admin
    # A staff administrator acts on other staff; a superuser on another superuser.
    other_staff = user_factory("staff2", is_staff=True)
    assert services.do_disable_user(actor=staff, user_id=uid(other_staff)).status == "disabled"
    root2 = User.objects.create_superuser("root2", PASSWORD)
    assert not services.do_set_admin(actor=admin_user, user_id=uid(root2), admin=False).is_admin
    assert [e.action for e in entries()] == ["user.disable", "user.unset_admin"]


def test_non_administrators_and_disabled_administrators_are_forbidden(admin_user, staff, alice, bob):
    group = make_group(alice, members=[bob])
    services.do_disable_user(actor=admin_user, user_id=uid(staff))
    staff.refresh_from_db()
    for actor in (bob, staff):
        for call in (
            lambda a: services.do_disable_user(actor=a, user_id=uid(alice)),
            lambda a: services.do_enable_user(actor=a, user_id=uid(alice)),
            lambda a: services.do_set_admin(actor=a, user_id=uid(alice), admin=True),
            lambda a: services.do_set_admin(actor=a, user_id=uid(alice), admin=False),
            lambda a: services.do_delete_user(actor=a, user_id=uid(alice)),
            lambda a: services.do_set_group_status(actor=a, group_id=uid(group), status="disabled"),
        ):
            with pytest.raises(Forbidden):
                call(actor)
    alice.refresh_from_db()
    assert alice.status == "active" and not alice.is_admin
    assert Group.objects.get(pk=group.pk).status == "active"
    assert len(entries()) == 1  # the disabling of `staff`


@pytest.mark.parametrize(
    "user_id",
    ["", "nope", "53c203ea-4735-4c97-96e6-ae8887b8b67c", "FC0CAA60-6133-4187-B2B6-C9A928EAAE01", None, 5],
    ids=["empty", "word", "unknown", "unknown-upper", "none", "int"],
)
def test_unknown_or_malformed_ids_are_not_found(admin_user, user_id):
    for call in (
        lambda: services.do_disable_user(actor=admin_user, user_id=user_id),
        lambda: services.do_enable_user(actor=admin_user, user_id=user_id),
        lambda: services.do_set_admin(actor=admin_user, user_id=user_id, admin=True),
        lambda: services.do_delete_user(actor=admin_user, user_id=user_id),
        lambda: services.do_set_group_status(actor=admin_user, group_id=user_id, status="disabled"),
    ):
        with pytest.raises(NotFound):
            call()
    assert entries() == []


@pytest.mark.parametrize("reason", ["x" * 501, "bad\x00", "bad\u202eltr", 5, ["a"]])
def test_a_bad_reason_is_invalid_and_changes_nothing(admin_user, alice, reason):
    with pytest.raises(Invalid) as info:
        services.do_disable_user(actor=admin_user, user_id=uid(alice), reason=reason)
    assert list(info.value.fields) == ["reason"]
    alice.refresh_from_db()
    assert alice.status == "active" and entries() == []


def test_a_reason_of_500_characters_with_newlines_is_kept(admin_user, alice):
    reason = ("第一行\n" + "é" * 600)[:500]
    services.do_disable_user(actor=admin_user, user_id=uid(alice), reason=reason)
    assert entries()[0].reason == reason


# --------------------------------------------------------------------------- admin right


def test_set_admin_makes_staff_tells_user_and_contacts_and_is_audited(events, admin_user, alice, bob, carol):
    with events.capture():
        user = services.do_set_admin(actor=admin_user, user_id=uid(alice), admin=True, reason="moderator")
    assert user.is_staff and not user.is_superuser and user.is_admin
    [(recipients, frame)] = events.of_type("user.updated")
    assert recipients == {alice.pk, bob.pk}
    assert frame == {"type": "user.updated", "user": user_to_wire(user)}
    assert frame["user"]["is_admin"] is True
    assert_entry(
        entries()[0],
        actor=admin_user,
        action="user.set_admin",
        target_type="user",
        target=alice,
        label="alice",
        reason="moderator",
        metadata={"before": {"is_staff": False, "is_superuser": False}},
    )


def test_unset_admin_clears_staff_and_superuser(events, admin_user, staff):
    root2 = User.objects.create_superuser("root2", PASSWORD)
    with events.capture():
        services.do_set_admin(actor=admin_user, user_id=uid(staff), admin=False)
        services.do_set_admin(actor=admin_user, user_id=uid(root2), admin=False)
    for user in (staff, root2):
        user.refresh_from_db()
        assert not user.is_staff and not user.is_superuser and not user.is_admin
    assert [e.metadata for e in entries()] == [
        {"before": {"is_staff": True, "is_superuser": False}},
        {"before": {"is_staff": True, "is_superuser": True}},
    ]
    assert events.recipients("user.updated") == {staff.pk, root2.pk}


# --------------------------------------------------------------------------- delete


def test_delete_anonymises_the_account_and_frees_username_and_phone(closes, events, admin_user, alice, bob):
    login_tokens(alice)
    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    message = store_text_sync(sender=alice, conversation_uuid=uid(conversation), text="hello")
    with events.capture():
        user = services.do_delete_user(actor=admin_user, user_id=uid(alice), reason="asked to be forgotten")
    alice.refresh_from_db()
    assert alice.pk == user.pk and alice.uuid == user.uuid
    assert (alice.username, alice.phone, alice.nickname, alice.signature, alice.avatar_id) == (None, None, "", "", None)
    assert alice.status == UserStatus.DELETED
    assert not alice.has_usable_password() and not alice.is_admin
    assert live_sessions(alice) == 0
    assert ({alice.pk}, 4403, None) in closes.items
    # Messages stay, with a "deleted user" sender.
    message = Message.objects.select_related("sender").get(pk=message.pk)
    assert message.sender_id == alice.pk
    assert message_to_wire(message)["sender"] == {
        "id": uid(alice),
        "username": "",
        "nickname": "Deleted user",
        "avatar": None,
        "signature": "",
        "is_admin": False,
        "is_bot": False,
        "created_at": user_to_wire(alice)["created_at"],
    }
    # The name and the number can be taken again; the old password opens nothing.
    with pytest.raises(InvalidCredentials):
        do_login_password(login="alice", password=PASSWORD, client=CLIENT)
    again = do_register(username="alice", password="another-pass-1", client=CLIENT)
    assert again.user.pk != alice.pk
    assert not User.objects.filter(phone="+8613800138000").exists()
    [entry] = entries()
    assert_entry(
        entry,
        actor=admin_user,
        action="user.delete",
        target_type="user",
        target=alice,
        label="alice",
        reason="asked to be forgotten",
    )
    assert entry.metadata == {
        "sessions_revoked": 1,
        "contacts_removed": 1,
        "blocks_removed": 0,
        "requests_closed": 0,
        "groups_left": [],
        "groups_transferred": {},
        "groups_dismissed": [],
        "groups_kept": [],
        "join_requests_cancelled": 0,
        "bots_deleted": 0,
    }


def test_deleted_token_is_refused_as_not_authenticated(admin_user, alice):
    access = login_tokens(alice)["access"]
    services.do_delete_user(actor=admin_user, user_id=uid(alice))
    with pytest.raises(NotAuthenticated):
        authenticate_access_token(access)


def test_delete_removes_contacts_blocks_and_pending_requests_and_tells_the_others(
    events, admin_user, alice, bob, carol, user_factory
):
    dave, erin, fay = user_factory("dave"), user_factory("erin"), user_factory("fay")
    do_connect(user=alice, other=dave)
    do_block(user=alice, target_id=uid(erin))
    do_block(user=fay, target_id=uid(alice))
    outgoing = do_send_contact_request(user=alice, to=uid(carol), message="hi")
    unrelated = do_send_contact_request(user=erin, to=uid(bob))  # not alice's: untouched
    from_gina = do_send_contact_request(user=user_factory("gina"), to=uid(alice), message="hello")
    conversations = {c.other_id: uid(c.conversation) for c in Contact.objects.filter(owner=alice)}
    with events.capture():
        services.do_delete_user(actor=admin_user, user_id=uid(alice))
    alice.refresh_from_db()
    deleted_wire = user_to_wire(alice)
    assert deleted_wire["nickname"] == "Deleted user"
    assert not Contact.objects.filter(owner=alice).exists() and not Contact.objects.filter(other=alice).exists()
    assert Contact.objects.filter(owner=bob).count() == 0  # bob's only contact was alice
    assert not Block.objects.filter(blocker=alice).exists() and not Block.objects.filter(blocked=alice).exists()
    removed = {frozenset(r): f for r, f in events.of_type("contact.removed")}
    for other in (bob, dave):
        frame = removed[frozenset({other.pk})]
        assert frame["user"] == deleted_wire
        assert frame["conversation"] == conversations[other.pk]
    assert events.recipients("contact.removed") == {alice.pk, bob.pk, dave.pk}
    outgoing.refresh_from_db()
    from_gina.refresh_from_db()
    unrelated.refresh_from_db()
    assert (outgoing.status, outgoing.pending_key) == ("cancelled", None)
    assert (from_gina.status, from_gina.pending_key) == ("rejected", None)
    assert unrelated.status == "pending"
    request_frames = events.of_type("contact.request")
    assert {(frozenset(r), f["request"]["id"], f["request"]["status"]) for r, f in request_frames} == {
        (frozenset({alice.pk, carol.pk}), uid(outgoing), "cancelled"),
        (frozenset({from_gina.from_user_id, alice.pk}), uid(from_gina), "rejected"),
    }
    metadata = entries()[0].metadata
    assert (metadata["contacts_removed"], metadata["blocks_removed"], metadata["requests_closed"]) == (2, 2, 2)
    assert ContactRequest.objects.filter(status="pending").count() == 1


@pytest.fixture
def crew(user_factory):
    return {n: user_factory(n, nickname=n.title()) for n in ("ada", "mia", "max", "zoe", "ned")}


def test_delete_hands_owned_groups_over_dismisses_lonely_ones_and_leaves_the_rest(events, admin_user, alice, crew):
    ada, mia, max_, zoe, ned = (crew[n] for n in ("ada", "mia", "max", "zoe", "ned"))
    with_admin = make_group(alice, admins=[ada], members=[mia], name="With admin")
    members_only = make_group(alice, members=[max_, mia], name="Members only")
    alone = make_group(alice, name="Alone")
    elsewhere = make_group(zoe, members=[alice, ned], name="Zoe's")
    frozen = make_group(alice, members=[ned], name="Frozen")
    groups.do_admin_set_group_status(group_id=uid(frozen), status=GroupStatus.DISABLED)
    approval = make_group(ned, name="Asks", join_mode="approval")
    groups.do_join_group(user=alice, group_id=uid(approval), message="let me in")

    with events.capture():
        services.do_delete_user(actor=admin_user, user_id=uid(alice))

    def state(group):
        group = Group.objects.get(pk=group.pk)
        roles = dict(
            Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True).values_list(
                "user__username", "role"
            )
        )
        return group.status, group.owner_id, group.member_count, roles

    assert state(with_admin) == ("active", ada.pk, 2, {"ada": "owner", "mia": "member"})
    assert state(members_only) == ("active", max_.pk, 2, {"max": "owner", "mia": "member"})
    assert state(alone)[:3] == ("dismissed", alice.pk, 1)
    assert state(elsewhere) == ("active", zoe.pk, 2, {"zoe": "owner", "ned": "member"})
    assert state(frozen)[:3] == ("disabled", alice.pk, 2)
    request = JoinRequest.objects.get(group=approval)
    assert (request.status, request.pending_key) == ("cancelled", None)
    # Members heard it as from anyone leaving or handing over, with "Deleted user".
    transferred = [f for r, f in events.of_type("group.updated") if ada.pk in r]
    assert transferred and transferred[-1]["group"]["owner"]["id"] == uid(ada)
    leaves = [f for r, f in events.of_type("group.member_removed") if mia.pk in r or ned.pk in r]
    assert {f["group"]["id"] for f in leaves} == {uid(with_admin), uid(members_only), uid(elsewhere)}
    assert all(f["user"]["nickname"] == "Deleted user" and f["by"] == uid(alice) for f in leaves)
    assert events.recipients("group.dismissed") == {alice.pk}
    [(managers, frame)] = events.of_type("group.join_request")
    assert managers == {ned.pk}
    assert frame["request"]["id"] == uid(request) and frame["request"]["status"] == "cancelled"
    metadata = entries()[0].metadata
    assert metadata["groups_transferred"] == {uid(with_admin): uid(ada), uid(members_only): uid(max_)}
    assert metadata["groups_dismissed"] == [uid(alone)]
    assert metadata["groups_left"] == [uid(elsewhere)]
    assert metadata["groups_kept"] == [uid(frozen)]
    assert metadata["join_requests_cancelled"] == 1
    # The group's history records the hand-over and the leaving.
    events_in = [
        m.data["event"] for m in Message.objects.filter(conversation__group=with_admin, kind="system").order_by("seq")
    ]
    assert events_in[-2:] == ["owner_transferred", "member_left"]


def test_the_successor_is_an_active_account_before_a_disabled_one(admin_user, alice, crew):
    ada, mia = crew["ada"], crew["mia"]
    group = make_group(alice, admins=[ada], members=[mia])
    services.do_disable_user(actor=admin_user, user_id=uid(ada))
    services.do_delete_user(actor=admin_user, user_id=uid(alice))
    assert Group.objects.get(pk=group.pk).owner_id == mia.pk


def test_a_deleted_account_cannot_be_changed_and_deleting_again_is_a_no_op(admin_user, alice):
    services.do_delete_user(actor=admin_user, user_id=uid(alice))
    for call in (
        lambda: services.do_disable_user(actor=admin_user, user_id=uid(alice)),
        lambda: services.do_enable_user(actor=admin_user, user_id=uid(alice)),
        lambda: services.do_set_admin(actor=admin_user, user_id=uid(alice), admin=True),
        lambda: services.do_set_admin(actor=admin_user, user_id=uid(alice), admin=False),
    ):
        with pytest.raises(Conflict):
            call()
    assert services.do_delete_user(actor=admin_user, user_id=uid(alice)).status == "deleted"
    assert [e.action for e in entries()] == ["user.delete"]


def test_a_disabled_user_can_be_deleted(admin_user, alice):
    services.do_disable_user(actor=admin_user, user_id=uid(alice))
    assert services.do_delete_user(actor=admin_user, user_id=uid(alice)).status == "deleted"
    assert [e.action for e in entries()] == ["user.disable", "user.delete"]


# --------------------------------------------------------------------------- groups


def test_group_disable_enable_dismiss_tell_the_members_and_are_audited(events, admin_user, alice, bob):
    group = make_group(alice, members=[bob], name="Team")
    with events.capture():
        disabled = services.do_set_group_status(
            actor=admin_user, group_id=uid(group), status="disabled", reason="abuse"
        )
    assert disabled.status == "disabled"
    assert {frozenset(r): f["group"]["my_role"] for r, f in events.of_type("group.updated")} == {
        frozenset({alice.pk}): "owner",
        frozenset({bob.pk}): "member",
    }
    assert all(
        f == {"type": "group.updated", "group": group_to_wire(disabled, my_role=f["group"]["my_role"])}
        for _, f in events.of_type("group.updated")
    )
    events.clear()
    with events.capture():
        services.do_set_group_status(actor=admin_user, group_id=uid(group), status="active", via="admin")
        services.do_set_group_status(actor=admin_user, group_id=uid(group), status="dismissed")
    assert events.recipients("group.dismissed") == {alice.pk, bob.pk}
    assert [(e.action, e.metadata, e.via) for e in entries()] == [
        ("group.disable", {"before": "active"}, "api"),
        ("group.enable", {"before": "disabled"}, "admin"),
        ("group.dismiss", {"before": "active"}, "api"),
    ]
    assert_entry(
        entries()[0],
        actor=admin_user,
        action="group.disable",
        target_type="group",
        target=group,
        label="Team",
        reason="abuse",
    )


def test_group_no_op_and_refusals_record_nothing(admin_user, alice, bob):
    group = make_group(alice, members=[bob])
    assert services.do_set_group_status(actor=admin_user, group_id=uid(group), status="active").status == "active"
    services.do_set_group_status(actor=admin_user, group_id=uid(group), status="dismissed")
    with pytest.raises(Conflict):
        services.do_set_group_status(actor=admin_user, group_id=uid(group), status="active")
    with pytest.raises(Invalid):
        services.do_set_group_status(actor=admin_user, group_id=uid(group), status="frozen")
    assert [e.action for e in entries()] == ["group.dismiss"]


# --------------------------------------------------------------------------- the log itself


def test_the_audit_log_is_append_only(admin_user, alice):
    services.do_disable_user(actor=admin_user, user_id=uid(alice))
    entry = entries()[0]
    entry.reason = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditLogIsAppendOnly), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["reason"])
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""


def test_an_entry_keeps_the_labels_of_its_time(admin_user, staff, alice):
    services.do_disable_user(actor=staff, user_id=uid(alice))
    services.do_delete_user(actor=admin_user, user_id=uid(staff))
    services.do_delete_user(actor=admin_user, user_id=uid(alice))
    first = entries()[0]
    assert (first.actor_id, first.actor_label, first.target_label) == (staff.pk, "staffer", "alice")
