"""Editing a text message (contract v3 §4, §8): the sender, within
EDIT_WINDOW_S; earlier versions are kept for administrators only."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from chatsite.errors import Forbidden, Invalid
from chatsite.text import check_message_text
from conversations.models import MessageKind, MessageVersion
from conversations.render import render_one
from conversations.services import post_system_message
from messaging.actions.changes import lock_target, send_per_reader_on_commit


@dataclass(frozen=True)
class Edited:
    # The frame for the caller's socket when nothing changed (no one else is
    # told); None when the members (the caller's sockets too) get it on commit.
    unchanged_frame: dict | None


def _frame(conversation_uuid: str, message: dict, seq: int | None) -> dict:
    return {"type": "message.edited", "conversation": conversation_uuid, "message": message, "seq": seq}


def do_edit_message(
    *, user: User, message_id: object, content: object, socket_id: str | None = None, ref: str | None = None, now=None
) -> Edited:
    """Replace the text of the caller's own text message. The old text is
    kept as a MessageVersion; an `edit` event (silent, no text in it) is
    stored; every member who may read the message gets `message.edited`
    with the updated Message. The same text again stores nothing and
    answers the caller alone."""
    text = check_message_text(content, field="content", what=gettext("A message"))
    if not text.strip():
        raise Invalid.field("content", gettext("Must not be empty."))
    now = now or timezone.now()
    with transaction.atomic():
        target = lock_target(user=user, message_id=message_id)
        message = target.message
        if message.sender_id != user.pk:
            raise Forbidden(gettext("You can only edit your own messages."))
        if message.kind != MessageKind.TEXT or message.recalled:
            raise Forbidden(gettext("Only text messages that are not recalled can be edited."))
        if message.forwarded_from is not None:
            raise Forbidden(gettext("A forwarded message cannot be edited."))
        if (now - message.created_at).total_seconds() > settings.EDIT_WINDOW_S:
            raise Forbidden(
                gettext("Messages can be edited for %(n)s minutes after sending.") % {"n": settings.EDIT_WINDOW_S // 60}
            )
        conversation_uuid = str(target.access.conversation.uuid)
        if message.text == text:
            current = render_one(message, reader_id=user.pk, visible_from=target.access.member.visible_from_seq)
            return Edited(unchanged_frame=_frame(conversation_uuid, current, message.edit_seq))
        MessageVersion.objects.create(
            message=message,
            text=message.text or "",
            written_at=message.edited_at or message.created_at,
            replaced_at=now,
        )
        event = post_system_message(
            conversation=target.access.conversation,
            event="edit",
            actor=user,
            targets=[user],
            changes={"message": str(message.uuid), "seq": message.seq},
        )
        message.text = text
        message.edited_at = now
        message.edit_seq = event.seq
        message.save(update_fields=["text", "edited_at", "edit_seq"])
        send_per_reader_on_commit(
            message=message,
            build=lambda wire: _frame(conversation_uuid, wire, event.seq),
            caller=user,
            socket_id=socket_id,
            ref=ref,
        )
    return Edited(unchanged_frame=None)
