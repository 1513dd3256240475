"""Reads about groups, and who may see what.

- Anyone signed in who has a group's id sees its public card.
- Members (whatever the group's status) see the group, its members and its
  history; owners and admins also see its join requests.
- Everyone else gets `not_member` if they once belonged (their row in the
  group's conversation says so) and `not_found` if they never did, so a
  group's membership never leaks to strangers.

Membership is the group conversation's (conversations.members): a
"membership" here is the caller's current Member row, with its `role`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Exists, IntegerField, Q, Value, When
from django.utils.translation import gettext

from accounts.models import User
from chatsite.errors import Forbidden, Invalid, NotFound, NotMember
from chatsite.wire import parse_uuid, whole_number
from contacts.models import RequestStatus
from conversations import members
from conversations.members import MANAGERS
from conversations.models import Member, Role
from groups.models import Group, GroupStatus, JoinRequest
from groups.serializers import group_to_wire

GROUP_RELATED = ("owner__avatar", "avatar", "conversation")
ROLE_RANK = {Role.OWNER: 0, Role.ADMIN: 1, Role.MEMBER: 2}


def get_group(*, group_id: object) -> Group | None:
    uid = parse_uuid(group_id)
    if uid is None:
        return None
    return Group.objects.select_related(*GROUP_RELATED).filter(uuid=uid).first()


def membership_of(*, group: Group, user: User) -> Member | None:
    """`user`'s row in the group while they are a member."""
    return members.current_member(conversation_id=group.conversation_id, user=user)


def require_membership(*, group: Group, user: User) -> Member:
    """`user`'s membership; `not_member` for a former member, `not_found` for anyone else."""
    membership = membership_of(group=group, user=user)
    if membership is None:
        if members.was_member(conversation_id=group.conversation_id, user=user):
            raise NotMember()
        raise NotFound(gettext("No such group."))
    return membership


@dataclass(frozen=True)
class GroupView:
    group: Group
    membership: Member | None


def access_group_card(*, user: User, group_id: object) -> GroupView:
    """The group with the caller's membership (None: they see only the card)."""
    group = get_group(group_id=group_id)
    if group is None:
        raise NotFound(gettext("No such group."))
    return GroupView(group=group, membership=membership_of(group=group, user=user))


def access_group(*, user: User, group_id: object) -> GroupView:
    """The group for one of its members (see the module docstring for the errors)."""
    group = get_group(group_id=group_id)
    if group is None:
        raise NotFound(gettext("No such group."))
    return GroupView(group=group, membership=require_membership(group=group, user=user))


def access_managed_group(*, user: User, group_id: object) -> GroupView:
    """The group for its owner or an admin; other members get `forbidden`."""
    view = access_group(user=user, group_id=group_id)
    if view.membership.role not in MANAGERS:  # type: ignore[union-attr]
        raise Forbidden(gettext("Only the owner and admins may do this."))
    return view


def member_roles(*, group: Group) -> dict[int, str | None]:
    """{user pk: role} of the current members: the recipients of the group's events. One query."""
    return members.roles_of(conversation_id=group.conversation_id)


# --------------------------------------------------------------------------- lists


def list_my_groups(*, user: User, after_id: int | None, limit: int) -> list[Member]:
    """`user`'s memberships of groups with their groups (`membership.conversation.group`),
    newest membership row first; `limit + 1` rows from the keyset. One query."""
    qs = Member.objects.filter(user=user, left_seq__isnull=True, conversation__group__isnull=False).select_related(
        *(f"conversation__group__{r}" for r in GROUP_RELATED if r != "conversation"), "conversation__group"
    )
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])


def decode_member_cursor(values: list | None) -> tuple[int, int] | None:
    if values is None:
        return None
    rank, pk = values
    if whole_number(rank) is None or whole_number(pk) is None:
        raise Invalid.field("cursor", gettext("Not a cursor from this list."))
    return rank, pk


def list_members(*, group: Group, after: tuple[int, int] | None, limit: int) -> list[Member]:
    """Members: the owner, then admins, then members, each in joining order;
    `limit + 1` rows from the keyset (rank, pk). One query."""
    rank = Case(
        *(When(role=role, then=Value(n)) for role, n in ROLE_RANK.items()),
        default=Value(3),
        output_field=IntegerField(),
    )
    qs = (
        Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True)
        .select_related("user__avatar")
        .annotate(rank=rank)
    )
    if after is not None:
        after_rank, after_pk = after
        qs = qs.filter(Q(rank__gt=after_rank) | Q(rank=after_rank, pk__gt=after_pk))
    return list(qs.order_by("rank", "pk")[: limit + 1])


def list_join_requests(*, group: Group, after_id: int | None, limit: int, status: object = None) -> list[JoinRequest]:
    """The group's join requests, newest first, optionally of one status. One query."""
    if status is not None and status not in RequestStatus.values:
        raise Invalid.field("status", gettext("One of %(n)s.") % {"n": ", ".join(RequestStatus.values)})
    qs = JoinRequest.objects.filter(group=group).select_related("user__avatar", "group__avatar")
    if status is not None:
        qs = qs.filter(status=status)
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])


# --------------------------------------------------------------------------- the `group` of Conversation objects


def group_fields(user: User, memberships: list[Member]) -> dict[int, dict]:
    """The Group object of each group conversation among the user's
    `memberships`, with the user's role in it (conversations.wire asks). One query."""
    roles = {m.conversation_id: m.role for m in memberships if m.conversation.kind == "group"}
    if not roles:
        return {}
    groups = Group.objects.select_related(*GROUP_RELATED).filter(conversation_id__in=roles)
    return {g.conversation_id: group_to_wire(g, my_role=roles[g.conversation_id]) for g in groups}


# --------------------------------------------------------------------------- avatars (files.access)


def may_read_group_avatar(user: User, file) -> bool:
    """Any signed-in user may load an active group's avatar."""
    return Group.objects.filter(avatar_id=file.pk, status=GroupStatus.ACTIVE).exists()


def group_avatars_holding(file_ref) -> Exists:
    return Exists(Group.objects.filter(avatar_id=file_ref))
