"""Group services: rows, system messages, events and their recipients, every refusal."""

from __future__ import annotations

import uuid

import pytest

from accounts.serializers import user_to_wire
from chatsite.errors import (
    Blocked,
    Conflict,
    Forbidden,
    GroupDisabled,
    Invalid,
    NotContact,
    NotFound,
    NotMember,
)
from contacts.models import Block, RequestStatus
from contacts.services import do_connect
from conversations.models import Conversation, Member, Message
from groups import selectors, services
from groups.models import Group, GroupStatus, JoinRequest
from groups.serializers import group_to_wire, join_request_to_wire
from groups.tests.factories import make_group, remove
from messaging.actions.send import check_send_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(user_factory):
    """Named users: admin `ada`, members `mia` and `max`, and `zoe` (nobody's contact yet)."""
    return {name: user_factory(name, nickname=name.title()) for name in ("ada", "mia", "max", "zoe")}


@pytest.fixture
def team(alice, people):
    """Owner alice, admin ada, members mia and max; approval mode."""
    return make_group(alice, admins=[people["ada"]], members=[people["mia"], people["max"]])


def gid(group) -> str:
    return str(group.uuid)


def fresh(group) -> Group:
    return Group.objects.select_related("owner__avatar", "avatar", "conversation").get(pk=group.pk)


def system_messages(group) -> list[dict]:
    return [m.data for m in Message.objects.filter(conversation__group=group, kind="system").order_by("seq")]


def roles(group) -> dict[str, str]:
    return {
        m.user.username: m.role
        for m in Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True).select_related(
            "user"
        )
    }


def send_check(user, group):
    return check_send_message(
        sender=user, client_msg_id=str(uuid.uuid4()), kind="text", content="hi", to={"group": gid(group)}
    )


def assert_counts_match(group) -> None:
    group.refresh_from_db()
    assert (
        group.member_count
        == Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True).count()
    )


# --------------------------------------------------------------------------- create


def test_create_writes_group_members_conversation_message_and_events(events, alice, bob, people):
    mia = people["mia"]
    do_connect(user=alice, other=mia)
    with events.capture():
        group = services.do_create_group(
            owner=alice,
            name="  周末 🏸  ",
            members=[str(bob.uuid), str(mia.uuid), str(bob.uuid), str(alice.uuid)],  # repeats and self ignored
            notice="第一行\n第二行",
            join_mode="open",
        )
    group = fresh(group)
    assert (group.name, group.notice, group.join_mode, group.status) == ("周末 🏸", "第一行\n第二行", "open", "active")
    assert group.owner == alice and group.member_count == 3
    assert roles(group) == {"alice": "owner", "bob": "member", "mia": "member"}
    conversation = Conversation.objects.get(group=group)
    members = Member.objects.filter(conversation=conversation)
    assert {(m.user_id, m.visible_from_seq, m.left_seq) for m in members} == {
        (alice.pk, 0, None),
        (bob.pk, 0, None),
        (mia.pk, 0, None),
    }
    assert system_messages(group) == [
        {
            "event": "group_created",
            "actor": str(alice.uuid),
            "targets": [str(bob.uuid), str(mia.uuid)],
            "changes": {"name": "周末 🏸"},
        }
    ]
    assert events.recipients("message.new") == {alice.pk, bob.pk, mia.pk}
    assert events.of_type("group.updated") == [
        ({alice.pk}, {"type": "group.updated", "group": group_to_wire(group, my_role="owner")}),
        ({bob.pk, mia.pk}, {"type": "group.updated", "group": group_to_wire(group, my_role="member")}),
    ]


