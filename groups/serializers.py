"""Wire shapes for groups (docs/protocol/objects.md "Group").

Plain `*_to_wire` functions build the objects (they run for every member of
a group on each event); the Serializer classes describe the same shapes for
the OpenAPI schema and parse input (shape and types only: the rules are in
groups.services)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from accounts.serializers import UserOut, user_to_wire
from chatsite.drf import BoundedListField, id_field, text_field
from chatsite.wire import iso
from contacts.models import RequestStatus
from conversations.models import Member, Role
from files.selectors import avatar_url
from groups.models import JOIN_MESSAGE_MAX, NAME_MAX, NOTICE_MAX, Group, GroupStatus, JoinMode, JoinRequest


def group_card_to_wire(group: Group) -> dict:
    """The public card: what anyone who has the group's id may see, to ask to join."""
    return {
        "id": str(group.uuid),
        "name": group.name,
        "avatar": avatar_url(group.avatar) if group.avatar_id else None,
        "member_count": group.member_count,
        "join_mode": group.join_mode,
        "status": group.status,
        "my_role": None,
    }


def group_to_wire(group: Group, *, my_role: str | None) -> dict:
    """The Group object as a member sees it (`my_role` is the viewer's role)."""
    return {
        "id": str(group.uuid),
        "name": group.name,
        "notice": group.notice,
        "avatar": avatar_url(group.avatar) if group.avatar_id else None,
        "owner": user_to_wire(group.owner),
        "member_count": group.member_count,
        "join_mode": group.join_mode,
        "status": group.status,
        "created_at": iso(group.created_at),
        "conversation": str(group.conversation.uuid),
        "my_role": my_role,
    }


def member_to_wire(membership: Member) -> dict:
    return {"user": user_to_wire(membership.user), "role": membership.role, "joined_at": iso(membership.joined_at)}


def join_request_to_wire(request: JoinRequest) -> dict:
    """A group join request as a Request object (`kind: "group_join"`); the
    group is its public card, the same whoever looks at it."""
    return {
        "id": str(request.uuid),
        "kind": "group_join",
        "from": user_to_wire(request.user),
        "to": None,
        "group": group_card_to_wire(request.group),
        "message": request.message,
        "status": request.status,
        "created_at": iso(request.created_at),
    }


# --------------------------------------------------------------------------- schema shapes


ROLE_CHOICES = Role.choices
ASSIGNABLE_ROLES = [(Role.ADMIN.value, Role.ADMIN.label), (Role.MEMBER.value, Role.MEMBER.label)]


class GroupCardOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    avatar = serializers.CharField(allow_null=True)
    member_count = serializers.IntegerField()
    join_mode = serializers.ChoiceField(choices=JoinMode.choices)
    status = serializers.ChoiceField(choices=GroupStatus.choices)
    my_role = serializers.ChoiceField(choices=ROLE_CHOICES, allow_null=True, help_text="null: not a member")


class GroupOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    notice = serializers.CharField()
    avatar = serializers.CharField(allow_null=True)
    owner = UserOut()
    member_count = serializers.IntegerField()
    join_mode = serializers.ChoiceField(choices=JoinMode.choices)
    status = serializers.ChoiceField(choices=GroupStatus.choices)
    created_at = serializers.DateTimeField()
    conversation = serializers.UUIDField(allow_null=True)
    my_role = serializers.ChoiceField(choices=ROLE_CHOICES, allow_null=True)


class GroupViewOut(GroupCardOut):
    """GET /groups/{id}: the card's fields always; a member gets the whole Group."""

    notice = serializers.CharField(required=False, help_text="members only")
    owner = UserOut(required=False, help_text="members only")
    created_at = serializers.DateTimeField(required=False, help_text="members only")
    conversation = serializers.UUIDField(required=False, help_text="members only")


class RequestOut(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=[("contact", "contact"), ("group_join", "group_join")])
    # `from` is a Python keyword: declared below.
    to = UserOut(allow_null=True)
    group = GroupCardOut(allow_null=True)
    message = serializers.CharField()
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    created_at = serializers.DateTimeField()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = UserOut()
        return fields


class MemberOut(serializers.Serializer):
    user = UserOut()
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    joined_at = serializers.DateTimeField()


# --------------------------------------------------------------------------- input shapes


def _max_members() -> int:
    return settings.GROUP_MAX_MEMBERS


class GroupCreateIn(serializers.Serializer):
    name = text_field(max_len=NAME_MAX, allow_empty=False)
    members = BoundedListField(
        child=id_field(), required=False, max_items=_max_members, help_text="user ids (contacts)"
    )
    notice = text_field(max_len=NOTICE_MAX, allow_empty=True, multiline=True, required=False)
    avatar = id_field(required=False, allow_null=True, help_text="a File id you uploaded (an image)")
    join_mode = serializers.ChoiceField(choices=JoinMode.choices, required=False)


class GroupPatchIn(serializers.Serializer):
    name = text_field(max_len=NAME_MAX, allow_empty=False, required=False)
    notice = text_field(max_len=NOTICE_MAX, allow_empty=True, multiline=True, required=False)
    avatar = id_field(required=False, allow_null=True, help_text="a File id you uploaded (an image), or null")
    join_mode = serializers.ChoiceField(choices=JoinMode.choices, required=False)


class MembersAddIn(serializers.Serializer):
    users = BoundedListField(
        child=id_field(), allow_empty=False, max_items=_max_members, help_text="user ids (contacts)"
    )


class RoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES)


class TransferIn(serializers.Serializer):
    user = id_field(help_text="the new owner, a member")


class JoinIn(serializers.Serializer):
    message = text_field(max_len=JOIN_MESSAGE_MAX, allow_empty=True, multiline=True, required=False)
