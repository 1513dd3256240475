"""Writes of smart replies: a person's switch."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext

from accounts.models import User
from assistant.models import AssistantPreference, MessageVector
from assistant.selectors import get_smart_replies, smart_replies_available
from chatsite.errors import Conflict

logger = logging.getLogger(__name__)


def do_set_smart_replies(*, user: User, on: bool) -> bool:
    """Switch smart replies on or off for `user`; returns whether they get them.

    Switching on where the deployment offers none (ASSISTANT=0, or an engine
    that cannot run here) is refused with `conflict` and changes nothing;
    switching off is always taken. Off means the vectors of the messages
    they received are deleted (in the same transaction), what they receive is
    no longer embedded and no suggestion reaches their sockets; on again
    starts from the next message. Nobody else is told: the assistant worker
    reads the setting at each batch."""
    if on and not smart_replies_available():
        raise Conflict(
            gettext("Smart replies are turned off on this server (ASSISTANT=0); they cannot be switched on.")
        )
    with transaction.atomic():
        AssistantPreference.objects.update_or_create(user=user, defaults={"smart_replies": on})
        if not on:
            MessageVector.objects.filter(recipient=user).delete()
    logger.info("smart replies %s for user %s", "on" if on else "off", user.pk)
    return get_smart_replies(user=user)