def test_a_group_of_one_is_fine(alice):
    group = services.do_create_group(owner=alice, name="just me")
    assert group.member_count == 1 and roles(group) == {"alice": "owner"}
    assert group.join_mode == "approval"  # the default


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"name": "a\u202eb"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "ok", "notice": "x" * 2001}, "notice"),
        ({"name": "ok", "notice": "nul\x00"}, "notice"),
        ({"name": "ok", "join_mode": "closed"}, "join_mode"),
        ({"name": "ok", "members": ["not-a-uuid"]}, "members"),
        ({"name": "ok", "members": "abc"}, "members"),
        ({"name": "ok", "avatar": "not-a-uuid"}, "avatar"),
        ({"name": "ok", "avatar": str(uuid.uuid4())}, "avatar"),
    ],
)
def test_create_validation(events, alice, kwargs, field):
    with events.capture(), pytest.raises(Invalid) as info:
        services.do_create_group(owner=alice, **kwargs)
    assert field in info.value.fields
    assert not Group.objects.exists() and events.items == []


def test_create_with_64_characters_and_2000_of_notice(alice):
    group = services.do_create_group(owner=alice, name="名" * 64, notice="😀" * 2000)
    assert len(group.name) == 64 and len(group.notice) == 2000


def test_create_only_with_contacts(alice, bob, carol):
    with pytest.raises(NotContact):
        services.do_create_group(owner=alice, name="x", members=[str(bob.uuid), str(carol.uuid)])
    with pytest.raises(NotContact):
        services.do_create_group(owner=alice, name="x", members=[str(uuid.uuid4())])
    assert not Group.objects.exists()


def test_create_refuses_contacts_in_a_block(alice, bob):
    Block.objects.create(blocker=bob, blocked=alice)
    with pytest.raises(Blocked):
        services.do_create_group(owner=alice, name="x", members=[str(bob.uuid)])


def test_create_respects_the_size_limit(settings, alice, people):
    settings.GROUP_MAX_MEMBERS = 3
    for user in people.values():
        do_connect(user=alice, other=user)
    ids = [str(people[n].uuid) for n in ("ada", "mia", "max")]
    with pytest.raises(Conflict):
        services.do_create_group(owner=alice, name="x", members=ids)
    assert services.do_create_group(owner=alice, name="x", members=ids[:2]).member_count == 3


def test_create_with_an_avatar(alice):
    from files.models import File
    from files.selectors import avatar_url

    image = File.objects.create(
        owner=alice, name="a.png", size=10, mime="image/png", storage_key="k1", width=8, height=8
    )
    group = services.do_create_group(owner=alice, name="x", avatar=str(image.uuid))
    assert group.avatar == image
    image.refresh_from_db()
    assert image.attached_at is not None  # kept by the cleanup of unattached files
    assert group_to_wire(fresh(group), my_role="owner")["avatar"] == avatar_url(image)
    text = File.objects.create(owner=alice, name="a.txt", size=10, mime="text/plain", storage_key="k2")
    with pytest.raises(Invalid):
        services.do_create_group(owner=alice, name="x", avatar=str(text.uuid))


# --------------------------------------------------------------------------- access


def test_who_sees_what(team, alice, people, carol):
    mia, zoe = people["mia"], people["zoe"]
    assert selectors.access_group(user=mia, group_id=gid(team)).membership.role == "member"
    with pytest.raises(NotFound):
        selectors.access_group(user=carol, group_id=gid(team))
    with pytest.raises(NotFound):
        selectors.access_group(user=carol, group_id="nonsense")
    assert selectors.access_group_card(user=carol, group_id=gid(team)).membership is None
    remove(team, alice, mia)
    with pytest.raises(NotMember):
        selectors.access_group(user=mia, group_id=gid(team))
    with pytest.raises(Forbidden):
        selectors.access_managed_group(user=people["max"], group_id=gid(team))
    assert selectors.access_managed_group(user=people["ada"], group_id=gid(team))
    with pytest.raises(NotFound):
        selectors.access_managed_group(user=zoe, group_id=gid(team))


# --------------------------------------------------------------------------- edit


