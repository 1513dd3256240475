"""Pinned messages (contract v3 §4, §8): in a direct conversation either
person, in a group its owner and admins; at most MAX_PINS per conversation.
A pin and an unpin are `system` events shown as a line in the chat."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from chatsite.errors import Conflict, Forbidden, NotFound, NotMember
from conversations.members import MANAGERS
from conversations.models import ConversationKind, Message
from conversations.selectors import access_conversation
from conversations.services import post_system_message
from messaging.actions.changes import Target, lock_target, refuse_events_on

MAX_PINS = 50


def _pin_target(*, user: User, conversation_id: object, message_id: object) -> Target:
    """The message, locked, in the conversation named by the path; the caller
    may pin there (direct: either person; group: owner and admins)."""
    access = access_conversation(user=user, conversation_id=conversation_id)
    if not access.is_current:
        raise NotMember()
    target = lock_target(user=user, message_id=message_id)
    if target.message.conversation_id != access.conversation.pk:
        raise NotFound(gettext("No such message in this conversation."))
    if target.access.conversation.kind == ConversationKind.GROUP and target.access.member.role not in MANAGERS:
        raise Forbidden(gettext("Only the group's owner and admins can pin messages."))
    return target


def do_pin_message(*, user: User, conversation_id: object, message_id: object, now=None) -> tuple[Message, bool]:
    """Pin a message. Stores a `pin` event, which every member gets as
    `message.new`. Returns (message, whether it was pinned now): pinning a
    pinned one changes nothing."""
    with transaction.atomic():
        target = _pin_target(user=user, conversation_id=conversation_id, message_id=message_id)
        message = target.message
        refuse_events_on(message)
        if message.pinned_at is not None:
            return message, False
        if Message.objects.filter(conversation_id=message.conversation_id, pinned_at__isnull=False).count() >= MAX_PINS:
            raise Conflict(
                gettext("A conversation can have at most %(max_pins)s pinned messages.") % {"max_pins": MAX_PINS}
            )
        _set_pin(target, user=user, pinned_at=now or timezone.now())
    return message, True


def do_unpin_message(*, user: User, conversation_id: object, message_id: object) -> None:
    """Unpin a pinned message (one that is not pinned: `not_found`). Stores
    an `unpin` event."""
    with transaction.atomic():
        target = _pin_target(user=user, conversation_id=conversation_id, message_id=message_id)
        message = target.message
        if message.pinned_at is None:
            raise NotFound(gettext("This message is not pinned."))
        _set_pin(target, user=user, pinned_at=None)


def _set_pin(target: Target, *, user: User, pinned_at) -> None:
    """Pin (a time) or unpin (None) the target message and store the event."""
    message = target.message
    message.pinned_at = pinned_at
    message.pinned_by = user if pinned_at is not None else None
    message.save(update_fields=["pinned_at", "pinned_by"])
    post_system_message(
        conversation=target.access.conversation,
        event="pin" if pinned_at is not None else "unpin",
        actor=user,
        targets=[message.sender] if message.sender_id else [],
        changes={"message": str(message.uuid), "seq": message.seq},
    )
