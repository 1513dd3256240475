"""Bots: creating and running them (docs/bots.md).

A bot is a user (`is_bot`, `bot_owner`) whose messages go through the same
checks, bus, store and fan-out as anyone's: nothing here writes a message.
Its owner manages it here; the bot itself signs in with an API key and uses
the ordinary REST API and WebSocket.

Who may talk to a bot follows the pair rule: a bot is someone's contact.
Its owner, and anyone for a public bot, adds it (`do_add_bot`), with no
request to accept; from then on it is added to groups like any contact.

Locks: a bot's own rows are changed under its user row's lock
(`_lock_owned`), the owner's bots are counted under the owner's.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.actions.fields import clean_nickname, clean_username
from accounts.actions.profile import announce_profile
from accounts.actions.sessions import CLOSE_DISABLED, do_revoke_session, do_revoke_user_sessions, issue_bot_key
from accounts.models import LoginSession, SessionKind, User, UserStatus
from bots.models import Bot, Command, Webhook
from bots.selectors import access_bot, live
from chatsite import kv, outbound
from chatsite.errors import Blocked, Conflict, Forbidden, Invalid, NotFound, RateLimited
from chatsite.text import clean_text
from chatsite.wire import parse_uuid
from contacts.models import Contact
from contacts.selectors import get_pair
from contacts.services import do_connect
from conversations.models import Member
from groups.departure import anonymise, do_unwind_account, lock_with_contacts
from messaging.actions.send import message_budget

logger = logging.getLogger(__name__)

DESCRIPTION_MAX = 500
KEY_NAME_MAX = 64
COMMAND_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
COMMANDS_MAX = 50
WEBHOOK_PREFIX = "wsch_"
# Commands the product answers itself (messaging): a bot cannot take them.
BUILTIN_COMMANDS = ("me", "shrug", "mute", "unmute", "invite")


def _require_person(user: User) -> None:
    if user.is_bot:
        raise Forbidden(gettext("A bot cannot own bots."))


def _lock_owned(*, user: User, bot_id: object) -> Bot:
    """The caller's bot, its user row locked (`not_found` for anyone else's)."""
    bot = access_bot(user=user, bot_id=bot_id)
    list(User.objects.select_for_update().filter(pk=bot.user_id).values_list("pk"))
    return bot


def _clean_description(value: object) -> str:
    return clean_text(value, field="description", max_len=DESCRIPTION_MAX, allow_empty=True, multiline=True)


def _clean_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid.field(field, gettext("Must be true or false."))
    return value


def _clean_events_url(value: object) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise Invalid.field("events_url", gettext("Must be an http or https URL, or null."))
    return outbound.validate_url(value, field="events_url")


# --------------------------------------------------------------------------- the bot


@transaction.atomic
def do_create_bot(
    *, owner: User, username: object, nickname: object = "", description: object = "", is_public: object = False
) -> Bot:
    """A new bot owned by `owner` (a person, with fewer than BOTS_MAX_PER_OWNER
    bots). It has no password and no key yet: `do_create_bot_key`."""
    _require_person(owner)
    name = clean_username(username)
    nick = clean_nickname(nickname or "")
    text = _clean_description(description or "")
    public = _clean_bool(is_public, "is_public")
    list(User.objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
    owned = User.objects.filter(bot_owner=owner, is_bot=True).exclude(status=UserStatus.DELETED).count()
    if owned >= settings.BOTS_MAX_PER_OWNER:
        raise Conflict(gettext("You have %(owned)s bots, the most one person may have.") % {"owned": owned})
    if User.objects.filter(username=name).exists():
        raise Conflict(gettext("This username is taken."))
    try:
        with transaction.atomic():
            user = User(username=name, nickname=nick, is_bot=True, bot_owner=owner)
            user.set_unusable_password()
            user.save()
    except IntegrityError:
        raise Conflict(gettext("This username is taken.")) from None
    bot = Bot.objects.create(user=user, description=text, is_public=public, signing_secret=secrets.token_hex(32))
    logger.info("bot %s created by %s", user.pk, owner.pk)
    return bot


_UNSET = object()


@transaction.atomic
def do_update_bot(
    *,
    user: User,
    bot_id: object,
    nickname: object = _UNSET,
    description: object = _UNSET,
    is_public: object = _UNSET,
    events_url: object = _UNSET,
) -> Bot:
    """Edit a bot's name, description, who may add it and its events URL.
    Making a public bot private removes nobody who added it meanwhile. Its
    contacts hear of a new name (`user.updated`)."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    profile_changed = False
    if nickname is not _UNSET:
        bot.user.nickname = clean_nickname(nickname)
        profile_changed = True
    if description is not _UNSET:
        bot.description = _clean_description(description)
    if is_public is not _UNSET:
        bot.is_public = _clean_bool(is_public, "is_public")
    if events_url is not _UNSET:
        bot.events_url = _clean_events_url(events_url)
    bot.save()
    if profile_changed:
        bot.user.save(update_fields=["nickname", "updated_at"])
        announce_profile(bot.user)
    return bot


