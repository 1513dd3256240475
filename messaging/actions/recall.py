"""Recalling a message: who may, what is removed, who is told."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User
from chatsite import wire
from chatsite.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    NotMember,
)
from chatsite.events import send_event_on_commit
from conversations.members import MANAGERS
from conversations.models import ConversationKind, Member, Mention, Message, MessageFile, Reaction
from conversations.selectors import access_conversation
from conversations.services import announce_own_state, post_system_message
from files.access import is_held
from files.models import File
from files.services import delete_file
from messaging.actions.changes import readers_of
from messaging.actions.send import SEND_KINDS, _check_group

logger = logging.getLogger(__name__)


def do_recall_message(*, user: User, message_id: object, now=None) -> Message:
    """Recall a message: the sender within RECALL_WINDOW_S, a group's owner and
    admins any message of their group. The content and the file are removed;
    the message stays as a placeholder with its seq. Members get
    `message.recalled`, and a `system` message (event `recall`) records it so
    `sync` carries the change to devices that were offline."""

    mid = wire.parse_uuid(message_id)
    if mid is None:
        raise Invalid.field("message", gettext("Must be a message id."))
    now = now or timezone.now()
    with transaction.atomic():
        message = Message.objects.select_for_update().select_related("conversation").filter(uuid=mid).first()
        if message is None:
            raise NotFound(gettext("No such message."))
        access = access_conversation(user=user, conversation_id=str(message.conversation.uuid))
        if not (access.first_seq <= message.seq <= access.last_seq):
            raise NotFound(gettext("No such message."))
        if message.kind not in SEND_KINDS:
            raise Forbidden(gettext("Only text, file and merged-forward messages can be recalled."))
        if message.recalled:
            raise Conflict(gettext("This message was already recalled."))
        conversation = access.conversation
        moderator = False
        if conversation.kind == ConversationKind.GROUP:
            if access.member.left_seq is not None:
                raise NotMember()
            _check_group(conversation, access.member)
            moderator = access.member.role in MANAGERS
        own_in_time = (
            message.sender_id == user.pk and (now - message.created_at).total_seconds() <= settings.RECALL_WINDOW_S
        )
        if not (own_in_time or moderator):
            raise Forbidden(gettext("You can only recall your own messages within 2 minutes."))
        files = [message.file] if message.file is not None else []
        files += [a.file for a in MessageFile.objects.filter(message=message).select_related("file")]
        message.recalled = True
        message.recalled_at = now
        message.text = None
        message.data = None
        message.file = None
        # A recall also unpins it (no event of its own) and takes its mentions and reactions away.
        message.pinned_at = None
        message.pinned_by = None
        message.save(update_fields=["recalled", "recalled_at", "text", "data", "file", "pinned_at", "pinned_by"])
        Mention.objects.filter(message=message).delete()
        MessageFile.objects.filter(message=message).delete()
        Reaction.objects.filter(message=message).delete()
        for file in {f.pk: f for f in files}.values():
            _discard_file_if_unused(file)
        # Drafts replying to it reply to nothing now; their owners' devices are told.
        drafting = list(
            Member.objects.filter(conversation=conversation, draft_reply_to=message.uuid).select_related("user")
        )
        if drafting:
            Member.objects.filter(pk__in=[m.pk for m in drafting]).update(draft_reply_to=None)
            for member in drafting:
                announce_own_state(user=member.user, member=member)
        send_event_on_commit(
            # Only those who may read it: not members who joined after it.
            user_ids=[uid for uid, _ in readers_of(message, actor_id=user.pk)],
            frame={
                "type": "message.recalled",
                "conversation": str(conversation.uuid),
                "message": str(message.uuid),
                "seq": message.seq,
            },
        )
        post_system_message(
            conversation=conversation,
            event="recall",
            actor=user,
            targets=[message.sender] if message.sender_id else [],
            changes={"message": str(message.uuid), "seq": message.seq},
        )
    return message


def _discard_file_if_unused(file: File) -> None:
    """Remove a recalled message's file from storage unless something else
    still holds it (another message, a forwarded copy, an avatar: files.access)."""
    if not is_held(file=file):
        delete_file(file=file)
