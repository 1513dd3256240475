"""Contacts, contact requests and blocks: the rules of the social graph."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from contacts.models import Contact
from messaging.conversations import ensure_direct_conversation


@transaction.atomic
def do_connect(*, user: User, other: User) -> Contact:
    """Make `user` and `other` contacts of each other (both directions) and open
    their direct conversation. Idempotent. Returns `user`'s side."""
    conversation = ensure_direct_conversation(user=user, other=other)
    now = timezone.now()
    mine, _ = Contact.objects.get_or_create(
        owner=user, other=other, defaults={"since": now, "conversation": conversation}
    )
    Contact.objects.get_or_create(owner=other, other=user, defaults={"since": now, "conversation": conversation})
    return mine
