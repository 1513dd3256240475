"""Reads: a user's notification settings and push subscriptions."""

from __future__ import annotations

import uuid

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


def list_subscriptions(*, user: User, after: uuid.UUID | None, limit: int) -> list[PushSubscription]:
    """The caller's subscriptions of live sessions, newest first; `limit + 1` rows."""
    query = PushSubscription.objects.filter(user=user, session__revoked_at__isnull=True).order_by("-id")
    if after is not None:
        anchor = PushSubscription.objects.filter(user=user, uuid=after).values_list("id", flat=True).first()
        if anchor is None:
            return []
        query = query.filter(id__lt=anchor)
    return list(query[: limit + 1])
