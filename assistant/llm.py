"""An OpenAI-compatible chat-completions client: one blocking call, no
Django settings read here (the caller passes an `LLMConfig` built from
ASSISTANT_LLM_*).

`url` may be the full endpoint or a base URL, as the servers' docs give it:

- a path ending in `/chat/completions` is used as given;
- a base with a path (`https://api.openai.com/v1`, `http://host/openai/v1`)
  gets `/chat/completions` appended (the OpenAI SDKs' `base_url` rule);
- a bare host (`http://127.0.0.1:8000`) gets `/v1/chat/completions`.

Failures raise `LLMError` subclasses whose `reason` is short and safe to log
or show: a status, a timeout, an exception class name. Never the key, the
URL's query or any message content, and never the server's error body.

- `LLMUnavailable`: worth retrying later: connection failure, timeout, HTTP
  429 or 5xx, a redirect, or an answer that is not a chat completion.
- `LLMRejected`: the server refused the request as made (401/403: the key;
  400/404/422: the model or the request): a configuration problem.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

logger = logging.getLogger(__name__)

ROLES = frozenset({"system", "user", "assistant"})
# A chat completion of max_tokens is a few KB; anything near this is not one.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


class LLMError(Exception):
    """`reason`: short and log-safe. `status`: the HTTP status, if one came."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class LLMUnavailable(LLMError):
    pass


class LLMRejected(LLMError):
    pass


@dataclasses.dataclass(frozen=True)
class LLMConfig:
    url: str
    model: str
    api_key: str = dataclasses.field(default="", repr=False)
    timeout_s: float = 30.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        chat_completions_url(self.url)  # a bad URL fails when configured, not at the first question
        if not self.model:
            raise ValueError("The model must be named.")
        if self.timeout_s <= 0 or self.max_tokens < 1:
            raise ValueError("timeout_s must be positive and max_tokens at least 1.")

    def complete(self, messages: Sequence[dict[str, str]]) -> str:
        return complete(
            messages,
            url=self.url,
            api_key=self.api_key,
            model=self.model,
            timeout_s=self.timeout_s,
            max_tokens=self.max_tokens,
        )


def chat_completions_url(url: str) -> str:
    """The chat-completions endpoint for a full or base URL (module docstring).
    Raises ValueError for anything but an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("The LLM URL must be an absolute http(s) URL.")
    path = parts.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path = (path or "/v1") + "/chat/completions"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def complete(
    messages: Sequence[dict[str, str]],
    *,
    url: str,
    api_key: str | None,
    model: str,
    timeout_s: float,
    max_tokens: int,
) -> str:
    """The assistant's answer to `messages` (`{"role", "content"}` dicts,
    roles system/user/assistant): POST {model, messages, max_tokens} and
    return `choices[0].message.content`, stripped. Sends `Authorization:
    Bearer <api_key>` only when a key is given. `timeout_s` bounds each
    network wait and the reading of the whole answer (a server trickling
    bytes cannot hold the caller). One attempt: retrying is the caller's."""
    _check_messages(messages)
    endpoint = chat_completions_url(url)
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = {"model": model, "messages": list(messages), "max_tokens": max_tokens, "stream": False}
    host = urlsplit(endpoint).netloc
    started = time.monotonic()
    try:
        status, raw = _post(endpoint, headers=headers, body=body, timeout_s=timeout_s)
        answer = _answer(status, raw)
    except LLMError as exc:
        logger.warning(
            "llm call failed host=%s model=%s reason=%s elapsed_ms=%d",
            host,
            model,
            exc.reason,
            (time.monotonic() - started) * 1000,
        )
        raise
    logger.info(
        "llm call ok host=%s model=%s answer_chars=%d elapsed_ms=%d",
        host,
        model,
        len(answer),
        (time.monotonic() - started) * 1000,
    )
    return answer


def _check_messages(messages: Sequence[dict[str, str]]) -> None:
    if not messages:
        raise ValueError("At least one message is needed.")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ValueError("Each message needs a role: system, user or assistant.")
        if not isinstance(message.get("content"), str):
            raise ValueError("Each message's content must be a string.")


def _post(endpoint: str, *, headers: dict[str, str], body: dict[str, Any], timeout_s: float) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout_s
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client,
            client.stream("POST", endpoint, headers=headers, json=body) as response,
        ):
            if not 200 <= response.status_code < 300:
                return response.status_code, b""
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise LLMUnavailable("response too large", status=response.status_code)
                if time.monotonic() > deadline:
                    raise LLMUnavailable(f"timed out after {timeout_s:g}s", status=response.status_code)
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)
    except httpx.TimeoutException:
        raise LLMUnavailable(f"timed out after {timeout_s:g}s") from None
    except httpx.HTTPError as exc:
        # The class name only: some messages quote the URL.
        raise LLMUnavailable(f"network error ({type(exc).__name__})") from None


def _answer(status: int, raw: bytes) -> str:
    if status == 429 or status >= 500:
        raise LLMUnavailable(f"HTTP {status}", status=status)
    if 300 <= status < 400:
        raise LLMUnavailable(f"unexpected redirect (HTTP {status})", status=status)
    if status in (401, 403):
        raise LLMRejected(f"not authorized (HTTP {status}): check the API key", status=status)
    if not 200 <= status < 300:
        raise LLMRejected(f"request refused (HTTP {status}): check the model and URL", status=status)
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise LLMUnavailable("malformed response: not JSON", status=status) from None
    content = _content(document)
    if content is None:
        raise LLMUnavailable("malformed response: no choices[0].message.content", status=status)
    content = content.strip()
    if not content:
        raise LLMUnavailable("empty answer", status=status)
    return content


def _content(document: Any) -> str | None:
    try:
        content = document["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if isinstance(content, str):
        return content
    # Some servers answer content as parts: [{"type": "text", "text": "..."}].
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
        if texts and all(isinstance(text, str) for text in texts):
            return "".join(texts)
    return None
