"""What a signed-in user changes about themselves: password and profile;
who is told of a profile change."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from accounts.actions.fields import clean_nickname, clean_password, clean_signature
from accounts.actions.limits import account_failures_key, check_not_limited
from accounts.actions.sessions import do_revoke_user_sessions
from accounts.models import LoginSession, User
from accounts.serializers import user_to_wire
from chatsite import kv
from chatsite.errors import (
    Invalid,
    InvalidCredentials,
)
from chatsite.events import send_event_on_commit
from files.selectors import resolve_avatar_file
from files.services import mark_attached

logger = logging.getLogger(__name__)


def do_change_password(*, user: User, session: LoginSession | None, old_password: object, new_password: object) -> None:
    """Change the password; every other session of the user ends (this one stays).
    A wrong current password counts against the account's login limit, so a
    stolen token cannot be used to guess the password here instead."""
    account_key = account_failures_key(user)
    check_not_limited(
        account_key,
        limit=settings.LIMIT_LOGIN_FAILURES_PER_ACCOUNT,
        message=gettext("Too many failed attempts; wait a while."),
    )
    if not isinstance(old_password, str) or not user.check_password(old_password):
        kv.store().counter_incr(account_key, window_s=settings.LIMIT_LOGIN_WINDOW_S)
        raise InvalidCredentials(gettext("The current password is wrong."))
    clean_password(new_password, username=user.username, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        do_revoke_user_sessions(user=user, reason="password_changed", keep=session)
    logger.info("user %s changed the password", user.pk)


_UNSET = object()


def do_update_profile(
    *,
    user: User,
    nickname: object = _UNSET,
    avatar: object = _UNSET,
    signature: object = _UNSET,
    language: object = _UNSET,
) -> User:
    """Edit nickname, avatar (a File id the user uploaded, or null), signature
    and the app's language (a code of settings.LANGUAGES, or null). The user's
    contacts get `user.updated` when what they see changed."""
    if language is not _UNSET and language is not None and language not in dict(settings.LANGUAGES):
        raise Invalid.field("language", gettext("One of %(n)s, or null.") % {"n": ", ".join(dict(settings.LANGUAGES))})
    # Every value is checked before anything is saved: a refused field
    # leaves the account as it was (the language too).
    fields: list[str] = []
    if nickname is not _UNSET:
        user.nickname = clean_nickname(nickname)
        fields.append("nickname")
    if signature is not _UNSET:
        user.signature = clean_signature(signature)
        fields.append("signature")
    if avatar is not _UNSET:
        user.avatar = resolve_avatar_file(user=user, file_id=avatar)
        fields.append("avatar")
    seen = list(fields)  # what the user's contacts see
    if language is not _UNSET and language != user.language:
        user.language = language  # private to the user: no one else is told
        fields.append("language")
    if not fields:
        return user
    with transaction.atomic():
        user.save(update_fields=[*fields, "updated_at"])
        if "avatar" in fields and user.avatar is not None:
            mark_attached(file=user.avatar)
        if seen:
            announce_profile(user)
    return user


# Who hears of a change to a user's User object besides the user: the apps
# built on accounts say, from AppConfig.ready() (contacts: the user's contacts).


_profile_audiences: list[Callable[[User], Iterable[int]]] = []


def add_profile_audience(fn: Callable[[User], Iterable[int]]) -> None:
    if fn not in _profile_audiences:
        _profile_audiences.append(fn)


def announce_profile(user: User) -> None:
    """`user.updated` to the user and everyone an app says should see it,
    when the transaction commits. Call it after changing what User shows."""

    audience = {user.pk}
    for fn in _profile_audiences:
        audience.update(fn(user))
    send_event_on_commit(user_ids=audience, frame={"type": "user.updated", "user": user_to_wire(user)})
