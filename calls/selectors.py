"""Reads about calls: the call log and the ICE servers a client should use."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext

from accounts.models import User
from calls.models import Call, CallOutcome
from chatsite import wire
from chatsite.errors import Invalid


def list_calls(*, user: User, before: object = None, limit: int = 50) -> list[Call]:
    """The calls `user` took part in, newest first, at most `limit + 1` (the
    extra one tells the page there is more); `before` is the id of the last
    call of the previous page. A busy attempt is only in its caller's list.
    Two queries at most, whatever the page size."""
    calls = Call.objects.filter(Q(caller=user) | (Q(callee=user) & ~Q(outcome=CallOutcome.BUSY)))
    if before is not None:
        anchor_uuid = wire.parse_uuid(before)
        anchor = Call.objects.filter(uuid=anchor_uuid).values_list("id", flat=True).first() if anchor_uuid else None
        if anchor is None:
            raise Invalid.field("cursor", gettext("Not a cursor from this list."))
        calls = calls.filter(id__lt=anchor)
    return list(calls.select_related("caller__avatar", "callee__avatar").order_by("-id")[: limit + 1])


def turn_credentials(*, user: User, secret: str, ttl_s: int, now: float | None = None) -> tuple[str, str]:
    """coturn's REST scheme (`use-auth-secret`): the username is
    "<expiry unix time>:<user id>", the credential base64(HMAC-SHA1(secret, username))."""
    expiry = int(now if now is not None else time.time()) + ttl_s
    username = f"{expiry}:{user.uuid}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def get_ice_servers(*, user: User, now: float | None = None) -> dict:
    """The STUN and TURN servers from settings, with credentials for `user`:
    time-limited ones when TURN_SHARED_SECRET is set, else the fixed ones."""
    servers: list[dict] = []
    if settings.ICE_STUN_URLS:
        servers.append({"urls": list(settings.ICE_STUN_URLS)})
    if settings.TURN_URLS:
        turn: dict = {"urls": list(settings.TURN_URLS)}
        if settings.TURN_SHARED_SECRET:
            turn["username"], turn["credential"] = turn_credentials(
                user=user, secret=settings.TURN_SHARED_SECRET, ttl_s=settings.TURN_TTL_S, now=now
            )
        elif settings.TURN_USERNAME:
            turn["username"], turn["credential"] = settings.TURN_USERNAME, settings.TURN_PASSWORD
        servers.append(turn)
    return {"ice_servers": servers, "ttl": settings.TURN_TTL_S}
