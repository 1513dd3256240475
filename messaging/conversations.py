"""Creating conversations and membership rows (called by the contacts and
groups services, and by the store step)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from messaging.models import Conversation, ConversationKind, ConversationMember


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
        ConversationMember.objects.get_or_create(conversation=conversation, user=member)
    return conversation


def ensure_group_conversation(*, group) -> Conversation:
    conversation = Conversation.objects.filter(group=group).first()
    if conversation is None:
        conversation = Conversation.objects.create(kind=ConversationKind.GROUP, group=group)
    return conversation


def join_conversation(*, conversation: Conversation, user: User) -> ConversationMember:
    """A user joins a group conversation: they may read what is stored from now
    on (seq > the current last_seq). Re-joining starts a new window."""
    last_seq = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).get()
    member, created = ConversationMember.objects.get_or_create(
        conversation=conversation,
        user=user,
        defaults={"visible_from_seq": last_seq, "read_seq": last_seq, "joined_at": timezone.now()},
    )
    if not created:
        member.visible_from_seq = last_seq
        member.read_seq = max(member.read_seq, last_seq)
        member.left_seq = None
        member.hidden = False
        member.joined_at = timezone.now()
        member.save(update_fields=["visible_from_seq", "read_seq", "left_seq", "hidden", "joined_at", "updated_at"])
    return member


def leave_conversation(*, conversation: Conversation, user: User) -> None:
    """A user leaves a group conversation: they keep read access up to now."""
    last_seq = Conversation.objects.filter(pk=conversation.pk).values_list("last_seq", flat=True).get()
    ConversationMember.objects.filter(conversation=conversation, user=user, left_seq__isnull=True).update(
        left_seq=last_seq
    )