def test_update_by_an_admin_records_the_changes_and_tells_the_members(events, team, alice, people):
    ada = people["ada"]
    with events.capture():
        group = services.do_update_group(
            user=ada, group_id=gid(team), name="New name", notice="Be nice", join_mode="open"
        )
    group = fresh(group)
    assert (group.name, group.notice, group.join_mode) == ("New name", "Be nice", "open")
    assert system_messages(group)[-1] == {
        "event": "group_updated",
        "actor": str(ada.uuid),
        "targets": [],
        "changes": {"name": "New name", "notice": "Be nice", "join_mode": "open"},
    }
    updates = events.of_type("group.updated")
    assert sorted((sorted(uids), frame["group"]["my_role"]) for uids, frame in updates) == [
        ([alice.pk], "owner"),
        ([ada.pk], "admin"),
        (sorted([people["mia"].pk, people["max"].pk]), "member"),
    ]
    assert all(frame["group"] == group_to_wire(group, my_role=frame["group"]["my_role"]) for _, frame in updates)


def test_update_to_the_same_values_writes_nothing(events, team, alice):
    before = len(system_messages(team))
    with events.capture():
        services.do_update_group(user=alice, group_id=gid(team), name=team.name, join_mode=team.join_mode)
    assert len(system_messages(team)) == before and events.items == []


def test_update_refusals(team, alice, people, carol):
    with pytest.raises(Forbidden):
        services.do_update_group(user=people["mia"], group_id=gid(team), name="x")
    with pytest.raises(NotFound):
        services.do_update_group(user=carol, group_id=gid(team), name="x")
    remove(team, alice, people["mia"])
    with pytest.raises(NotMember):
        services.do_update_group(user=people["mia"], group_id=gid(team), name="x")
    with pytest.raises(Invalid):
        services.do_update_group(user=alice, group_id=gid(team), name="")
    assert fresh(team).name == "Team"


# --------------------------------------------------------------------------- dismiss and status


def test_dismiss_by_the_owner(events, team, alice, people):
    with pytest.raises(Forbidden):
        services.do_dismiss_group(user=people["ada"], group_id=gid(team))
    with events.capture():
        services.do_dismiss_group(user=alice, group_id=gid(team))
    group = fresh(team)
    assert group.status == GroupStatus.DISMISSED
    members = {alice.pk, *(people[n].pk for n in ("ada", "mia", "max"))}
    assert events.recipients("group.dismissed") == members
    assert all(f["group"]["status"] == "dismissed" for _, f in events.of_type("group.dismissed"))
    # Members keep the history; sending and changes are refused.
    assert Member.objects.filter(conversation__group=group, left_seq__isnull=True).count() == 4
    assert selectors.access_group(user=people["mia"], group_id=gid(team))
    with pytest.raises(GroupDisabled):
        send_check(people["mia"], group)
    for change in (
        lambda: services.do_update_group(user=alice, group_id=gid(team), name="x"),
        lambda: services.do_dismiss_group(user=alice, group_id=gid(team)),
        lambda: services.do_add_members(user=alice, group_id=gid(team), users=[]),
        lambda: remove(team, alice, people["mia"]),
        lambda: services.do_transfer_ownership(user=alice, group_id=gid(team), new_owner_id=str(people["ada"].uuid)),
        lambda: services.do_join_group(user=people["zoe"], group_id=gid(team)),
    ):
        with pytest.raises(GroupDisabled):
            change()
    # Nobody to hand a dismissed group to: its owner may drop it like the others.
    services.do_leave_group(user=alice, group_id=gid(team))
    assert not Member.objects.filter(conversation__group=team, user=alice, left_seq__isnull=True).exists()


def test_the_owner_of_a_disabled_group_still_hands_it_over_before_leaving(team, alice):
    """Disabled by an administrator, a group may be enabled again: it keeps its owner."""
    services.do_admin_set_group_status(group_id=gid(team), status="disabled")
    with pytest.raises(Conflict):
        services.do_leave_group(user=alice, group_id=gid(team))


