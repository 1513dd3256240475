"""Reads: a user's notification settings and push subscriptions."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from notifications.models import NotificationSettings, PushSubscription


def get_settings(*, user: User) -> NotificationSettings:
    """The user's settings; an unsaved row with the defaults if they never changed one."""
    row = NotificationSettings.objects.filter(user=user).first()
    return row if row is not None else NotificationSettings(user=user)


def settings_for(*, user_ids: list[int]) -> dict[int, NotificationSettings]:
    """Settings of many users (defaults for those without a row), one query."""
    rows = {row.user_id: row for row in NotificationSettings.objects.filter(user_id__in=user_ids)}
    return {uid: rows.get(uid) or NotificationSettings(user_id=uid) for uid in user_ids}


def live_session(*, at: dt.datetime | None = None) -> Q:
    """A subscription whose login session is live: neither revoked nor
    expired. The only ones listed or pushed to; the others are deleted
    (services.do_remove_ended_subscriptions)."""
    return Q(session__revoked_at__isnull=True, session__expires_at__gt=at or timezone.now())


def ended_session(*, at: dt.datetime | None = None) -> Q:
    """A subscription whose login session ended: revoked, or expired."""
    return Q(session__revoked_at__isnull=False) | Q(session__expires_at__lte=at or timezone.now())


def live_subscriptions(*, at: dt.datetime | None = None) -> QuerySet[PushSubscription]:
    return PushSubscription.objects.filter(live_session(at=at))


def list_subscriptions(*, user: User, after: uuid.UUID | None, limit: int) -> list[PushSubscription]:
    """The caller's subscriptions of live sessions, newest first; `limit + 1` rows."""
    query = live_subscriptions().filter(user=user).order_by("-id")
    if after is not None:
        anchor = PushSubscription.objects.filter(user=user, uuid=after).values_list("id", flat=True).first()
        if anchor is None:
            return []
        query = query.filter(id__lt=anchor)
    return list(query[: limit + 1])
