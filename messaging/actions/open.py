"""Opening a conversation from a contact or a group (un-hiding it)."""

from __future__ import annotations

import logging

from django.utils.translation import gettext

from accounts.models import User
from chatsite.errors import (
    Invalid,
    NotContact,
    NotFound,
    NotMember,
)
from contacts.models import Contact
from conversations.models import ConversationKind, Member
from conversations.services import announce_own_state
from messaging.actions.send import _direct_peer_id, resolve_target

logger = logging.getLogger(__name__)


def do_open_conversation(*, user: User, peer: object = None, group: object = None) -> Member:
    """Find (and un-hide) the user's conversation with a contact or a group.
    Never creates one with a non-contact."""
    if (peer is None) == (group is None):
        raise Invalid.field("peer", gettext("Give exactly one of `peer` or `group`."))
    to = {"user": peer} if peer is not None else {"group": group}
    conversation, member = resolve_target(sender=user, to=to)
    if member is None:
        raise NotFound(gettext("No such conversation."))
    if conversation.kind == ConversationKind.DIRECT:
        if not Contact.objects.filter(owner=user, other_id=_direct_peer_id(conversation, user.pk)).exists():
            raise NotContact()
    elif member.left_seq is not None:
        raise NotMember()
    if member.hidden:
        member.hidden = False
        member.save(update_fields=["hidden", "updated_at"])
        announce_own_state(user=user, member=member)
    return member