def test_disable_and_enable_by_an_administrator(events, team, alice, people):
    with events.capture():
        services.do_admin_set_group_status(group_id=gid(team), status="disabled")
    assert fresh(team).status == "disabled"
    assert {f["group"]["status"] for _, f in events.of_type("group.updated")} == {"disabled"}
    assert events.recipients("group.updated") == {alice.pk, *(people[n].pk for n in ("ada", "mia", "max"))}
    with pytest.raises(GroupDisabled):
        send_check(alice, team)
    with pytest.raises(GroupDisabled):
        services.do_update_group(user=alice, group_id=gid(team), notice="x")
    services.do_admin_set_group_status(group_id=gid(team), status="active")
    assert send_check(alice, team)
    services.do_admin_set_group_status(group_id=gid(team), status="dismissed")
    with pytest.raises(Conflict):
        services.do_admin_set_group_status(group_id=gid(team), status="active")
    with pytest.raises(Invalid):
        services.do_admin_set_group_status(group_id=gid(team), status="frozen")


# --------------------------------------------------------------------------- members


def test_add_members(events, team, alice, people):
    zoe = people["zoe"]
    do_connect(user=alice, other=zoe)
    last_seq = Conversation.objects.get(group=team).last_seq
    with events.capture():
        added = services.do_add_members(user=alice, group_id=gid(team), users=[str(zoe.uuid), str(people["mia"].uuid)])
    assert [m.user for m in added] == [zoe]  # mia is already a member
    group = fresh(team)
    assert group.member_count == 5 and roles(group)["zoe"] == "member"
    member = Member.objects.get(conversation__group=group, user=zoe)
    assert member.visible_from_seq == last_seq  # reads from joining on, the announcement included
    assert system_messages(group)[-1] == {
        "event": "member_added",
        "actor": str(alice.uuid),
        "targets": [str(zoe.uuid)],
        "changes": {},
    }
    everyone = {alice.pk, zoe.pk, *(people[n].pk for n in ("ada", "mia", "max"))}
    assert events.recipients("group.member_added") == everyone
    assert events.recipients("message.new") == everyone
    frames = [f for _, f in events.of_type("group.member_added")]
    assert {f["user"]["id"] for f in frames} == {str(zoe.uuid)} and {f["by"] for f in frames} == {str(alice.uuid)}
    zoe_frame = next(f for uids, f in events.of_type("group.member_added") if zoe.pk in uids)
    assert zoe_frame["group"] == group_to_wire(group, my_role="member")
    assert_counts_match(group)


def test_adding_needs_the_role_or_an_open_group(team, alice, people):
    mia, zoe = people["mia"], people["zoe"]
    do_connect(user=mia, other=zoe)
    with pytest.raises(Forbidden):
        services.do_add_members(user=mia, group_id=gid(team), users=[str(zoe.uuid)])
    services.do_update_group(user=alice, group_id=gid(team), join_mode="open")
    assert services.do_add_members(user=mia, group_id=gid(team), users=[str(zoe.uuid)])[0].user == zoe


def test_adding_only_your_own_contacts(team, people, carol):
    ada = people["ada"]  # alice's contact, not carol's friend
    with pytest.raises(NotContact):
        services.do_add_members(user=ada, group_id=gid(team), users=[str(carol.uuid)])
    do_connect(user=ada, other=carol)
    Block.objects.create(blocker=ada, blocked=carol)
    with pytest.raises(Blocked):
        services.do_add_members(user=ada, group_id=gid(team), users=[str(carol.uuid)])


def test_adding_beyond_the_limit_is_a_conflict(settings, team, alice, people):
    settings.GROUP_MAX_MEMBERS = 4
    do_connect(user=alice, other=people["zoe"])
    with pytest.raises(Conflict):
        services.do_add_members(user=alice, group_id=gid(team), users=[str(people["zoe"].uuid)])
    assert_counts_match(team)


