"""Bots: reads."""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext

from accounts.models import LoginSession, SessionKind, User, UserStatus
from bots.internal import is_enabled
from bots.models import INTERNAL_PREFIX, Bot, Command, Webhook
from chatsite.errors import NotFound
from chatsite.wire import parse_uuid
from contacts.models import Contact
from conversations.models import Member


def access_bot(*, user: User, bot_id: object) -> Bot:
    """A bot `user` owns (`not_found` for any other, existence never leaks)."""
    bid = parse_uuid(bot_id)
    bot = (
        Bot.objects.select_related("user__avatar")
        .filter(user__uuid=bid, user__bot_owner=user)
        .exclude(user__status=UserStatus.DELETED)
        .first()
        if bid
        else None
    )
    if bot is None:
        raise NotFound(gettext("No such bot."))
    return bot


def list_bots(*, owner: User) -> list[Bot]:
    """The bots `owner` has, oldest first, with their commands."""
    return list(
        Bot.objects.select_related("user__avatar")
        .prefetch_related("commands", "allowed__avatar")
        .filter(user__bot_owner=owner)
        .exclude(user__status=UserStatus.DELETED)
        .order_by("created_at", "pk")
    )


def get_bot_card(*, viewer: User, bot_id: object) -> Bot:
    """An active bot `viewer` may look at without owning it: a public one, one
    its owner allows them to add, or one they have as a contact."""
    bid = parse_uuid(bot_id)
    bot = (
        Bot.objects.select_related("user__avatar")
        .prefetch_related("commands")
        .filter(user__uuid=bid, user__status=UserStatus.ACTIVE)
        .filter(
            Q(is_public=True)
            | Q(allowed=viewer)
            | Q(user_id__in=Contact.objects.filter(owner=viewer).values("other_id"))
        )
        .distinct()
        .first()
        if bid
        else None
    )
    if bot is None:
        raise NotFound(gettext("No such bot."))
    return bot


def list_keys(*, bot: Bot) -> list[LoginSession]:
    """The bot's live keys, newest first."""
    return list(
        LoginSession.objects.filter(user_id=bot.user_id, kind=SessionKind.BOT, revoked_at__isnull=True).order_by(
            "-created_at", "-pk"
        )
    )


def list_webhooks(*, bot: Bot) -> list[Webhook]:
    return list(
        Webhook.objects.select_related("conversation")
        .filter(bot=bot, revoked_at__isnull=True)
        .order_by("-created_at", "-pk")
    )


def live(prefix: str = "") -> Q:
    """Bot accounts that work (a condition on User rows, through `prefix`):
    active, and so is their owner. A bot stops with its owner, disabled or
    deleted (a bot the product runs itself has no owner)."""
    return Q(**{f"{prefix}status": UserStatus.ACTIVE}) & (
        Q(**{f"{prefix}bot_owner__isnull": True}) | Q(**{f"{prefix}bot_owner__status": UserStatus.ACTIVE})
    )


def commands_in(*, conversation_id: int) -> list[Command]:
    """The slash commands offered in a conversation, by name: those of the
    bots that are current members of it, and those of the bots the product
    runs itself (bots.events INTERNAL_PREFIX), which work everywhere."""
    bot_ids = Member.objects.filter(
        live("user__"), conversation_id=conversation_id, left_seq__isnull=True, user__is_bot=True
    ).values("user_id")
    found = (
        Command.objects.select_related("bot__user")
        .filter(
            Q(bot_id__in=bot_ids) | Q(bot__events_url__startswith=INTERNAL_PREFIX, bot__user__status=UserStatus.ACTIVE)
        )
        .order_by("name", "bot_id")
        .distinct()
    )
    return [c for c in found if not c.bot.events_url.startswith(INTERNAL_PREFIX) or is_enabled(c.bot.events_url)]
