"""Reads about users and their login sessions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from django.db.models import Exists, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import LoginSession, User, UserStatus
from accounts.phones import try_normalize_phone
from chatsite.errors import NotFound
from chatsite.wire import parse_uuid

# Usernames: 3 to 32 of the ASCII letters a-z and A-Z, the digits 0-9 and `_`,
# compared without case (stored in lower case). Input is NFKC-normalised
# first, so full-width forms typed with a CJK input method (ａｌｉｃｅ) are the
# same name; every other script is refused, so no lookalike (Cyrillic а,
# Greek ο) can pose as an existing name.
USERNAME_RE = re.compile(r"[A-Za-z0-9_]{3,32}")
# What a phone number typed into a login field may look like.
_PHONE_LIKE = re.compile(r"[0-9 ()+.-]{6,32}")


def canonical_username(text: object) -> str | None:
    """The username `text` names (lower case), or None when it is not a valid one."""
    if not isinstance(text, str):
        return None
    name = unicodedata.normalize("NFKC", text)
    return name.lower() if USERNAME_RE.fullmatch(name) else None


@dataclass(frozen=True)
class LoginName:
    """What a login or search text names: a phone number (E.164) and/or a username."""

    phone: str | None
    username: str | None
    text: str  # the text, normalised (NFKC, trimmed, case-folded)

    @property
    def key(self) -> str:
        """One spelling per name however it was typed (+86 138…, 0086 138…, 138-…),
        for counting failures against it."""
        return self.phone or self.username or self.text


def username_taken(text: object) -> bool:
    """An account has this username (as it would be stored)."""
    name = canonical_username(text)
    return name is not None and User.objects.filter(username=name).exists()


def parse_login(text: str) -> LoginName:
    text = unicodedata.normalize("NFKC", text).strip()
    phone = try_normalize_phone(text) if _PHONE_LIKE.fullmatch(text) else None
    return LoginName(phone=phone, username=canonical_username(text), text=text.casefold())


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
        raise NotFound(gettext("No such user."))
    return user


def list_live_sessions(*, user: User) -> list[LoginSession]:
    return list(
        LoginSession.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()).order_by(
            "-last_seen_at", "-id"
        )[:200]
    )


# --------------------------------------------------------------------------- avatars (files.access)


def may_read_avatar(user: User, file) -> bool:
    """Any signed-in user may load an active user's avatar."""
    return User.objects.filter(avatar_id=file.pk, status=UserStatus.ACTIVE).exists()


def avatars_holding(file_ref) -> Exists:
    return Exists(User.objects.filter(avatar_id=file_ref))