def test_remove_rules(team, alice, people, carol):
    ada, mia, max_ = people["ada"], people["mia"], people["max"]
    with pytest.raises(Forbidden):
        remove(team, mia, max_)  # a member removes nobody
    with pytest.raises(Forbidden):
        remove(team, ada, alice)  # an admin removes members only
    services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(mia.uuid), role="admin")
    with pytest.raises(Forbidden):
        remove(team, ada, mia)
    with pytest.raises(NotFound):
        remove(team, alice, carol)  # not a member
    with pytest.raises(NotFound):
        remove(team, carol, mia)  # a stranger
    with pytest.raises(Conflict):
        remove(team, alice, alice)  # the owner leaving without transfer
    remove(team, ada, max_)
    remove(team, alice, ada)  # the owner removes an admin
    assert roles(team) == {"alice": "owner", "mia": "admin"}
    assert_counts_match(team)


def test_removal_announces_then_closes_the_window_then_tells_the_removed_user_last(events, team, alice, people):
    mia = people["mia"]
    with events.capture():
        remove(team, people["ada"], mia)
    group = fresh(team)
    assert "mia" not in roles(group) and group.member_count == 3
    removal = Message.objects.filter(conversation__group=group).order_by("-seq").first()
    assert removal.data == {
        "event": "member_removed",
        "actor": str(people["ada"].uuid),
        "targets": [str(mia.uuid)],
        "changes": {},
    }
    member = Member.objects.get(conversation__group=group, user=mia)
    assert member.left_seq == removal.seq  # she keeps the message saying she was removed
    assert [f["type"] for f in events.to(mia)] == ["message.new", "group.member_removed"]
    last = events.to(mia)[-1]
    assert last == {
        "type": "group.member_removed",
        "group": group_to_wire(group, my_role=None),
        "user": user_to_wire(mia),
        "by": str(people["ada"].uuid),
    }
    assert events.recipients("group.member_removed") == {alice.pk, mia.pk, people["ada"].pk, people["max"].pk}
    # From now on she is a former member: no sending, no more events.
    with pytest.raises(NotMember):
        send_check(mia, group)
    events.clear()
    with events.capture():
        services.do_update_group(user=alice, group_id=gid(team), notice="after")
    assert mia.pk not in events.recipients("group.updated") | events.recipients("message.new")


def test_leave(events, team, alice, people):
    mia = people["mia"]
    with pytest.raises(Conflict):
        services.do_leave_group(user=alice, group_id=gid(team))
    with events.capture():
        services.do_leave_group(user=mia, group_id=gid(team))
    assert "mia" not in roles(team)
    assert system_messages(team)[-1] == {
        "event": "member_left",
        "actor": str(mia.uuid),
        "targets": [str(mia.uuid)],
        "changes": {},
    }
    assert [f["type"] for f in events.to(mia)] == ["message.new", "group.member_removed"]
    assert events.to(mia)[-1]["by"] == str(mia.uuid)
    with pytest.raises(NotMember):
        services.do_leave_group(user=mia, group_id=gid(team))
    assert_counts_match(team)


def test_leaving_a_disabled_group_is_allowed_without_a_system_message(team, people):
    services.do_admin_set_group_status(group_id=gid(team), status="disabled")
    before = len(system_messages(team))
    services.do_leave_group(user=people["max"], group_id=gid(team))
    assert "max" not in roles(team) and len(system_messages(team)) == before


def test_removing_yourself_is_leaving(team, people):
    remove(team, people["max"], people["max"])
    assert system_messages(team)[-1]["event"] == "member_left"


