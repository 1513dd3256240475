"""Slack incoming-webhook payloads: parsing and plain-text rendering, as pure
functions (no database, no network). The webhook view calls `parse_request`
then `render`, and posts `Rendered.text` as the bot; it answers a
`SlackPayloadError` the way Slack does: HTTP `status` with `code` as the body.

What Slack does, and so what we do:

- Errors (Slack's strings; HTTP 400 for all of them, as Slack's webhooks):
  `invalid_payload` for a body that cannot be understood as presented
  (changelog 2016-05-17 "Improving error conditions for Incoming Webhooks");
  `no_text` when nothing is left to show, `too_many_attachments` beyond 100
  attachments, `invalid_blocks_format` when `blocks` is not an array of
  objects, and `invalid_blocks` beyond 50 blocks (chat.postMessage's errors;
  Block Kit allows 50 blocks in a message).
- `text` with `blocks`: "If you're using blocks, [text] is used as a fallback
  string to display in notifications. If you aren't, this is the main body"
  (chat.postMessage, "The text, blocks and attachments fields"). So the
  message is the blocks when they render to something; `text` is shown only
  without blocks, or when none of the blocks renders (unknown types only).
  Attachments are shown below either, as Slack shows them.
- Too long: Slack does not refuse long messages; it truncates them and posts
  anyway with a `message_truncated` warning ("Truncating really long
  messages", changelog 2018-04, which applies to incoming webhooks too). We
  truncate at settings.MAX_TEXT (ending in "…") and say so in
  `Rendered.truncated`, so the view can add the warning.
- Escaping: in mrkdwn only `&`, `<` and `>` are escaped (`&amp;` `&lt;`
  `&gt;`), and `<...>` are control sequences: links, mentions, special
  mentions and dates ("Formatting text for app surfaces" / docs/formatting).
  `plain_text` text objects and rich-text elements are literal.

Supported blocks: section (text, fields, a button or image accessory),
header, context (text and image elements), divider (between other content
only), image (alt text, URL), actions (buttons: text and URL; other elements
are skipped), rich_text (sections, lists, preformatted, quotes; text, links,
user/channel/usergroup mentions, broadcasts, emoji, dates), and markdown.
Any other block type (input, file, video, call, ...) is skipped.

Attachments (legacy): pretext, author_name, title (with title_link), text,
fields ("title: value"), their blocks, buttons, footer; `fallback` only
when none of those gives anything.

Fields ignored: channel, icon_emoji, thread_ts, unfurl_*, link_names, parse,
mrkdwn, response_type, metadata: the webhook's conversation and bot are fixed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import unicodedata
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings

MAX_ATTACHMENTS = 100
MAX_BLOCKS = 50
MAX_USERNAME = 80
MAX_ICON_URL = 2048
_ELLIPSIS = "…"

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_SEQUENCE = re.compile(r"<([^<>]*)>")
_BROADCASTS = frozenset({"here", "channel", "everyone", "group"})


class SlackPayloadError(ValueError):
    """A webhook request Slack would refuse. `code` is Slack's error string
    (the response body), `status` the HTTP status, `message` says why in
    words (safe to log: it never quotes the payload)."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclasses.dataclass(frozen=True)
class Rendered:
    text: str
    username: str | None
    icon_url: str | None
    truncated: bool = False


# --------------------------------------------------------------------------- request


