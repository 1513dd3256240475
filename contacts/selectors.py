"""Reads about the social graph between two users."""

from __future__ import annotations

from django.db.models import Q

from accounts.models import User
from contacts.models import Block, Contact


def contact_user_ids(*, user: User) -> list[int]:
    """Primary keys of everyone `user` has as a contact."""
    return list(Contact.objects.filter(owner=user).values_list("other_id", flat=True))


def are_contacts(*, user_id: int, other_id: int) -> bool:
    return Contact.objects.filter(owner_id=user_id, other_id=other_id).exists()


def is_blocked_between(*, user_id: int, other_id: int) -> bool:
    """True when either user blocks the other."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def blocked_either_way_ids(*, user: User) -> set[int]:
    """Users `user` blocks or is blocked by."""
    pairs = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list("blocker_id", "blocked_id")
    return {b if a == user.pk else a for a, b in pairs}
