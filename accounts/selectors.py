"""Reads about users and their login sessions."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import LoginSession, User, UserStatus
from accounts.phones import try_normalize_phone
from chatsite import kv
from chatsite.errors import Invalid, NotFound, RateLimited
from chatsite.wire import parse_uuid


def users_by_uuid(ids) -> QuerySet[User]:
    return User.objects.select_related("avatar").filter(uuid__in=ids)


def get_user_by_id(*, user_id: object) -> User | None:
    uid = parse_uuid(user_id)
    if uid is None:
        return None
    return User.objects.select_related("avatar").filter(uuid=uid).first()


def access_user(*, viewer: User, user_id: object) -> User:
    """Any signed-in user may see another's public profile; deleted accounts are gone."""
    user = get_user_by_id(user_id=user_id)
    if user is None or user.status == UserStatus.DELETED:
        raise NotFound("No such user.")
    return user


def search_users(*, viewer: User, q: object) -> list[User]:
    """Exact username or phone number only: never a scan. Users in a block
    relation with the viewer, and disabled accounts, are not found."""
    if not isinstance(q, str) or not q.strip() or len(q) > 64:
        raise Invalid.field("q", "Enter a username or a phone number.")
    count, ttl = kv.store().counter_incr(f"search:user:{viewer.pk}", window_s=60)
    if count > settings.LIMIT_SEARCH_PER_MIN:
        raise RateLimited("Too many searches; wait a moment.", retry_after=ttl)
    text = q.strip()
    conditions = []
    number = try_normalize_phone(text) if (text.startswith("+") or text.isdigit()) else None
    if number:
        conditions.append(User.objects.filter(phone=number))
    conditions.append(User.objects.filter(username=text.lower()))
    found: dict[int, User] = {}
    for qs in conditions:
        for user in qs.select_related("avatar").filter(status=UserStatus.ACTIVE)[:2]:
            found[user.pk] = user
    if not found:
        return []
    from contacts.selectors import blocked_either_way_ids

    hidden = blocked_either_way_ids(user=viewer)
    return [u for u in found.values() if u.pk not in hidden]


def list_live_sessions(*, user: User) -> list[LoginSession]:
    return list(
        LoginSession.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()).order_by(
            "-last_seen_at", "-id"
        )[:200]
    )