def parse_request(content_type: str, body: bytes) -> dict[str, Any]:
    """The payload object of a webhook request: an `application/json` body,
    or an `application/x-www-form-urlencoded` body whose one `payload` field
    holds the JSON. Both are UTF-8. Anything else is `invalid_payload`."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        document = _decode(body)
    elif media_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=64
            )
        except (UnicodeDecodeError, ValueError):
            raise SlackPayloadError("invalid_payload", "The form body is not valid UTF-8 form data.") from None
        values = fields.get("payload")
        if not values or len(values) != 1:
            raise SlackPayloadError("invalid_payload", "A form body needs exactly one `payload` field.")
        document = _decode(values[0].encode("utf-8"))
    else:
        raise SlackPayloadError(
            "invalid_payload", "Send application/json, or application/x-www-form-urlencoded with a payload field."
        )
    if not isinstance(document, dict):
        raise SlackPayloadError("invalid_payload", "The payload must be a JSON object.")
    return document


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SlackPayloadError("invalid_payload", "The payload is not valid UTF-8 JSON.") from None


# --------------------------------------------------------------------------- rendering


def render(payload: dict[str, Any], *, max_len: int | None = None) -> Rendered:
    """The chat message a webhook payload stands for: plain text (blocks, or
    `text` without them, then attachments, one piece a line), the sender's
    display name and icon. Raises `SlackPayloadError` with Slack's codes (see
    the module docstring); text over `max_len` (settings.MAX_TEXT) is
    truncated, as Slack truncates, and flagged."""
    max_len = settings.MAX_TEXT if max_len is None else max_len
    text = _optional(payload, "text", str)
    blocks = _array(payload, "blocks", code="invalid_blocks_format")
    attachments = _array(payload, "attachments", code="invalid_payload")
    if len(attachments) > MAX_ATTACHMENTS:
        raise SlackPayloadError("too_many_attachments", f"At most {MAX_ATTACHMENTS} attachments are allowed.")
    if len(blocks) > MAX_BLOCKS:
        raise SlackPayloadError("invalid_blocks", f"At most {MAX_BLOCKS} blocks are allowed.")

    lines = _blocks(blocks)
    if not lines and text is not None:
        lines = [mrkdwn_to_plain(text)]
    for attachment in attachments:
        lines.extend(_attachment(attachment))

    body = "\n".join(line for line in map(_clean_body, lines) if line.strip())
    if not body:
        raise SlackPayloadError("no_text", "The message has no text, blocks or attachments to show.")
    truncated = len(body) > max_len
    if truncated:
        body = body[: max_len - len(_ELLIPSIS)].rstrip() + _ELLIPSIS
    return Rendered(
        text=body,
        username=_username(payload.get("username")),
        icon_url=_icon_url(payload.get("icon_url")),
        truncated=truncated,
    )


def _optional(payload: dict[str, Any], key: str, kind: type) -> Any:
    value = payload.get(key)
    if value is not None and not isinstance(value, kind):
        raise SlackPayloadError("invalid_payload", f"`{key}` must be a {kind.__name__}.")
    return value


def _array(payload: dict[str, Any], key: str, *, code: str) -> list[dict[str, Any]]:
    value = payload.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        # chat.postMessage takes these as JSON strings; clients ported from it
        # send them so inside the webhook payload too.
        try:
            value = json.loads(value) if value.strip() else []
        except (ValueError, RecursionError):
            raise SlackPayloadError(code, f"`{key}` is not a JSON array.") from None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise SlackPayloadError(code, f"`{key}` must be an array of objects.")
    return value


def _clean_body(text: str) -> str:
    """Newlines as `\\n`; no control characters but newline and tab, and no
    lone surrogates (JSON's `\\ud800` escapes), which could not be stored."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))


def _username(value: object) -> str | None:
    """A one-line display name of at most 80 characters (longer is cut, as a
    sender cannot fix it per message), or None to use the bot's own."""
    if not isinstance(value, str):
        return None
    text = unicodedata.normalize("NFC", value)
    text = "".join(
        " " if ch in "\n\t" else ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in _BIDI_CONTROLS)
    )
    text = " ".join(text.split())[:MAX_USERNAME].strip()
    return text or None


def _icon_url(value: object) -> str | None:
    """An absolute http(s) URL, or None (anything else is ignored, not refused)."""
    if not isinstance(value, str) or not value or len(value) > MAX_ICON_URL:
        return None
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


# --------------------------------------------------------------------------- mrkdwn


