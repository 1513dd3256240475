"""Signing webhook requests the way Slack signs its own, so that code written
to verify Slack's requests verifies ours unchanged.

A request carries `X-Slack-Request-Timestamp: <unix seconds>` and
`X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`, keyed
with the shared secret and computed over the raw body bytes
(https://api.slack.com/authentication/verifying-requests-from-slack). The
timestamp is signed too, so a receiver refusing old timestamps refuses
replays.
"""

from __future__ import annotations

import hashlib
import hmac
import time

VERSION = "v0"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` keyed with
    `secret`. An empty secret is a ValueError: it would sign for anyone."""
    if not secret:
        raise ValueError("a webhook signing secret must not be empty")
    base = f"{VERSION}:{int(timestamp)}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, now: int | None = None) -> dict[str, str]:
    """The two headers that sign `body` now (or at `now`, unix seconds)."""
    timestamp = int(time.time()) if now is None else int(now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """Whether the headers sign `body` with `secret`, at a timestamp at most
    `tolerance_s` seconds from `now` (past or future: a stale request may be
    a replay). The comparison takes constant time. A missing or malformed
    header, or an empty secret, is simply False."""
    if not secret or not timestamp_header or not signature_header:
        return False
    timestamp_header = timestamp_header.strip()
    if not (timestamp_header.isascii() and timestamp_header.isdigit()):
        return False
    timestamp = int(timestamp_header)
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature_header.strip().encode("utf-8", "replace"))