def test_transfer(events, team, alice, people):
    ada, mia = people["ada"], people["mia"]
    with pytest.raises(Forbidden):
        services.do_transfer_ownership(user=ada, group_id=gid(team), new_owner_id=str(mia.uuid))
    with pytest.raises(NotFound):
        services.do_transfer_ownership(user=alice, group_id=gid(team), new_owner_id=str(people["zoe"].uuid))
    with pytest.raises(Conflict):
        services.do_transfer_ownership(user=alice, group_id=gid(team), new_owner_id=str(alice.uuid))
    with events.capture():
        group = services.do_transfer_ownership(user=alice, group_id=gid(team), new_owner_id=str(mia.uuid))
    assert fresh(group).owner == mia
    assert roles(group) == {"alice": "admin", "ada": "admin", "mia": "owner", "max": "member"}
    assert system_messages(group)[-1] == {
        "event": "owner_transferred",
        "actor": str(alice.uuid),
        "targets": [str(mia.uuid)],
        "changes": {},
    }
    my_roles = {frozenset(uids): f["group"]["my_role"] for uids, f in events.of_type("group.updated")}
    assert my_roles == {
        frozenset({mia.pk}): "owner",
        frozenset({alice.pk, ada.pk}): "admin",
        frozenset({people["max"].pk}): "member",
    }
    assert all(f["group"]["owner"] == user_to_wire(mia) for _, f in events.of_type("group.updated"))
    # now alice may leave
    services.do_leave_group(user=alice, group_id=gid(team))


def test_set_role(events, team, alice, people):
    ada, mia = people["ada"], people["mia"]
    with pytest.raises(Forbidden):
        services.do_set_member_role(user=ada, group_id=gid(team), member_id=str(mia.uuid), role="admin")
    with pytest.raises(Conflict):
        services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(alice.uuid), role="member")
    with pytest.raises(Invalid):
        services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(mia.uuid), role="owner")
    with pytest.raises(NotFound):
        services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(uuid.uuid4()), role="admin")
    with events.capture():
        membership = services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(mia.uuid), role="admin")
    assert membership.role == "admin" and roles(team)["mia"] == "admin"
    # Every member hears, each with their own role: Mia's is admin, and the
    # others' pages show (and offer) what her new role allows.
    [mias] = [frame for users, frame in events.items if mia.pk in users]
    assert mias == {"type": "group.updated", "group": group_to_wire(fresh(team), my_role="admin")}
    assert events.recipients("group.updated") == {alice.pk, *(people[n].pk for n in ("ada", "mia", "max"))}
    events.clear()
    with events.capture():
        services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(mia.uuid), role="admin")
    assert events.items == []  # no change, no event
    services.do_set_member_role(user=alice, group_id=gid(team), member_id=str(ada.uuid), role="member")
    assert roles(team)["ada"] == "member"


# --------------------------------------------------------------------------- joining


def test_join_an_open_group_at_once(events, alice, people):
    group = make_group(alice, members=[people["mia"]], join_mode="open")
    zoe = people["zoe"]  # not anybody's contact: an open group needs none
    with events.capture():
        membership = services.do_join_group(user=zoe, group_id=gid(group))
    assert isinstance(membership, Member) and membership.role == "member"
    assert system_messages(group)[-1] == {
        "event": "member_added",
        "actor": str(zoe.uuid),
        "targets": [str(zoe.uuid)],
        "changes": {},
    }
    assert events.recipients("group.member_added") == {alice.pk, people["mia"].pk, zoe.pk}
    with pytest.raises(Conflict):
        services.do_join_group(user=zoe, group_id=gid(group))
    with pytest.raises(NotFound):
        services.do_join_group(user=zoe, group_id=str(uuid.uuid4()))