def mrkdwn_to_plain(text: str) -> str:
    """Slack mrkdwn as readable plain text: `<url|label>` becomes
    `label (url)`, `<url>` the URL, `<@U1|bob>` `@bob`, `<#C1|general>`
    `#general`, `<!here>` `@here`, `<!date^...|fallback>` its fallback; then
    `&lt;` `&gt;` `&amp;` are unescaped. Emphasis marks and emoji codes stay."""
    pieces = _CONTROL_SEQUENCE.split(text)
    # split() alternates: literal text, control sequence, literal text, ...
    return "".join(_unescape(piece) if i % 2 == 0 else _control(piece) for i, piece in enumerate(pieces))


def _unescape(text: str) -> str:
    # &amp; last, so "&amp;lt;" stays the literal "&lt;".
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _control(sequence: str) -> str:
    target, _, label = sequence.partition("|")
    target, label = _unescape(target.strip()), _unescape(label.strip())
    if target.startswith("@"):
        return "@" + (label.lstrip("@") or target[1:])
    if target.startswith("#"):
        return "#" + (label.lstrip("#") or target[1:])
    if target.startswith("!"):
        command = target[1:]
        if command.startswith("date^"):
            return label or _date_fallback(command)
        if command.startswith("subteam^"):
            return "@" + (label.lstrip("@") or command.split("^", 1)[1])
        if command in _BROADCASTS:
            return "@" + command
        return label or command
    return _link(target, label)


def _link(url: str, label: str) -> str:
    if url.lower().startswith("mailto:") and label in ("", url[len("mailto:") :]):
        return url[len("mailto:") :]
    if not label or label == url:
        return url
    return f"{label} ({url})"


