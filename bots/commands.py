"""Slash commands: `/name args` typed in a conversation.

The built-in ones act through the same services as the app's buttons:
`/me` and `/shrug` send a message, `/mute` and `/unmute` mute the
conversation for the caller, `/invite @user …` adds contacts to a group.
Any other name is a command of a bot that is a member of the conversation
(bots.models.Command): it goes over the bus to the bot's events URL
(bots.events), and the bot's answer comes back as a message or, only to the
caller, as a `bot.ephemeral` frame. A command that reaches a bot is not a
message: nothing is stored in the conversation for it.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

from django.utils.translation import gettext

from accounts.models import User, UserStatus
from bots.models import Command
from bots.selectors import commands_in
from chatsite import wire
from chatsite.bus import COMMANDS_TOPIC, get_bus
from chatsite.errors import Invalid, NotFound
from conversations.models import ConversationKind
from conversations.services import do_update_conversation_state
from groups.services import do_add_members
from messaging.actions.send import check_may_post, check_send_message, check_send_rate, do_send_message

logger = logging.getLogger(__name__)

TEXT_MAX = 2000
_COMMAND = re.compile(r"^/([a-z0-9][a-z0-9_-]{0,31})(?:\s+(.*))?$", re.S)
SHRUG = "¯\\_(ツ)_/¯"


@dataclass(frozen=True)
class Builtin:
    name: str
    description: str
    usage: str = ""
    groups_only: bool = False


BUILTINS = (
    Builtin("me", "Say what you are doing, in the third person", "[action]"),
    Builtin("shrug", "Send a message with ¯\\_(ツ)_/¯ at its end", "[message]"),
    Builtin("mute", "Mute this conversation"),
    Builtin("unmute", "Unmute this conversation"),
    Builtin("invite", "Add your contacts to this group", "@username …", groups_only=True),
)
_BUILTIN_NAMES = {b.name: b for b in BUILTINS}


@dataclass(frozen=True)
class Available:
    """A command offered in a conversation: a built-in (bot None) or a bot's."""

    name: str
    description: str
    usage: str
    bot: User | None


@dataclass(frozen=True)
class Ran:
    command: str
    # `sent`: a message was sent (its client_msg_id); `done`: a built-in acted;
    # `forwarded`: on its way to the bot.
    status: str
    client_msg_id: str | None = None


def parse_command(text: object) -> tuple[str, str]:
    """(name, arguments) of `/name arguments`; `invalid` otherwise."""
    if not isinstance(text, str) or not text.startswith("/"):
        raise Invalid.field("text", gettext("A command starts with /."))
    if len(text) > TEXT_MAX or "\x00" in text:
        raise Invalid.field("text", gettext("At most %(text_max)s characters, no NUL.") % {"text_max": TEXT_MAX})
    m = _COMMAND.match(text.strip())
    if m is None:
        raise Invalid.field("text", gettext("A command is / and a name of a-z, 0-9, _ and -, then its arguments."))
    return m[1], (m[2] or "").strip()


def list_commands(*, user: User, conversation_id: object) -> list[Available]:
    """The commands `user` may run in a conversation they may post in: the
    built-ins, then the commands of the bots in it, by name."""
    conversation, _ = check_may_post(sender=user, conversation=conversation_id)
    group = conversation.kind == ConversationKind.GROUP
    found = [Available(b.name, b.description, b.usage, None) for b in BUILTINS if group or not b.groups_only]
    found += [
        Available(c.name, c.description, c.usage, c.bot.user) for c in commands_in(conversation_id=conversation.pk)
    ]
    return found


def _send(user: User, conversation, text: str, client_msg_id: object) -> str:
    draft = check_send_message(
        sender=user,
        client_msg_id=client_msg_id if client_msg_id is not None else str(uuid.uuid4()),
        kind="text",
        content=text,
        conversation=str(conversation.uuid),
    )
    do_send_message(draft=draft)
    return draft.client_msg_id


def _invitees(args: str) -> list[str]:
    names = [n.lstrip("@").lower() for n in args.split()]
    if not names:
        raise Invalid.field("text", gettext("Name who to invite: /invite @username …"))
    found = dict(User.objects.filter(username__in=names, status=UserStatus.ACTIVE).values_list("username", "uuid"))
    missing = [n for n in names if n not in found]
    if missing:
        raise NotFound(gettext("No such user: %(n)s.") % {"n": ", ".join("@" + n for n in missing)})
    return [str(found[n]) for n in names]


def do_run_command(*, user: User, conversation_id: object, text: object, client_msg_id: object = None) -> Ran:
    """Run `/name args` in a conversation the caller may post in. A built-in
    acts now; a bot's command is durable on the bus when this returns. A
    command no one here answers is `invalid`. Each counts against the
    caller's message budget, like a message."""
    name, args = parse_command(text)
    conversation, _ = check_may_post(sender=user, conversation=conversation_id)
    # Every command, built-in or a bot's, answered or not: one budget check here.
    check_send_rate(user=user)
    display = user.nickname or user.username or ""
    builtin = _BUILTIN_NAMES.get(name)
    if builtin is not None and builtin.groups_only and conversation.kind != ConversationKind.GROUP:
        raise Invalid.field("text", gettext("/%(name)s works in groups only.") % {"name": name})
    if name == "me":
        if not args:
            raise Invalid.field("text", gettext("Say what you are doing: /me waves."))
        return Ran(name, "sent", _send(user, conversation, f"* {display} {args}", client_msg_id))
    if name == "shrug":
        return Ran(name, "sent", _send(user, conversation, f"{args} {SHRUG}".strip(), client_msg_id))
    if name in ("mute", "unmute"):
        do_update_conversation_state(user=user, conversation_id=str(conversation.uuid), muted=name == "mute")
        return Ran(name, "done")
    if name == "invite":
        do_add_members(user=user, group_id=str(conversation.group.uuid), users=_invitees(args))
        return Ran(name, "done")
    command = next(iter(c for c in commands_in(conversation_id=conversation.pk) if c.name == name), None)
    if command is None:
        raise Invalid.field("text", gettext("No command /%(name)s in this conversation.") % {"name": name})
    return _forward(user, conversation, command, args)


def _forward(user: User, conversation, command: Command, args: str) -> Ran:
    record = {
        "v": 1,
        "id": str(uuid.uuid4()),
        "conversation": conversation.pk,
        "user": user.pk,
        "bot": command.bot.user_id,
        "command": command.name,
        "text": args,
    }
    get_bus().publish_sync(topic=COMMANDS_TOPIC, key=str(conversation.uuid), value=wire.dumps_bytes(record))
    logger.info("command /%s of user %s to bot %s", command.name, user.pk, command.bot.user_id)
    return Ran(command.name, "forwarded")
