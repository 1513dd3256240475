"""@assistant: a bot the product runs itself, answering through a generative
model (any OpenAI-compatible chat-completions server, assistant/llm.py).

It is a public bot (anyone adds it and talks to it in a direct chat) whose
events are answered in process (bots.internal), only while a model server is
configured (ASSISTANT_LLM_URL):

- `/summarize` in any conversation: a summary of the caller's unread
  messages there, shown to the caller alone (never stored).
- `/ask <question>` in any conversation: an answer for the caller alone.
- A message in the direct chat with it (or a mention of it in a group it is
  in): an answer posted there, with the chat's last few messages as context.
  Its budget is taken before the model is asked, from a bucket of the
  asker's own with a bot's rate (bots.services.check_answer_rate); spent,
  the asker alone is told it cannot answer right now.

What it reads is what the asker may read, on the asker's request only: the
caller's access to the conversation is checked when the command runs (the
send check) and again here (the read window). Every answer starts with a
label saying it is generated.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User, UserStatus
from assistant.llm import LLMConfig, LLMError
from bots.models import INTERNAL_PREFIX, Bot, Command
from bots.services import check_answer_rate
from chatsite.errors import ChatError, RateLimited
from conversations.models import MessageKind
from conversations.selectors import access_conversation, history_page

logger = logging.getLogger(__name__)

NAME = "assistant"
EVENTS_URL = INTERNAL_PREFIX + NAME
USERNAME = "assistant"
LABEL = "✨ AI-generated, may be wrong"
SUMMARY_MAX_MESSAGES = 100
CONTEXT_MESSAGES = 10
COMMANDS = (
    {"name": "summarize", "description": "Summarize your unread messages here (only you see it)", "usage": ""},
    {"name": "ask", "description": "Ask the assistant (only you see the answer)", "usage": "<question>"},
)
SYSTEM = (
    "You are the assistant of a chat app. Answer briefly and plainly, in the language of the question. "
    "When you summarize a conversation, say who said what that matters, decisions and open questions, "
    "in a few bullet points."
)


def enabled() -> bool:
    return bool(settings.ASSISTANT_LLM_URL)


def _config() -> LLMConfig:
    return LLMConfig(
        url=settings.ASSISTANT_LLM_URL,
        model=settings.ASSISTANT_LLM_MODEL,
        api_key=settings.ASSISTANT_LLM_KEY,
        timeout_s=settings.ASSISTANT_LLM_TIMEOUT_S,
        max_tokens=settings.ASSISTANT_LLM_MAX_TOKENS,
    )


def ensure_assistant_bot(**kwargs) -> None:
    """The assistant's account, its Bot row and commands, once a model server
    is configured (idempotent; run after every migrate, which `make run`
    does at each start). It has no owner, so no key opens it: only the
    product speaks as it. A taken username gets a suffix."""
    if not enabled() or Bot.objects.filter(events_url=EVENTS_URL).exists():
        return
    for suffix in ("", "_bot", "_ai"):
        try:
            with transaction.atomic():
                user = User(username=USERNAME + suffix, nickname="Assistant", is_bot=True)
                user.set_unusable_password()
                user.save()
                bot = Bot.objects.create(
                    user=user,
                    description="Summaries and answers from a generative model, on request only.",
                    is_public=True,
                    events_url=EVENTS_URL,
                )
                Command.objects.bulk_create([Command(bot=bot, **c) for c in COMMANDS])
            return
        except IntegrityError:
            continue
    logger.warning("no username left for the assistant bot")


def get_assistant() -> User | None:
    bot = Bot.objects.select_related("user").filter(events_url=EVENTS_URL).first()
    return bot.user if bot is not None and bot.user.status == UserStatus.ACTIVE else None


# --------------------------------------------------------------------------- answering


def _line(message) -> str | None:
    """A message as the model reads it: `name: text` (files by name; system
    lines and recalled messages left out)."""
    if message.recalled or message.kind in (MessageKind.SYSTEM, MessageKind.CALL):
        return None
    sender = message.sender
    name = (sender.nickname or sender.username or "someone") if sender is not None else "someone"
    if message.kind == MessageKind.TEXT:
        text = message.text or ""
    elif message.kind == MessageKind.FILE:
        text = f"[file] {message.text or ''}".strip()
    else:
        text = "[forwarded messages]"
    return f"{name}: {text}"


def _unread(user: User, conversation_id: str) -> tuple[list[str], int]:
    """The caller's unread messages in a conversation they may read (the
    newest SUMMARY_MAX_MESSAGES of them) as lines, and how many there are."""
    access = access_conversation(user=user, conversation_id=conversation_id)
    start = max(access.member.read_seq, access.first_seq - 1)
    total = max(access.last_seq - start, 0)
    if total == 0:
        return [], 0
    if total <= SUMMARY_MAX_MESSAGES:
        messages, _ = history_page(access=access, after=start, limit=SUMMARY_MAX_MESSAGES)
    else:
        messages, _ = history_page(access=access, limit=SUMMARY_MAX_MESSAGES)
    return [line for m in messages if m.seq > start and (line := _line(m))], total


def _recent(user: User, conversation_id: str) -> list[str]:
    access = access_conversation(user=user, conversation_id=conversation_id)
    messages, _ = history_page(access=access, limit=CONTEXT_MESSAGES)
    return [line for m in messages if (line := _line(m))]


def _ask_model(prompt: list[dict]) -> str | None:
    try:
        return _config().complete(prompt)
    except LLMError as exc:
        logger.warning("the assistant's model failed: %s", exc.reason)
        return None


def _labelled(text: str) -> str:
    return f"{LABEL}\n{text}"


def _unavailable(response_type: str) -> dict:
    return {"text": "The assistant cannot answer right now; try again later.", "response_type": response_type}


def answer(event: dict) -> dict | None:
    """What the assistant says to an event (bots.events calls this)."""
    if not enabled():
        return {"text": "The assistant is not set up on this server.", "response_type": "ephemeral"}
    user = User.objects.filter(uuid=event["user"]["id"], status=UserStatus.ACTIVE).first()
    if user is None:
        return None
    conversation_id = event["conversation"]["id"]
    if event["type"] == "command" and event["command"] == "/summarize":
        try:
            lines, total = _unread(user, conversation_id)
        except ChatError:
            return None  # no longer theirs to read
        if not lines:
            return {"text": "You have no unread messages here.", "response_type": "ephemeral"}
        shown = f"the newest {len(lines)} of {total}" if total > len(lines) else f"{total}"
        prompt = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Summarize these {shown} unread chat messages:\n" + "\n".join(lines)},
        ]
        text = _ask_model(prompt)
        if text is None:
            return _unavailable("ephemeral")
        return {"text": _labelled(f"Summary of {shown} unread messages:\n{text}"), "response_type": "ephemeral"}
    if event["type"] == "command" and event["command"] == "/ask":
        question = event.get("text", "").strip()
        if not question:
            return {"text": "Ask a question: /ask followed by your question.", "response_type": "ephemeral"}
        text = _ask_model([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
        if text is None:
            return _unavailable("ephemeral")
        return {"text": _labelled(text), "response_type": "ephemeral"}
    if event["type"] in ("message", "mention"):
        assistant = get_assistant()
        if assistant is None:
            return None
        try:
            # What the assistant itself may read there: the chat it is in.
            context = _recent(assistant, conversation_id)
        except ChatError:
            return None
        prompt = [{"role": "system", "content": SYSTEM}]
        if len(context) > 1:  # the last line is the message being answered
            prompt.append({"role": "user", "content": "The conversation so far:\n" + "\n".join(context[:-1])})
        content = event["message"].get("content")
        prompt.append({"role": "user", "content": content if isinstance(content, str) else "(no text)"})
        try:
            # The posted answer's budget, taken before the model is paid for:
            # the asker's own bucket (bots.services), never one for everyone.
            check_answer_rate(bot=assistant, asker=user)
        except RateLimited:
            return _unavailable("ephemeral")
        text = _ask_model(prompt)
        if text is None:
            return _unavailable("in_channel")
        return {"text": _labelled(text), "response_type": "in_channel"}
    return None
