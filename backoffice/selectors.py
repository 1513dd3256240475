"""Reads for the back office: users, groups and the audit log, as an
administrator sees them (every account and group, whatever its status).

Each list is newest first, keyset-paged on the primary key (`limit + 1` rows
after `after_id`), and one query whatever the page size."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext

from accounts.models import User, UserStatus
from accounts.phones import try_normalize_phone
from backoffice.models import AuditEntry
from chatsite.errors import Invalid
from chatsite.wire import parse_uuid
from groups.models import Group, GroupStatus
from groups.selectors import GROUP_RELATED

Q_MAX = 64


def _clean_q(q: object) -> str:
    if q is None:
        return ""
    if not isinstance(q, str) or len(q) > Q_MAX:
        raise Invalid.field("q", gettext("At most %(q_max)s characters.") % {"q_max": Q_MAX})
    return q.strip()


def _clean_status(status: object, choices: list[str]) -> str | None:
    if status in (None, ""):
        return None
    if status not in choices:
        raise Invalid.field("status", gettext("One of %(n)s.") % {"n": ", ".join(choices)})
    return status  # type: ignore[return-value]


def _page(qs: QuerySet, *, after_id: int | None, limit: int) -> list:
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])


def list_users(*, q: object = None, status: object = None, after_id: int | None, limit: int) -> list[User]:
    """Every account, optionally of one status; `q` matches a part of the
    username, nickname or phone number, a whole phone number in any format
    the product accepts, or a user id."""
    text = _clean_q(q)
    wanted = _clean_status(status, UserStatus.values)
    qs = User.objects.select_related("avatar")
    if wanted is not None:
        qs = qs.filter(status=wanted)
    if text:
        match = Q(username__icontains=text) | Q(nickname__icontains=text) | Q(phone__contains=text)
        number = try_normalize_phone(text) if (text.startswith("+") or text.isdigit()) else None
        if number:
            match |= Q(phone=number)
        uid = parse_uuid(text)
        if uid is not None:
            match |= Q(uuid=uid)
        qs = qs.filter(match)
    return _page(qs, after_id=after_id, limit=limit)


def list_groups(*, q: object = None, status: object = None, after_id: int | None, limit: int) -> list[Group]:
    """Every group, optionally of one status; `q` matches a part of the name,
    the owner's username, or a group id."""
    text = _clean_q(q)
    wanted = _clean_status(status, GroupStatus.values)
    qs = Group.objects.select_related(*GROUP_RELATED)
    if wanted is not None:
        qs = qs.filter(status=wanted)
    if text:
        match = Q(name__icontains=text) | Q(owner__username__icontains=text)
        uid = parse_uuid(text)
        if uid is not None:
            match |= Q(uuid=uid)
        qs = qs.filter(match)
    return _page(qs, after_id=after_id, limit=limit)


def list_audit(*, actor: object = None, target: object = None, after_id: int | None, limit: int) -> list[AuditEntry]:
    """The audit log, newest first; `actor` (a user id) narrows it to what that
    administrator did, `target` (a user or group id) to what was done to it."""
    qs = AuditEntry.objects.select_related("actor")
    if actor not in (None, ""):
        uid = parse_uuid(actor)
        if uid is None:
            raise Invalid.field("actor", gettext("Must be a user id."))
        qs = qs.filter(actor__uuid=uid)
    if target not in (None, ""):
        uid = parse_uuid(target)
        if uid is None:
            raise Invalid.field("target", gettext("Must be a user or group id."))
        qs = qs.filter(target_id=str(uid))
    return _page(qs, after_id=after_id, limit=limit)
