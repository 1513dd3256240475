"""Bots: what a bot account has beyond a user's (accounts.User with `is_bot`
and `bot_owner`; its API keys are login sessions of kind `bot`).

- `Bot`: the description, who may add it, and where its outgoing events go.
- `Command`: a slash command a bot answers in the conversations it is in.
- `Webhook`: an incoming webhook, a secret URL that posts as the bot in one
  conversation.
- `Delivery`: an outgoing event waiting to reach the bot's URL (retried with
  backoff by the bots worker).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# A bot the product runs itself has `events_url` = INTERNAL_PREFIX + a name
# (bots.events.register_internal_bot): its events are answered in process.
INTERNAL_PREFIX = "internal:"


class Bot(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="bot"
    )
    description = models.CharField(max_length=500, blank=True, default="")
    # Anyone may add a public bot to their contacts (and so to their groups);
    # a private one its owner and the people it allows.
    is_public = models.BooleanField(default=False)
    # Besides its owner (and anyone, when public), who may add it.
    allowed = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # Outgoing events (mentions, direct messages, slash commands) are POSTed
    # here, signed with `signing_secret`; empty: none.
    events_url = models.CharField(max_length=2000, blank=True, default="")
    signing_secret = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"bot {self.user_id}"


class Command(models.Model):
    """`/name args` in a conversation the bot is in goes to the bot."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="commands")
    name = models.CharField(max_length=32)
    description = models.CharField(max_length=200, blank=True, default="")
    usage = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bot", "name"], name="bot_command_unique")]
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return f"/{self.name}"


class Webhook(models.Model):
    """An incoming webhook: whoever holds its URL posts as the bot in
    `conversation`. Only the token's SHA-256 is stored."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="webhooks")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=16)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"webhook {self.pk} of bot {self.bot_id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"
    # No longer to be sent: the message was recalled or the bot left the
    # conversation since the event was planned (bots/events.py `_as_now`).
    DROPPED = "dropped", "dropped"


class Delivery(models.Model):
    """One outgoing event for a bot's URL. `key` makes recording it
    idempotent (a redelivered bus record adds nothing)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="deliveries")
    key = models.CharField(max_length=100, unique=True)
    payload = models.JSONField()
    state = models.CharField(max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["state", "next_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"delivery {self.key}"
