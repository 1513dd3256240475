"""Who sees that someone is typing (never stored)."""

from __future__ import annotations

import logging

from accounts.models import User
from conversations.models import ConversationKind
from conversations.selectors import access_conversation, current_member_ids
from messaging.actions.send import _check_direct, _check_group, _direct_peer_id

logger = logging.getLogger(__name__)


def check_typing(*, user: User, conversation_id: object) -> list[int]:
    """Who should see that `user` is typing: the other current members (a
    direct peer only while the two are contacts without a block). Writes nothing."""

    access = access_conversation(user=user, conversation_id=conversation_id)
    if access.conversation.kind == ConversationKind.DIRECT:
        _check_direct(user.pk, _direct_peer_id(access.conversation, user.pk))
    else:
        _check_group(access.conversation, access.member)
    return [uid for uid in current_member_ids(conversation=access.conversation) if uid != user.pk]
