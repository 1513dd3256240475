"""Bots: wire shapes (docs/bots.md)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import LoginSession
from accounts.serializers import UserOut, user_to_wire
from bots.models import Bot, Command, Webhook
from chatsite.wire import iso


def command_to_wire(command: Command) -> dict:
    return {"name": command.name, "description": command.description, "usage": command.usage}


def bot_to_wire(bot: Bot, *, owner_view: bool) -> dict:
    """The Bot object; the events URL and signing secret only for its owner."""
    data = {
        "user": user_to_wire(bot.user),
        "description": bot.description,
        "is_public": bot.is_public,
        "commands": [command_to_wire(c) for c in bot.commands.all()],
        "created_at": iso(bot.created_at),
    }
    if owner_view:
        data["events_url"] = bot.events_url or None
        data["signing_secret"] = bot.signing_secret
        data["allowed"] = [user_to_wire(u) for u in bot.allowed.all()]
    return data


def key_to_wire(session: LoginSession, *, key: str | None = None) -> dict:
    data = {
        "id": str(session.uuid),
        "name": session.device,
        "prefix": session.key_prefix,
        "created_at": iso(session.created_at),
        "last_used_at": iso(session.last_seen_at),
    }
    if key is not None:
        data["key"] = key
    return data


def webhook_to_wire(webhook: Webhook, *, url: str | None = None) -> dict:
    data = {
        "id": str(webhook.uuid),
        "conversation": str(webhook.conversation.uuid),
        "prefix": webhook.token_prefix,
        "created_at": iso(webhook.created_at),
    }
    if url is not None:
        data["url"] = url
    return data


# --------------------------------------------------------------------------- schema shapes


class CommandOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    usage = serializers.CharField()


class BotOut(serializers.Serializer):
    user = UserOut()
    description = serializers.CharField()
    is_public = serializers.BooleanField()
    commands = CommandOut(many=True)
    created_at = serializers.DateTimeField()
    events_url = serializers.CharField(required=False, allow_null=True, help_text="owner only")
    signing_secret = serializers.CharField(required=False, help_text="owner only")
    allowed = UserOut(many=True, required=False, help_text="owner only: who besides the owner may add a private bot")


class KeyOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    key = serializers.CharField(required=False, help_text="only in the answer that created it")


class WebhookOut(serializers.Serializer):
    id = serializers.UUIDField()
    conversation = serializers.UUIDField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.CharField(required=False, help_text="only in the answer that created it")
