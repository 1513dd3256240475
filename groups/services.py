"""Groups: creation, settings, membership, roles, join requests, status.

Every write here follows the same steps, inside one transaction:

1. lock the group row (`_lock_group`), then the group conversation's row, in
   that order everywhere. The group lock serialises membership changes, so
   `Group.member_count` stays exact and the recipients of each event are the
   members at that moment. The conversation lock makes the message store
   (which takes the same row lock to number a message) wait for us: a message
   stored after a removal is fanned out to the members as they are after it;
2. check who the caller is in the group (`not_found` / `not_member`), that
   the group is active (`group_disabled`) and the caller's role (`forbidden`);
3. change the group conversation's membership (conversations.members, the
   one membership truth: a joiner reads from joining on; someone who leaves
   or is removed keeps what they could read up to then);
4. record the change as a `kind: "system"` message (`_announce`: one call)
   and schedule the events for the members computed under the lock.

A removed member gets the `member_removed` system message (it is stored
before they are marked as having left) and then `group.member_removed`, the
last frame about the group they receive: every later message is fanned out
to the members as they are after the removal.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User, UserStatus
from accounts.serializers import user_to_wire
from chatsite.errors import Blocked, Conflict, Forbidden, GroupDisabled, Invalid, NotContact, NotFound
from chatsite.events import access_changed_on_commit, send_event_on_commit, send_events_on_commit
from chatsite.i18n import group_state_text, request_closed_text
from chatsite.text import clean_text
from chatsite.wire import parse_uuid
from contacts.models import Contact, RequestStatus
from contacts.selectors import blocked_either_way_ids
from conversations.members import (
    MANAGERS,
    create_group_conversation,
    join_conversation,
    leave_conversation,
    lock_conversation,
    set_role,
)
from conversations.models import Conversation, Member, Role
from conversations.services import post_system_message
from files.models import File
from files.selectors import avatar_url, resolve_avatar_file
from files.services import mark_attached
from groups.models import JOIN_MESSAGE_MAX, NAME_MAX, NOTICE_MAX, Group, GroupStatus, JoinMode, JoinRequest
from groups.selectors import GROUP_RELATED, member_roles, membership_of, require_membership
from groups.serializers import group_to_wire, join_request_to_wire

logger = logging.getLogger(__name__)


_UNSET = object()


# --------------------------------------------------------------------------- plumbing


def _lock_group(group_id: object) -> Group:
    """The group, its row locked until the transaction ends; `not_found` when there is none."""
    uid = parse_uuid(group_id)
    pk = Group.objects.select_for_update().filter(uuid=uid).values_list("pk", flat=True).first() if uid else None
    if pk is None:
        raise NotFound(gettext("No such group."))
    return Group.objects.select_related(*GROUP_RELATED).get(pk=pk)


def _conversation(group: Group) -> Conversation:
    """The group conversation, its row locked (after the group's: see the module docstring)."""
    lock_conversation(group.conversation)
    return group.conversation


def _require_active(group: Group) -> None:
    if group.status != GroupStatus.ACTIVE:
        raise GroupDisabled(group_state_text(group.status))


def _require_manager(membership: Member) -> None:
    if membership.role not in MANAGERS:
        raise Forbidden(gettext("Only the owner and admins may do this."))


def _require_owner(membership: Member) -> None:
    if membership.role != Role.OWNER:
        raise Forbidden(gettext("Only the owner may do this."))


def _acting(user: User, group_id: object, *, role: str) -> tuple[Group, Member]:
    """The group (locked) and the caller's membership, for a change only its
    owner (`role="owner"`) or its owner and admins (`"manager"`) may make, in
    an active group: `not_found` / `not_member`, `group_disabled`, `forbidden`."""
    group = _lock_group(group_id)
    me = require_membership(group=group, user=user)
    _require_active(group)
    if role == "owner":
        _require_owner(me)
    else:
        _require_manager(me)
    return group, me


def _announce(
    group: Group, *, event: str, actor: User | None, targets: Iterable[User] = (), changes: dict | None = None
) -> None:
    """The one hook from a membership or settings change to the group's
    history: a `kind: "system"` message, stored with the change and fanned
    out to the members when it commits."""
    post_system_message(
        conversation=group.conversation, event=event, actor=actor, targets=list(targets), changes=changes
    )


def _by_role(roles: dict[int, str | None]) -> dict[str | None, list[int]]:
    out: dict[str | None, list[int]] = defaultdict(list)
    for user_id, role in roles.items():
        out[role].append(user_id)
    return out


def _send_group_frames(group: Group, roles: dict[int, str | None], build) -> None:
    """Send `build(group_wire)` to each user in `roles`, the Group object
    carrying that user's own `my_role` (None for someone no longer a member)."""
    base = group_to_wire(group, my_role=None)
    send_events_on_commit((user_ids, build({**base, "my_role": role})) for role, user_ids in _by_role(roles).items())


def _group_updated(group: Group, roles: dict[int, str | None]) -> None:
    _send_group_frames(group, roles, lambda g: {"type": "group.updated", "group": g})


def _parse_user_ids(ids: object, *, field: str) -> list[uuid.UUID]:
    """Distinct user ids, in the order given; a malformed one → `invalid`.
    A list longer than a group can hold is refused before anything else
    (its length bounds the work of every step after this one)."""
    if not isinstance(ids, (list, tuple)):
        raise Invalid.field(field, gettext("A list of user ids."))
    if len(ids) > settings.GROUP_MAX_MEMBERS:
        raise Invalid.field(
            field,
            gettext("At most %(group_max_members)s user ids.") % {"group_max_members": settings.GROUP_MAX_MEMBERS},
        )
    uuids: dict[uuid.UUID, None] = {}
    for raw in ids:
        uid = parse_uuid(raw)
        if uid is None:
            raise Invalid.field(field, gettext("A list of user ids."))
        uuids[uid] = None
    return list(uuids)


def _invitees(*, inviter: User, ids: object, field: str, group: Group | None = None) -> list[User]:
    """The users `ids` names who are not yet members of `group`, each one of
    `inviter`'s contacts (else `not_contact`, also for ids of no user) with no
    block between them (else `blocked`). `inviter` and current members in the
    list are skipped, duplicates collapse."""
    uuids = [uid for uid in _parse_user_ids(ids, field=field) if uid != inviter.uuid]
    if group is not None and uuids:
        present = set(
            Member.objects.filter(
                conversation_id=group.conversation_id, left_seq__isnull=True, user__uuid__in=uuids
            ).values_list("user__uuid", flat=True)
        )
        uuids = [uid for uid in uuids if uid not in present]
    if len(uuids) > settings.GROUP_MAX_MEMBERS:  # before any query about them
        raise Conflict(
            gettext("A group has at most %(group_max_members)s members.")
            % {"group_max_members": settings.GROUP_MAX_MEMBERS}
        )
    if not uuids:
        return []
    contacts = {
        c.other.uuid: c.other
        for c in Contact.objects.select_related("other__avatar").filter(owner=inviter, other__uuid__in=uuids)
        if c.other.status != UserStatus.DELETED
    }
    missing = [uid for uid in uuids if uid not in contacts]
    if missing:
        raise NotContact(gettext("Only your contacts can be added to a group."))
    users = [contacts[uid] for uid in uuids]
    blocked = blocked_either_way_ids(user=inviter)
    if any(u.pk in blocked for u in users):
        raise Blocked(gettext("You cannot add someone you block or who blocks you."))
    return users


def _check_room(group: Group, adding: int) -> None:
    if group.member_count + adding > settings.GROUP_MAX_MEMBERS:
        raise Conflict(
            gettext("A group has at most %(group_max_members)s members.")
            % {"group_max_members": settings.GROUP_MAX_MEMBERS}
        )


def _add(group: Group, conversation: Conversation, users: list[User], *, by: User) -> list[Member]:
    """The users join the conversation as members (their windows open now),
    the count, the system message and `group.member_added` (to the members,
    the new ones included). The caller holds the locks and has checked the rules."""
    if not users:
        return []
    _check_room(group, len(users))
    now = timezone.now()
    rows = [join_conversation(conversation=conversation, user=u, role=Role.MEMBER) for u in users]
    group.member_count += len(users)
    group.save(update_fields=["member_count", "updated_at"])
    # Anyone who joins another way has their pending join request answered by it.
    JoinRequest.objects.filter(group=group, user__in=users, status=RequestStatus.PENDING).update(
        status=RequestStatus.ACCEPTED, pending_key=None, decided_by=by, updated_at=now
    )
    _announce(group, event="member_added", actor=by, targets=users)
    roles = member_roles(group=group)
    by_id = str(by.uuid)
    base = group_to_wire(group, my_role=None)
    items = []
    for role, user_ids in _by_role(roles).items():
        group_wire = {**base, "my_role": role}
        for u in users:
            items.append(
                (user_ids, {"type": "group.member_added", "group": group_wire, "user": user_to_wire(u), "by": by_id})
            )
    send_events_on_commit(items)
    logger.info("group %s: %s added %d member(s)", group.pk, by.pk, len(users))
    return rows


def _drop(group: Group, conversation: Conversation, membership: Member, *, by: User, event: str) -> None:
    """Remove a member: the system message first (the member gets it, and keeps
    it in their history), then the count and the conversation window closed
    at the current seq; `group.member_removed` to the members and the removed
    user, last."""
    removed = membership.user
    roles: dict[int, str | None] = member_roles(group=group)
    if group.status == GroupStatus.ACTIVE:
        _announce(group, event=event, actor=by, targets=[removed])
    group.member_count = max(0, group.member_count - 1)
    group.save(update_fields=["member_count", "updated_at"])
    leave_conversation(conversation=conversation, user=removed)
    roles[removed.pk] = None
    user_wire, by_id = user_to_wire(removed), str(by.uuid)
    _send_group_frames(
        group, roles, lambda g: {"type": "group.member_removed", "group": g, "user": user_wire, "by": by_id}
    )
    logger.info("group %s: %s %s by %s", group.pk, removed.pk, event, by.pk)


def _find_member(group: Group, member_id: object) -> Member:
    uid = parse_uuid(member_id)
    membership = (
        Member.objects.select_related("user__avatar")
        .filter(conversation_id=group.conversation_id, left_seq__isnull=True, user__uuid=uid)
        .first()
        if uid
        else None
    )
    if membership is None:
        raise NotFound(gettext("No such member of this group."))
    return membership


def _clean_name(value: object) -> str:
    return clean_text(value, field="name", max_len=NAME_MAX, allow_empty=False)


def _clean_notice(value: object) -> str:
    return clean_text(value, field="notice", max_len=NOTICE_MAX, allow_empty=True, multiline=True)


def _clean_join_mode(value: object) -> str:
    if value not in JoinMode.values:
        raise Invalid.field("join_mode", gettext('Must be "open" or "approval".'))
    return value  # type: ignore[return-value]


def _avatar(user: User, file_id: object) -> File | None:
    """A File the user uploaded (an image) or None; kept for good once it is a group's avatar."""
    file = resolve_avatar_file(user=user, file_id=file_id)
    if file is not None:
        mark_attached(file=file)
    return file


# --------------------------------------------------------------------------- create, edit, dismiss


@transaction.atomic
def do_create_group(
    *,
    owner: User,
    name: object,
    members: object = (),
    notice: object = "",
    avatar: object = None,
    join_mode: object = JoinMode.APPROVAL,
) -> Group:
    """A new group owned by `owner` with `members` (each one of `owner`'s
    contacts, none in a block relation with them), at most GROUP_MAX_MEMBERS
    in all (`conflict`). Its conversation is created with every member in it,
    a `group_created` system message opens it, and every member gets
    `group.updated` with the group."""
    name = _clean_name(name)
    notice = _clean_notice("" if notice is None else notice)
    join_mode = _clean_join_mode(join_mode)
    users = _invitees(inviter=owner, ids=list(members or ()), field="members")
    avatar_file = _avatar(owner, avatar)
    if 1 + len(users) > settings.GROUP_MAX_MEMBERS:
        raise Conflict(
            gettext("A group has at most %(group_max_members)s members.")
            % {"group_max_members": settings.GROUP_MAX_MEMBERS}
        )
    conversation = create_group_conversation()
    group = Group.objects.create(
        name=name,
        notice=notice,
        avatar=avatar_file,
        owner=owner,
        join_mode=join_mode,
        conversation=conversation,
        member_count=1 + len(users),
        created_at=conversation.created_at,
    )
    join_conversation(conversation=conversation, user=owner, role=Role.OWNER)
    for u in users:
        join_conversation(conversation=conversation, user=u, role=Role.MEMBER)
    _announce(group, event="group_created", actor=owner, targets=users, changes={"name": name})
    roles: dict[int, str | None] = {owner.pk: Role.OWNER, **{u.pk: Role.MEMBER for u in users}}
    _group_updated(group, roles)
    logger.info("group %s created by %s with %d member(s)", group.pk, owner.pk, len(users) + 1)
    return group


@transaction.atomic
def do_update_group(
    *,
    user: User,
    group_id: object,
    name: object = _UNSET,
    notice: object = _UNSET,
    avatar: object = _UNSET,
    join_mode: object = _UNSET,
) -> Group:
    """The owner or an admin edits name, notice, avatar (a File id they
    uploaded, or null) and join mode. A real change is recorded as a
    `group_updated` system message (`changes`: the new values) and the members
    get `group.updated`; a change to nothing writes nothing."""
    group, me = _acting(user, group_id, role="manager")
    changes: dict[str, object] = {}
    if name is not _UNSET:
        value = _clean_name(name)
        if value != group.name:
            group.name = changes["name"] = value
    if notice is not _UNSET:
        value = _clean_notice("" if notice is None else notice)
        if value != group.notice:
            group.notice = changes["notice"] = value
    if join_mode is not _UNSET:
        value = _clean_join_mode(join_mode)
        if value != group.join_mode:
            group.join_mode = changes["join_mode"] = value
    if avatar is not _UNSET:
        file = _avatar(user, avatar)
        if (file.pk if file else None) != group.avatar_id:
            group.avatar = file
            changes["avatar"] = avatar_url(file)
    if not changes:
        return group
    _conversation(group)
    group.save(update_fields=[*(k for k in changes), "updated_at"])
    _announce(group, event="group_updated", actor=user, changes=changes)
    _group_updated(group, member_roles(group=group))
    return group


@transaction.atomic
def do_dismiss_group(*, user: User, group_id: object) -> None:
    """The owner dismisses the group: it refuses sends and changes from now on
    (`group_disabled`), members keep their history, pending join requests are
    cancelled, and the members get `group.dismissed`."""
    group, me = _acting(user, group_id, role="owner")
    _set_status(group, GroupStatus.DISMISSED)
    logger.info("group %s dismissed by %s", group.pk, user.pk)


def _set_status(group: Group, status: str) -> None:
    group.status = status
    group.save(update_fields=["status", "updated_at"])
    roles = member_roles(group=group)
    access_changed_on_commit(user_ids=roles)
    if status == GroupStatus.DISMISSED:
        JoinRequest.objects.filter(group=group, status=RequestStatus.PENDING).update(
            status=RequestStatus.CANCELLED, pending_key=None, updated_at=timezone.now()
        )
        _send_group_frames(group, roles, lambda g: {"type": "group.dismissed", "group": g})
    else:
        _group_updated(group, roles)


# For the back office (an administrator acts on any group; auditing is the caller's).


@transaction.atomic
def do_admin_set_group_status(*, group_id: object, status: str) -> Group:
    """Disable, enable or dismiss a group as an administrator. Members get
    `group.updated` (disable, enable) or `group.dismissed`. A dismissed group
    stays dismissed (`conflict`); a change to the same status writes nothing."""
    if status not in GroupStatus.values:
        raise Invalid.field("status", gettext("One of %(n)s.") % {"n": ", ".join(GroupStatus.values)})
    group = _lock_group(group_id)
    if group.status == status:
        return group
    if group.status == GroupStatus.DISMISSED:
        raise Conflict(gettext("This group is dismissed."))
    _set_status(group, status)
    logger.info("group %s set to %s by an administrator", group.pk, status)
    return group


# --------------------------------------------------------------------------- membership


@transaction.atomic
def do_add_members(*, user: User, group_id: object, users: object) -> list[Member]:
    """Add `users` (the caller's contacts: others → `not_contact`; a block
    either way → `blocked`). The owner and admins may always; members only
    when the join mode is `open`. Those already members are skipped (whoever
    they are to the caller); the result lists the ones added. Over
    GROUP_MAX_MEMBERS → `conflict`."""
    group = _lock_group(group_id)
    me = require_membership(group=group, user=user)
    _require_active(group)
    if me.role not in MANAGERS and group.join_mode != JoinMode.OPEN:
        raise Forbidden(gettext("Only the owner and admins may add members to this group."))
    fresh = _invitees(inviter=user, ids=users, field="users", group=group)
    _check_room(group, len(fresh))
    conversation = _conversation(group)
    return _add(group, conversation, fresh, by=user)


@transaction.atomic
def do_remove_member(*, user: User, group_id: object, member_id: object) -> None:
    """The owner removes anyone else; an admin removes members (not admins);
    others → `forbidden`. Removing yourself is leaving (`do_leave_group`).
    The removed user gets the `member_removed` system message and then
    `group.member_removed`, and nothing about the group after that."""
    group = _lock_group(group_id)
    me = require_membership(group=group, user=user)
    if parse_uuid(member_id) == user.uuid:
        _leave(group, me)
        return
    _require_active(group)
    _require_manager(me)
    target = _find_member(group, member_id)
    if me.role == Role.ADMIN and target.role != Role.MEMBER:
        raise Forbidden(gettext("Admins may remove members only."))
    _drop(group, _conversation(group), target, by=user, event="member_removed")


@transaction.atomic
def do_leave_group(*, user: User, group_id: object) -> None:
    """Leave a group. The owner must transfer ownership first (`conflict`),
    unless the group is dismissed.
    Leaving is allowed whatever the group's status (a member may always drop
    a disabled or dismissed group); only an active group records it as a
    `member_left` system message."""
    group = _lock_group(group_id)
    me = require_membership(group=group, user=user)
    _leave(group, me)


def _leave(group: Group, me: Member) -> None:
    # A dismissed group has nobody to hand it to (no transfer once it is not
    # active): its owner may drop it like anyone else.
    if me.role == Role.OWNER and group.status != GroupStatus.DISMISSED:
        raise Conflict(gettext("Transfer the ownership before leaving the group."))
    me.user = User.objects.select_related("avatar").get(pk=me.user_id)
    _drop(group, _conversation(group), me, by=me.user, event="member_left")


@transaction.atomic
def do_transfer_ownership(*, user: User, group_id: object, new_owner_id: object) -> Group:
    """The owner hands the group to another member and becomes an admin. An
    `owner_transferred` system message; the members get `group.updated`."""
    group, me = _acting(user, group_id, role="owner")
    target = _find_member(group, new_owner_id)
    if target.pk == me.pk:
        raise Conflict(gettext("You already own this group."))
    set_role(me, Role.ADMIN)
    set_role(target, Role.OWNER)
    group.owner = target.user
    group.save(update_fields=["owner", "updated_at"])
    _conversation(group)
    _announce(group, event="owner_transferred", actor=user, targets=[target.user])
    _group_updated(group, member_roles(group=group))
    logger.info("group %s: owner %s -> %s", group.pk, user.pk, target.user_id)
    return group


@transaction.atomic
def do_set_member_role(*, user: User, group_id: object, member_id: object, role: object) -> Member:
    """The owner makes a member an admin or an admin a member. The owner's own
    role changes only by transfer (`conflict`). Every member gets
    `group.updated` (the one whose role changed: their `my_role`), so every
    page shows the new role."""
    if role not in (Role.ADMIN, Role.MEMBER):
        raise Invalid.field("role", gettext('Must be "admin" or "member".'))
    group, me = _acting(user, group_id, role="owner")
    target = _find_member(group, member_id)
    if target.role == Role.OWNER:
        raise Conflict(gettext("The owner's role changes only by transferring the group."))
    if target.role != role:
        set_role(target, role)
        # Every member: the member's own role, and what the others' pages
        # show and offer (another admin's Remove for a new admin would fail).
        _group_updated(group, member_roles(group=group))
    return target


# --------------------------------------------------------------------------- joining


@transaction.atomic
def do_join_group(*, user: User, group_id: object, message: object = "") -> Member | JoinRequest:
    """Anyone with the group's id asks to join. `open`: a member at once
    (`member_added` system message, `group.member_added`). `approval`: a
    pending JoinRequest, and the owner and admins get `group.join_request`.
    Already a member, or a request already pending → `conflict`."""
    text = clean_text(
        "" if message is None else message, field="message", max_len=JOIN_MESSAGE_MAX, allow_empty=True, multiline=True
    )
    group = _lock_group(group_id)
    if membership_of(group=group, user=user) is not None:
        raise Conflict(gettext("You are already a member of this group."))
    _require_active(group)
    if group.join_mode == JoinMode.OPEN:
        _check_room(group, 1)
        joiner = User.objects.select_related("avatar").get(pk=user.pk)
        [membership] = _add(group, _conversation(group), [joiner], by=joiner)
        return membership
    try:
        with transaction.atomic():
            request = JoinRequest.objects.create(
                group=group, user=user, message=text, pending_key=f"{group.pk}:{user.pk}"
            )
    except IntegrityError:
        raise Conflict(gettext("You already asked to join this group.")) from None
    request.group, request.user = group, user
    managers = [uid for uid, r in member_roles(group=group).items() if r in MANAGERS]
    send_event_on_commit(
        user_ids=managers, frame={"type": "group.join_request", "request": join_request_to_wire(request)}
    )
    return request


def _pending_request(group: Group, request_id: object) -> JoinRequest:
    uid = parse_uuid(request_id)
    request = JoinRequest.objects.select_related("user__avatar").filter(group=group, uuid=uid).first() if uid else None
    if request is None:
        raise NotFound(gettext("No such join request."))
    request.group = group
    if request.status != RequestStatus.PENDING:
        raise Conflict(request_closed_text(request.status))
    return request


def _decided(group: Group, request: JoinRequest, status: str, by: User) -> None:
    request.status, request.pending_key, request.decided_by = status, None, by
    request.save(update_fields=["status", "pending_key", "decided_by", "updated_at"])
    managers = [uid for uid, r in member_roles(group=group).items() if r in MANAGERS]
    send_event_on_commit(
        user_ids=[*managers, request.user_id],
        frame={"type": "group.join_request", "request": join_request_to_wire(request)},
    )


@transaction.atomic
def do_accept_join_request(*, user: User, group_id: object, request_id: object) -> JoinRequest:
    """The owner or an admin accepts: the requester becomes a member (announced
    as `member_added` by the one who accepted), and the owner, the admins and
    the requester get `group.join_request` with the decided request."""
    group, me = _acting(user, group_id, role="manager")
    request = _pending_request(group, request_id)
    if membership_of(group=group, user=request.user) is None:
        _check_room(group, 1)
        _add(group, _conversation(group), [request.user], by=user)
    _decided(group, request, RequestStatus.ACCEPTED, user)
    return request


@transaction.atomic
def do_reject_join_request(*, user: User, group_id: object, request_id: object) -> JoinRequest:
    """The owner or an admin rejects; the owner, the admins and the requester
    get `group.join_request` with the decided request."""
    group, me = _acting(user, group_id, role="manager")
    request = _pending_request(group, request_id)
    _decided(group, request, RequestStatus.REJECTED, user)
    return request


# --------------------------------------------------------------------------- an account that goes


@dataclass(frozen=True)
class GroupsReleased:
    """What became of a departing user's groups (ids)."""

    left: list[str]
    transferred: dict[str, str]  # group id -> the new owner's id
    dismissed: list[str]
    kept: list[str]  # owned groups that are disabled or dismissed: left as they are


def _successor(group: Group, owner: User) -> User | None:
    """Who takes a group over from its departing owner: the longest-serving
    admin, else the longest-serving member, active accounts before disabled
    ones; None when the owner is alone."""
    rank = {Role.ADMIN: 0, Role.MEMBER: 1}
    candidates = list(
        Member.objects.select_related("user")
        .filter(conversation_id=group.conversation_id, left_seq__isnull=True)
        .exclude(user=owner)
    )
    if not candidates:
        return None
    candidates.sort(key=lambda m: (m.user.status != UserStatus.ACTIVE, rank.get(m.role, 2), m.joined_at, m.pk))
    return candidates[0].user


def do_release_groups(*, user: User) -> GroupsReleased:
    """`user` leaves every group they are in, as when their account is
    deleted: a member simply leaves; an owner hands an active group to
    `_successor` and leaves, or dismisses it when alone; a disabled or
    dismissed group they own is kept as it is. Each step is the ordinary
    action, with its own lock, system message and events."""
    released = GroupsReleased(left=[], transferred={}, dismissed=[], kept=[])
    memberships = list(
        Member.objects.select_related("conversation__group")
        .filter(user=user, left_seq__isnull=True, conversation__group__isnull=False)
        .order_by("pk")
    )
    for membership in memberships:
        group = membership.conversation.group
        gid = str(group.uuid)
        if membership.role != Role.OWNER:
            do_leave_group(user=user, group_id=gid)
            released.left.append(gid)
        elif group.status != GroupStatus.ACTIVE:
            released.kept.append(gid)
        else:
            successor = _successor(group, user)
            if successor is None:
                do_dismiss_group(user=user, group_id=gid)
                released.dismissed.append(gid)
            else:
                do_transfer_ownership(user=user, group_id=gid, new_owner_id=str(successor.uuid))
                do_leave_group(user=user, group_id=gid)
                released.transferred[gid] = str(successor.uuid)
    return released
