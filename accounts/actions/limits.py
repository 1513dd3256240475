"""Counters for failed logins and SMS codes (per account, per login name, per
address), shared by every node through the key-value store."""

from __future__ import annotations

import logging

from accounts.models import User
from chatsite import kv
from chatsite.errors import (
    RateLimited,
)

logger = logging.getLogger(__name__)


def limit_counter(key: str, *, limit: int, window_s: int, message: str) -> None:
    """Count one more event in a fixed window; refuse when over `limit`."""
    count, ttl = kv.store().counter_incr(key, window_s=window_s)
    if count > limit:
        raise RateLimited(message, retry_after=ttl)


def check_not_limited(key: str, *, limit: int, message: str) -> None:
    count, ttl = kv.store().counter_get(key)
    if count >= limit:
        raise RateLimited(message, retry_after=ttl or 1)


def account_failures_key(user: User) -> str:
    """Where wrong passwords for this account are counted (logins, password changes)."""
    return f"loginfail:user:{user.pk}"