@transaction.atomic
def do_rotate_signing_secret(*, user: User, bot_id: object) -> Bot:
    """A new secret for the signatures of the bot's outgoing events; the old one stops at once."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    bot.signing_secret = secrets.token_hex(32)
    bot.save(update_fields=["signing_secret"])
    return bot


@transaction.atomic
def do_delete_bot(*, user: User, bot_id: object) -> None:
    """Delete a bot for good: its keys and webhooks stop, its sockets close,
    it leaves every group (as a deleted account does) and every contact, and
    its account shows as deleted under the messages it sent."""
    bot = access_bot(user=user, bot_id=bot_id)
    lock_with_contacts(user_pk=bot.user_id)
    account = User.objects.get(pk=bot.user_id)
    if account.status == UserStatus.DELETED:
        raise NotFound(gettext("No such bot."))
    # As a person's deletion (groups.departure): the row first, so every
    # event below shows "Deleted user", then its sessions and relations.
    anonymise(user=account)
    do_revoke_user_sessions(
        user=account, reason="bot_deleted", close_code=CLOSE_DISABLED
    )  # 4403: the account is deleted
    Webhook.objects.filter(bot=bot, revoked_at__isnull=True).update(revoked_at=timezone.now())
    do_unwind_account(user=account)
    Command.objects.filter(bot=bot).delete()
    bot.events_url = ""
    bot.is_public = False
    bot.save(update_fields=["events_url", "is_public"])
    logger.info("bot %s deleted by %s", account.pk, user.pk)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class NewKey:
    session: LoginSession
    key: str  # shown once


@transaction.atomic
def do_create_bot_key(*, user: User, bot_id: object, name: object = "") -> NewKey:
    """A new API key for the bot (at most BOT_KEYS_MAX live at a time). The key
    is in the answer once; only its hash is kept."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    label = clean_text(name or "", field="name", max_len=KEY_NAME_MAX, allow_empty=True)
    live = LoginSession.objects.filter(user=bot.user, kind=SessionKind.BOT, revoked_at__isnull=True).count()
    if live >= settings.BOT_KEYS_MAX:
        raise Conflict(gettext("This bot has %(live)s keys; revoke one first.") % {"live": live})
    session, key = issue_bot_key(bot=bot.user, name=label)
    logger.info("key %s created for bot %s by %s", session.pk, bot.user_id, user.pk)
    return NewKey(session=session, key=key)


@transaction.atomic
def do_revoke_bot_key(*, user: User, bot_id: object, key_id: object) -> None:
    """Revoke one key: requests with it answer 401 and its sockets close (4401) at once."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    kid = parse_uuid(key_id)
    session = LoginSession.objects.filter(user=bot.user, kind=SessionKind.BOT, uuid=kid).first() if kid else None
    if session is None:
        raise NotFound(gettext("No such key."))
    if session.revoked_at is None:
        do_revoke_session(session=session, reason="key_revoked")


# --------------------------------------------------------------------------- who may talk to it


@transaction.atomic
def do_add_bot(*, user: User, bot_id: object) -> Contact:
    """Add a bot to `user`'s contacts, opening their direct chat: its owner
    may, the people it allows, and anyone for a public bot. No request: a bot accepts whoever may
    add it. Idempotent. A block either way is `blocked`."""
    if user.is_bot:
        raise Forbidden(gettext("Bots add each other through their owners."))
    bid = parse_uuid(bot_id)
    target = User.objects.select_related("bot").filter(live(), uuid=bid, is_bot=True).first() if bid else None
    if target is None or not (
        target.bot_owner_id == user.pk or target.bot.is_public or target.bot.allowed.filter(pk=user.pk).exists()
    ):
        raise NotFound(gettext("No such bot."))
    if get_pair(user_id=user.pk, other_id=target.pk).blocked:
        raise Blocked()
    return do_connect(user=user, other=target)


@transaction.atomic
def do_set_allowed(*, user: User, bot_id: object, users: object) -> list[User]:
    """Replace who besides its owner may add a private bot (active people,
    at most BOT_ALLOWED_MAX). Someone taken off the list keeps the bot if
    they added it already: as with any contact, they remove it themselves."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    if not isinstance(users, list) or len(users) > settings.BOT_ALLOWED_MAX:
        raise Invalid.field(
            "users",
            gettext("A list of at most %(bot_allowed_max)s user ids.") % {"bot_allowed_max": settings.BOT_ALLOWED_MAX},
        )
    uuids = []
    for value in users:
        uid = parse_uuid(value)
        if uid is None:
            raise Invalid.field("users", gettext("Each must be a user id."))
        uuids.append(uid)
    people = list(User.objects.select_related("avatar").filter(uuid__in=uuids, status=UserStatus.ACTIVE, is_bot=False))
    if len(people) != len(set(uuids)):
        raise NotFound(gettext("No such user."))
    bot.allowed.set(people)
    return sorted(people, key=lambda u: u.pk)