def test_join_by_approval(events, team, alice, people, carol):
    with events.capture():
        request = services.do_join_group(user=carol, group_id=gid(team), message="let me in")
    assert isinstance(request, JoinRequest) and request.status == "pending" and request.message == "let me in"
    assert "carol" not in roles(team)
    assert events.items == [
        ({alice.pk, people["ada"].pk}, {"type": "group.join_request", "request": join_request_to_wire(request)})
    ]
    with pytest.raises(Conflict):
        services.do_join_group(user=carol, group_id=gid(team))
    with pytest.raises(Invalid):
        services.do_join_group(user=people["zoe"], group_id=gid(team), message="x" * 201)

    rid = str(request.uuid)
    with pytest.raises(Forbidden):
        services.do_accept_join_request(user=people["mia"], group_id=gid(team), request_id=rid)
    with pytest.raises(NotFound):
        services.do_accept_join_request(user=carol, group_id=gid(team), request_id=rid)
    with pytest.raises(NotFound):
        services.do_accept_join_request(user=alice, group_id=gid(team), request_id=str(uuid.uuid4()))
    events.clear()
    with events.capture():
        accepted = services.do_accept_join_request(user=people["ada"], group_id=gid(team), request_id=rid)
    assert accepted.status == "accepted" and accepted.decided_by == people["ada"]
    assert roles(team)["carol"] == "member"
    assert system_messages(team)[-1]["targets"] == [str(carol.uuid)]
    assert system_messages(team)[-1]["actor"] == str(people["ada"].uuid)
    assert carol.pk in events.recipients("group.member_added")
    decided = events.of_type("group.join_request")
    assert decided == [
        (
            {alice.pk, people["ada"].pk, carol.pk},
            {"type": "group.join_request", "request": join_request_to_wire(accepted)},
        )
    ]
    assert decided[0][1]["request"]["status"] == "accepted"
    with pytest.raises(Conflict):
        services.do_reject_join_request(user=alice, group_id=gid(team), request_id=rid)
    assert_counts_match(team)


def test_reject_a_join_request(events, team, alice, people, carol):
    request = services.do_join_group(user=carol, group_id=gid(team))
    with events.capture():
        rejected = services.do_reject_join_request(user=alice, group_id=gid(team), request_id=str(request.uuid))
    assert rejected.status == RequestStatus.REJECTED and "carol" not in roles(team)
    assert events.recipients("group.join_request") == {alice.pk, people["ada"].pk, carol.pk}
    again = services.do_join_group(user=carol, group_id=gid(team))  # may ask again
    assert again.status == "pending"


def test_an_invitation_answers_a_pending_join_request(team, alice, carol):
    request = services.do_join_group(user=carol, group_id=gid(team))
    do_connect(user=alice, other=carol)
    services.do_add_members(user=alice, group_id=gid(team), users=[str(carol.uuid)])
    request.refresh_from_db()
    assert request.status == "accepted" and request.pending_key is None


def test_a_full_group_refuses_joins(settings, alice, people):
    group = make_group(alice, members=[people["mia"]], join_mode="open")
    settings.GROUP_MAX_MEMBERS = 2
    with pytest.raises(Conflict):
        services.do_join_group(user=people["zoe"], group_id=gid(group))


def test_a_former_member_rejoins_with_a_new_window(team, alice, people):
    mia = people["mia"]
    remove(team, alice, mia)
    services.do_update_group(user=alice, group_id=gid(team), join_mode="open")
    services.do_join_group(user=mia, group_id=gid(team))
    conversation = Conversation.objects.get(group=team)
    member = Member.objects.get(conversation=conversation, user=mia)
    assert member.left_seq is None and member.visible_from_seq == conversation.last_seq - 1
    assert send_check(mia, team)


def test_changing_and_clearing_the_avatar(events, team, alice, people):
    from files.models import File
    from files.selectors import avatar_url

    image = File.objects.create(
        owner=people["ada"], name="g.png", size=10, mime="image/png", storage_key="g1", width=8, height=8
    )
    with pytest.raises(Invalid):  # someone else's upload
        services.do_update_group(user=alice, group_id=gid(team), avatar=str(image.uuid))
    with events.capture():
        services.do_update_group(user=people["ada"], group_id=gid(team), avatar=str(image.uuid))
    assert fresh(team).avatar == image
    assert system_messages(team)[-1]["changes"] == {"avatar": avatar_url(image)}
    assert {f["group"]["avatar"] for _, f in events.of_type("group.updated")} == {avatar_url(image)}
    services.do_update_group(user=alice, group_id=gid(team), avatar=None)
    assert fresh(team).avatar is None
    assert system_messages(team)[-1]["changes"] == {"avatar": None}
