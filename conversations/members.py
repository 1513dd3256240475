"""Conversations and who is in them: the one truth about membership.

A Member row is a user's place in a conversation. In a direct conversation
both users have one for good. In a group conversation a row with
`left_seq IS NULL` is a current member, with a `role`; a row with `left_seq`
set is someone who left or was removed and may still read up to that seq.
Apps above (contacts, groups) create conversations and change membership
only through these functions; they hold their own locks (the group's row
first, then the conversation's: see groups.services).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from chatsite.events import access_changed_on_commit
from conversations.models import Conversation, ConversationKind, Member, Role

MANAGERS = (Role.OWNER, Role.ADMIN)


def direct_key(a_id: int, b_id: int) -> str:
    low, high = sorted((a_id, b_id))
    return f"{low}:{high}"


def ensure_direct_conversation(*, user: User, other: User) -> Conversation:
    """The one direct conversation of this pair, created on first need and
    reused forever (also after the contact is deleted and re-added)."""
    key = direct_key(user.pk, other.pk)
    conversation = Conversation.objects.filter(direct_key=key).first()
    if conversation is None:
        try:
            with transaction.atomic():
                conversation = Conversation.objects.create(kind=ConversationKind.DIRECT, direct_key=key)
        except IntegrityError:
            conversation = Conversation.objects.get(direct_key=key)
    for member in (user, other):
        Member.objects.get_or_create(conversation=conversation, user=member)
    return conversation


def create_group_conversation() -> Conversation:
    """A new group conversation, with no one in it yet."""
    return Conversation.objects.create(kind=ConversationKind.GROUP)


def lock_conversation(conversation: Conversation) -> None:
    """Hold the conversation's row until the transaction ends: the store step
    takes the same lock to number a message, so a message stored after a
    membership change is fanned out to the members as they are after it."""
    list(Conversation.objects.select_for_update().filter(pk=conversation.pk).values_list("pk"))


def join_conversation(*, conversation: Conversation, user: User, role: str = Role.MEMBER) -> Member:
    """`user` joins a group conversation with `role`: they may read what is
    stored from now on (seq > the current last_seq). Re-joining starts a new
    window."""
    last_seq = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).get()
    now = timezone.now()
    member, created = Member.objects.get_or_create(
        conversation=conversation,
        user=user,
        defaults={"visible_from_seq": last_seq, "read_seq": last_seq, "joined_at": now, "role": role},
    )
    if not created:
        member.visible_from_seq = last_seq
        member.read_seq = max(member.read_seq, last_seq)
        member.left_seq = None
        member.hidden = False
        member.joined_at = now
        member.role = role
        member.save(
            update_fields=["visible_from_seq", "read_seq", "left_seq", "hidden", "joined_at", "role", "updated_at"]
        )
    member.user = user
    return member


def leave_conversation(*, conversation: Conversation, user: User) -> None:
    """`user` leaves a group conversation (or is removed): they keep read
    access up to now, and no longer have a role."""
    last_seq = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).get()
    Member.objects.filter(conversation=conversation, user=user, left_seq__isnull=True).update(
        left_seq=last_seq, role=None, updated_at=timezone.now()
    )
    access_changed_on_commit(user_ids=(user.pk,))


def set_role(member: Member, role: str) -> None:
    member.role = role
    member.save(update_fields=["role", "updated_at"])


# --------------------------------------------------------------------------- reads


def current_member(*, conversation_id: int, user: User | int) -> Member | None:
    """`user`'s row while they are a member; None otherwise."""
    return (
        Member.objects.select_related("user__avatar")
        .filter(conversation_id=conversation_id, user=user, left_seq__isnull=True)
        .first()
    )


def was_member(*, conversation_id: int, user: User) -> bool:
    """True when `user` belonged to the conversation once and has left or been removed."""
    return Member.objects.filter(conversation_id=conversation_id, user=user, left_seq__isnull=False).exists()


def roles_of(*, conversation_id: int) -> dict[int, str | None]:
    """{user pk: role} of the current members: the recipients of the
    conversation's events. One query."""
    return dict(
        Member.objects.filter(conversation_id=conversation_id, left_seq__isnull=True).values_list("user_id", "role")
    )


def is_manager(*, conversation_id: int, user_id: int) -> bool:
    """The user is a current owner or admin of the conversation."""
    return Member.objects.filter(
        conversation_id=conversation_id, user_id=user_id, left_seq__isnull=True, role__in=MANAGERS
    ).exists()