# --------------------------------------------------------------------------- slash commands


def _clean_commands(value: object) -> list[dict]:
    if not isinstance(value, list):
        raise Invalid.field("commands", gettext("A list of commands."))
    if len(value) > COMMANDS_MAX:
        raise Invalid.field("commands", gettext("At most %(commands_max)s commands.") % {"commands_max": COMMANDS_MAX})
    seen, cleaned = set(), []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"name", "description", "usage"}:
            raise Invalid.field("commands", gettext("Each is {name, description, usage}."))
        name = item.get("name")
        if not isinstance(name, str) or not COMMAND_NAME_RE.match(name):
            raise Invalid.field("commands", gettext("A name is 1 to 32 of a-z, 0-9, _ and -, without the slash."))
        if name in BUILTIN_COMMANDS:
            raise Invalid.field("commands", gettext("/%(name)s is built in.") % {"name": name})
        if name in seen:
            raise Invalid.field("commands", gettext("/%(name)s is listed twice.") % {"name": name})
        seen.add(name)
        cleaned.append(
            {
                "name": name,
                "description": clean_text(
                    item.get("description", ""), field="description", max_len=200, allow_empty=True
                ),
                "usage": clean_text(item.get("usage", ""), field="usage", max_len=100, allow_empty=True),
            }
        )
    return cleaned


@transaction.atomic
def do_set_commands(*, user: User, bot_id: object, commands: object) -> list[Command]:
    """Replace the bot's slash commands (they reach its events URL)."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    cleaned = _clean_commands(commands)
    Command.objects.filter(bot=bot).delete()
    return Command.objects.bulk_create([Command(bot=bot, **item) for item in cleaned])


# --------------------------------------------------------------------------- incoming webhooks


def webhook_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    token: str  # in the URL; shown once


@transaction.atomic
def do_create_webhook(*, user: User, bot_id: object, conversation_id: object) -> NewWebhook:
    """An incoming webhook posting as the bot in a conversation the bot is a
    member of (`not_found` otherwise: add the bot first). The URL is in the
    answer once; only its token's hash is kept."""
    bot = _lock_owned(user=user, bot_id=bot_id)
    cid = parse_uuid(conversation_id)
    member = (
        Member.objects.select_related("conversation")
        .filter(conversation__uuid=cid, user=bot.user, left_seq__isnull=True)
        .first()
        if cid
        else None
    )
    if member is None:
        raise NotFound(gettext("The bot is not in this conversation."))
    live = Webhook.objects.filter(bot=bot, revoked_at__isnull=True).count()
    if live >= settings.BOT_WEBHOOKS_MAX:
        raise Conflict(gettext("This bot has %(live)s webhooks; revoke one first.") % {"live": live})
    token = WEBHOOK_PREFIX + secrets.token_urlsafe(32)
    webhook = Webhook.objects.create(
        bot=bot,
        conversation=member.conversation,
        token_hash=webhook_token_hash(token),
        token_prefix=token[: len(WEBHOOK_PREFIX) + 6],
    )
    logger.info("webhook %s created for bot %s by %s", webhook.pk, bot.user_id, user.pk)
    return NewWebhook(webhook=webhook, token=token)


@transaction.atomic
def do_revoke_webhook(*, user: User, bot_id: object, webhook_id: object) -> None:
    bot = _lock_owned(user=user, bot_id=bot_id)
    wid = parse_uuid(webhook_id)
    if wid is None:
        raise NotFound(gettext("No such webhook."))
    updated = Webhook.objects.filter(bot=bot, uuid=wid).update(revoked_at=timezone.now())
    if not updated:
        raise NotFound(gettext("No such webhook."))


# --------------------------------------------------------------------------- answers of the product's bots


def check_answer_rate(*, bot: User, asker: User) -> None:
    """Take the budget of one posted answer of a bot the product runs (the
    assistant) to `asker`, before the costly work of making it: each asker
    has a bucket of their own with a bot's rate and burst
    (LIMIT_BOT_MESSAGES_*), so one bot answering everyone is not one bucket
    that the busiest askers empty for the rest, and an answer is never paid
    for and then refused. `rate_limited` when the asker's share is spent; writes nothing
    else (bots.events posts the answer without charging it again)."""
    _, rate, burst = message_budget(bot)
    decision = kv.store().token_bucket(f"botanswer:{bot.pk}:{asker.pk}", rate=rate, burst=burst)
    if not decision.allowed:
        raise RateLimited(retry_after=decision.retry_after)
