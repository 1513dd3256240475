"""Building groups for tests through the services (the product's own path)."""

from __future__ import annotations

from contacts.services import do_connect
from conversations.models import Role
from groups import services
from groups.models import Group


def make_group(owner, *, members=(), admins=(), name="Team", join_mode="approval", **kwargs) -> Group:
    """A group owned by `owner` with `admins` and `members` (made `owner`'s contacts first)."""
    for user in (*admins, *members):
        do_connect(user=owner, other=user)
    group = services.do_create_group(
        owner=owner,
        name=name,
        members=[str(u.uuid) for u in (*admins, *members)],
        join_mode=join_mode,
        **kwargs,
    )
    for user in admins:
        services.do_set_member_role(user=owner, group_id=str(group.uuid), member_id=str(user.uuid), role=Role.ADMIN)
    group.refresh_from_db()
    return group


def remove(group, by, user) -> None:
    services.do_remove_member(user=by, group_id=str(group.uuid), member_id=str(user.uuid))
