"""Notification settings and push subscriptions: checks and writes."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import logging
import socket
import zoneinfo
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import LoginSession, User
from chatsite import outbound
from chatsite.errors import Conflict, Invalid, NotFound
from chatsite.wire import parse_uuid
from notifications.models import NotificationSettings, PushSubscription
from notifications.selectors import ended_session, get_settings
from notifications.vapid import b64url_decode

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- settings


def _clock(value: str, *, field: str) -> dt.time:
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
            raise ValueError
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise Invalid.field(f"quiet_hours.{field}", gettext('A time as "HH:MM", 00:00 to 23:59.')) from None


@functools.cache
def _iana_zones() -> frozenset[str]:
    """The IANA zone names this system knows. "localtime" is a file some
    systems add to the zone folder (this machine's zone), not an IANA name."""
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def _zone(name: str) -> str:
    if name not in _iana_zones():
        raise Invalid.field("quiet_hours.tz", gettext("An IANA time zone name, such as Asia/Shanghai."))
    return name


@transaction.atomic
def do_update_notification_settings(*, user: User, changes: dict) -> NotificationSettings:
    """PATCH /me/notifications: any of push, preview, quiet_hours (null clears
    them). Quiet hours with start == end, a malformed time or an unknown zone
    → `invalid` and nothing changes."""
    row = get_settings(user=user)
    if "push" in changes:
        row.push = changes["push"]
    if "preview" in changes:
        row.preview = changes["preview"]
    if "quiet_hours" in changes:
        quiet = changes["quiet_hours"]
        if quiet is None:
            row.quiet_start = row.quiet_end = None
            row.quiet_tz = ""
        else:
            missing = [k for k in ("start", "end", "tz") if not quiet.get(k)]
            if missing:
                raise Invalid.field(f"quiet_hours.{missing[0]}", gettext("Quiet hours need start, end and tz."))
            start, end = _clock(quiet["start"], field="start"), _clock(quiet["end"], field="end")
            if start == end:
                raise Invalid.field("quiet_hours", gettext("Quiet hours must start and end at different times."))
            row.quiet_start, row.quiet_end, row.quiet_tz = start, end, _zone(quiet["tz"])
    row.save()
    return row


# --------------------------------------------------------------------------- subscriptions


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


_ANYWHERE = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))


def push_allowance() -> tuple:
    """The networks a push may go to besides public addresses: none, or any
    with PUSH_ALLOW_HTTP (tests run a push service on loopback)."""
    return _ANYWHERE if settings.PUSH_ALLOW_HTTP else ()


def _refused_address(address: str) -> bool:
    return not outbound.is_allowed(ipaddress.ip_address(address.split("%", 1)[0]), ())


