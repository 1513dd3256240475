"""Incoming webhooks: a Slack-shaped POST to a secret URL becomes a message
from the bot in the webhook's conversation (docs/bots.md).

The message goes the way every message goes: the bot's rate, the send check
(the bot must still be a member, the group active, the text within limits),
the bus, the store and the fan-out. `Idempotency-Key` names the message:
the same key on the same webhook posts once (it becomes the client_msg_id),
and a repeat of one already stored answers `ok` without spending the budget.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.conf import settings

from accounts.models import UserStatus
from bots import slack
from bots.models import Webhook
from bots.services import WEBHOOK_PREFIX, webhook_token_hash
from chatsite.errors import ChatError, GroupDisabled, RateLimited
from messaging.actions.send import check_send_message, check_send_rate, do_send_message

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_MAX = 255
# client_msg_ids of webhook posts: uuid5 of (webhook, Idempotency-Key).
_NAMESPACE = uuid.UUID("8a3c1f0e-5d7b-4c2a-9e61-2f4b7d9c0a15")


@dataclass(frozen=True)
class Posted:
    client_msg_id: str
    truncated: bool


def _webhook(token: str) -> Webhook:
    if not token.startswith(WEBHOOK_PREFIX) or len(token) > 100:
        raise slack.SlackPayloadError("no_service", "No such webhook.", status=404)
    hook = (
        Webhook.objects.select_related("bot__user__bot_owner", "conversation")
        .filter(token_hash=webhook_token_hash(token), revoked_at__isnull=True)
        .first()
    )
    if hook is None:
        raise slack.SlackPayloadError("no_service", "No such webhook.", status=404)
    bot, owner = hook.bot.user, hook.bot.user.bot_owner
    if bot.status != UserStatus.ACTIVE or owner is None or owner.status != UserStatus.ACTIVE:
        raise slack.SlackPayloadError("no_service", "This webhook's bot is disabled.", status=404)
    return hook


def _client_msg_id(hook: Webhook, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return str(uuid.uuid4())
    if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_MAX:
        raise slack.SlackPayloadError(
            "invalid_payload", f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters."
        )
    return str(uuid.uuid5(_NAMESPACE, f"{hook.pk}:{idempotency_key}"))


def post_by_webhook(*, token: str, content_type: str, body: bytes, idempotency_key: str | None) -> Posted:
    """Post what a webhook request says, as its bot, in its conversation.
    Returns once the message is durable (as POST /messages). Raises
    SlackPayloadError, with Slack's codes: `no_service` (404) for a token
    that is unknown, revoked or whose bot or owner is not active,
    `invalid_payload` / `no_text` / ... (400) for the body,
    `action_prohibited` (403) when the bot may no longer post there,
    `channel_is_archived` (410) for a disabled group, `rate_limited` (429).
    A repeat of an Idempotency-Key already stored returns as the first did,
    without checking the budget (nothing more is posted)."""
    hook = _webhook(token)
    payload = slack.parse_request(content_type, body)
    rendered = slack.render(payload, max_len=settings.MAX_TEXT)
    text = rendered.text
    if rendered.username and rendered.username != (hook.bot.user.nickname or hook.bot.user.username):
        # A sender name of the integration's choosing, as Slack shows it: in
        # the message, since the sender is always the bot.
        text = f"{rendered.username}: {text}"[: settings.MAX_TEXT]
    bot = hook.bot.user
    cmid = _client_msg_id(hook, idempotency_key)
    try:
        draft = check_send_message(
            sender=bot,
            client_msg_id=cmid,
            kind="text",
            content=text,
            conversation=str(hook.conversation.uuid),
        )
        # A repeat of a key already posted answers as the first did, and
        # costs nothing: only a message still to post spends the budget.
        if draft.existing is None:
            check_send_rate(user=bot)
            do_send_message(draft=draft)
    except RateLimited as exc:
        refusal = slack.SlackPayloadError("rate_limited", exc.message, status=429)
        refusal.retry_after = exc.retry_after
        raise refusal from None
    except GroupDisabled as exc:
        raise slack.SlackPayloadError("channel_is_archived", exc.message, status=410) from None
    except ChatError as exc:
        if exc.status >= 500:
            raise
        if exc.status in (403, 404):  # no longer a member, blocked, no longer contacts
            raise slack.SlackPayloadError("action_prohibited", exc.message, status=403) from None
        raise slack.SlackPayloadError("invalid_payload", exc.message) from None
    logger.info("webhook %s posted as bot %s", hook.pk, bot.pk)
    return Posted(client_msg_id=draft.client_msg_id, truncated=rendered.truncated)