def _date_fallback(command: str) -> str:
    # <!date^1392734382^{date_short}> without a fallback: the time in UTC.
    parts = command.split("^")
    try:
        moment = datetime.datetime.fromtimestamp(int(parts[1]), tz=datetime.UTC)
    except (IndexError, ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------- blocks


def _text_object(value: object) -> str:
    """A Block Kit text object: mrkdwn converted, plain_text as written."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return ""
    return mrkdwn_to_plain(value["text"]) if value.get("type") == "mrkdwn" else value["text"]


def _button(element: object) -> str:
    if not isinstance(element, dict) or element.get("type") != "button":
        return ""
    label = _text_object(element.get("text")).strip()
    url = element.get("url") if isinstance(element.get("url"), str) else ""
    return _link(url, label) if url else label


def _image(element: dict[str, Any]) -> str:
    alt = element.get("alt_text") if isinstance(element.get("alt_text"), str) else ""
    url = element.get("image_url") if isinstance(element.get("image_url"), str) else ""
    return _link(url, alt) if _icon_url(url) else alt


def _blocks(blocks: list[dict[str, Any]]) -> list[str]:
    """One string per rendered block (multi-line where the block is).
    Dividers are kept only between other content, never doubled."""
    lines: list[str] = []
    for block in blocks:
        if block.get("type") == "divider":
            if lines and lines[-1] != "---":
                lines.append("---")
            continue
        rendered = _block(block).strip("\n")
        if rendered.strip():
            lines.append(rendered)
    while lines and lines[-1] == "---":
        lines.pop()
    return lines


def _block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind in ("section", "header"):
        parts = [_text_object(block.get("text"))]
        fields = block.get("fields")
        if isinstance(fields, list):
            parts.extend(_text_object(field) for field in fields)
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            parts.append(_image(accessory) if accessory.get("type") == "image" else _button(accessory))
        return "\n".join(part for part in parts if part.strip())
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list):
            return ""
        parts = [
            _image(element) if element.get("type") == "image" else _text_object(element)
            for element in elements
            if isinstance(element, dict)
        ]
        return " ".join(part for part in parts if part.strip())
    if kind == "image":
        title = _text_object(block.get("title"))
        image = _image(block)
        return "\n".join(part for part in (title, image) if part.strip())
    if kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list):
            return ""
        return " | ".join(label for label in map(_button, elements) if label)
    if kind == "rich_text":
        return _rich_blocks(block.get("elements"))
    if kind == "markdown":
        text = block.get("text")
        return text if isinstance(text, str) else ""
    return ""


# --------------------------------------------------------------------------- rich text


def _rich_blocks(elements: object) -> str:
    if not isinstance(elements, list):
        return ""
    out: list[str] = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind in ("rich_text_section", "rich_text_preformatted"):
            out.append(_rich_inline(element.get("elements")))
        elif kind == "rich_text_quote":
            quoted = _rich_inline(element.get("elements"))
            out.append("\n".join("> " + line for line in quoted.split("\n")))
        elif kind == "rich_text_list":
            out.append(_rich_list(element))
    return "\n".join(part for part in out if part.strip())


def _rich_list(element: dict[str, Any]) -> str:
    # A nested list is a sibling rich_text_list with a larger `indent`.
    items = element.get("elements")
    if not isinstance(items, list):
        return ""
    indent = element.get("indent") if isinstance(element.get("indent"), int) else 0
    offset = element.get("offset") if isinstance(element.get("offset"), int) else 0
    ordered = element.get("style") == "ordered"
    sections = [item for item in items if isinstance(item, dict)]
    return "\n".join(
        f"{'  ' * max(0, min(indent, 8))}{f'{number}.' if ordered else '•'} {_rich_inline(item.get('elements'))}"
        for number, item in enumerate(sections, start=offset + 1)
    )


def _rich_inline(elements: object) -> str:
    if not isinstance(elements, list):
        return ""
    return "".join(_rich_element(element) for element in elements if isinstance(element, dict))


def _rich_element(element: dict[str, Any]) -> str:
    def field(name: str) -> str:
        value = element.get(name)
        return value if isinstance(value, str) else ""

    kind = element.get("type")
    if kind == "text":
        return field("text")
    if kind == "link":
        return _link(field("url"), field("text"))
    if kind == "user":
        return "@" + field("user_id")
    if kind == "channel":
        return "#" + field("channel_id")
    if kind == "usergroup":
        return "@" + field("usergroup_id")
    if kind == "broadcast":
        return "@" + field("range")
    if kind == "emoji":
        return _emoji(field("name"), field("unicode"))
    if kind == "date":
        stamp = element.get("timestamp")
        return field("fallback") or (_date_fallback(f"date^{stamp}") if isinstance(stamp, int) else "")
    if kind == "color":
        return field("value")
    return ""


def _emoji(name: str, code: str) -> str:
    # `unicode` is the code points in hex, dash-separated ("1f44d-1f3fb").
    try:
        return "".join(chr(int(point, 16)) for point in code.split("-")) if code else f":{name}:"
    except (ValueError, OverflowError):
        return f":{name}:"


def _attachment(attachment: dict[str, Any]) -> list[str]:
    def text(name: str) -> str:
        value = attachment.get(name)
        return mrkdwn_to_plain(value) if isinstance(value, str) else ""

    lines = [text("pretext"), text("author_name")]
    title = text("title")
    title_link = attachment.get("title_link")
    if title and isinstance(title_link, str) and title_link:
        title = _link(_unescape(title_link), title)
    lines += [title, text("text")]
    fields = attachment.get("fields")
    for item in fields if isinstance(fields, list) else []:
        if not isinstance(item, dict):
            continue
        name = mrkdwn_to_plain(item["title"]) if isinstance(item.get("title"), str) else ""
        value = mrkdwn_to_plain(item["value"]) if isinstance(item.get("value"), str) else ""
        lines.append(f"{name}: {value}" if name.strip() and value.strip() else name or value)
    blocks = attachment.get("blocks")
    if isinstance(blocks, list):
        lines += _blocks([block for block in blocks[:MAX_BLOCKS] if isinstance(block, dict)])
    actions = attachment.get("actions")
    if isinstance(actions, list):
        lines.append(" | ".join(label for label in map(_button, actions) if label))
    lines.append(text("footer"))
    lines = [line for line in lines if line.strip()]
    if not lines and text("fallback").strip():
        lines = [text("fallback")]
    return lines