def check_endpoint(endpoint: str) -> None:
    """A push endpoint we may POST to: https:// to a host that resolves only
    to public addresses (no loopback, private, link-local or metadata
    address). PUSH_ALLOW_HTTP lifts both for tests. Called when a browser
    subscribes and again before every send (DNS may change). Raises Invalid."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        raise Invalid.field("endpoint", gettext("Not a URL.")) from None
    allowed = ("https", "http") if settings.PUSH_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed or not parts.hostname or parts.username or parts.password:
        raise Invalid.field("endpoint", gettext("A push endpoint must be an https:// URL."))
    if settings.PUSH_ALLOW_HTTP:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Invalid.field("endpoint", gettext("The push endpoint's host does not resolve.")) from None
    if not infos or any(_refused_address(info[4][0]) for info in infos):
        raise Invalid.field("endpoint", gettext("The push endpoint must be on a public address."))


def _check_keys(p256dh: str, auth: str) -> None:
    try:
        point, secret = b64url_decode(p256dh), b64url_decode(auth)
    except ValueError:
        raise Invalid.field("keys", gettext("p256dh and auth must be base64url.")) from None
    if len(point) != 65 or point[0] != 4:
        raise Invalid.field("keys.p256dh", gettext("An uncompressed P-256 public key (65 bytes)."))
    if len(secret) != 16:
        raise Invalid.field("keys.auth", gettext("A 16-byte authentication secret."))
    # 65 bytes starting with 04 is only the shape: a push to a point off the
    # curve cannot be encrypted at all.
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Invalid.field("keys.p256dh", gettext("Not a point on the P-256 curve.")) from None


def do_subscribe(
    *, user: User, session: LoginSession, endpoint: str, p256dh: str, auth: str
) -> tuple[PushSubscription, bool]:
    """POST /push/subscriptions. Returns (subscription, created). The same
    endpoint again moves to the caller (and this session) only when its
    `auth` secret matches, else `conflict`: knowing an endpoint is not owning it.
    A row of the endpoint whose session ended is deleted and a new one made."""
    _check_keys(p256dh, auth)
    check_endpoint(endpoint)
    digest = endpoint_hash(endpoint)
    with transaction.atomic():
        existing = PushSubscription.objects.select_for_update().filter(endpoint_hash=digest).first()
        if existing is not None and not existing.session.is_live:
            # Its session ended (it expired): the row is dead, whoever made
            # it; this browser's new sign-in subscribes afresh.
            existing.delete()
            existing = None
        if existing is not None:
            if existing.auth != auth:
                raise Conflict(gettext("This push endpoint is registered with other keys."))
            existing.user, existing.session, existing.p256dh = user, session, p256dh
            existing.save(update_fields=["user", "session", "p256dh"])
            return existing, False
        try:
            with transaction.atomic():
                sub = PushSubscription.objects.create(
                    user=user, session=session, endpoint=endpoint, endpoint_hash=digest, p256dh=p256dh, auth=auth
                )
        except IntegrityError:
            raise Conflict(gettext("This push endpoint was registered at the same moment; try again.")) from None
    logger.info("push subscription %s added for user %s", sub.uuid, user.pk)
    return sub, True


def do_unsubscribe(*, user: User, subscription_id: object) -> None:
    """DELETE /push/subscriptions/{id}: only the caller's own (else not_found)."""
    sid = parse_uuid(subscription_id) if isinstance(subscription_id, str) else None
    deleted = PushSubscription.objects.filter(uuid=sid, user=user).delete()[0] if sid else 0
    if not deleted:
        raise NotFound(gettext("No such push subscription."))


def do_remove_ended_subscriptions(*, user: User | None = None, limit: int = 1000) -> int:
    """Delete subscriptions whose login session ended without telling us: it
    expired (a logout or revoke removes them at once, through
    on_sessions_ended). Of `user`, or of everyone (the notifier's upkeep);
    at most `limit` rows a call. Returns how many went."""
    ended = ended_session(at=timezone.now())
    query = PushSubscription.objects.filter(ended)
    if user is not None:
        query = query.filter(user=user)
    ids = list(query.values_list("id", flat=True)[:limit])
    if not ids:
        return 0
    deleted = PushSubscription.objects.filter(ended, id__in=ids).delete()[1].get(PushSubscription._meta.label, 0)
    if deleted:
        logger.info("removed %d push subscriptions of expired sessions", deleted)
    return deleted


def do_remove_session_subscriptions(*, session_ids: list[int]) -> None:
    """The login sessions ended (accounts.actions.sessions.on_sessions_ended)."""
    deleted = PushSubscription.objects.filter(session_id__in=session_ids).delete()[0]
    if deleted:
        logger.info("removed %d push subscription rows of %d ended sessions", deleted, len(session_ids))


def do_remove_subscription(*, subscription_id: int, reason: str) -> None:
    """The push service said the subscription is gone (404/410), or its session ended."""
    if PushSubscription.objects.filter(pk=subscription_id).delete()[0]:
        logger.info("push subscription %s removed: %s", subscription_id, reason)
