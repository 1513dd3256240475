"""Wire shapes for accounts (shared/spec/rest.md "Objects on the wire").

Output objects are built by plain functions (they are on hot paths: every
message carries its sender); the Serializer classes describe the same shapes
for the OpenAPI schema and parse input (shape and types only, no rules).
"""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import LoginSession, User, UserStatus
from chatsite.wire import iso
from files.selectors import avatar_url

DELETED_NAME = "Deleted user"


def user_to_wire(user: User, *, with_phone: bool = False, with_status: bool = False) -> dict:
    """The User object. `phone` only for the user's own profile and administrators."""
    deleted = user.status == UserStatus.DELETED
    data = {
        "id": str(user.uuid),
        "username": "" if deleted else (user.username or ""),
        "nickname": DELETED_NAME if deleted else user.nickname,
        "avatar": None if deleted else avatar_url(user.avatar) if user.avatar_id else None,
        "signature": "" if deleted else user.signature,
        "is_admin": user.is_admin,
        "created_at": iso(user.created_at),
    }
    if with_phone:
        data["phone"] = user.phone
    if with_status:
        data["status"] = user.status
    return data


def user_for_viewer(user: User, viewer: User | None) -> dict:
    """The User object as `viewer` may see it (phone for self and admins)."""
    show_phone = viewer is not None and (viewer.pk == user.pk or viewer.is_admin)
    return user_to_wire(user, with_phone=show_phone)


def session_to_wire(session: LoginSession, *, current: LoginSession | None = None) -> dict:
    return {
        "id": str(session.uuid),
        "kind": session.kind,
        "device": session.device,
        "ip": session.ip,
        "created_at": iso(session.created_at),
        "last_seen_at": iso(session.last_seen_at),
        "current": current is not None and current.pk == session.pk,
    }


def login_to_wire(result, *, viewer: User | None = None) -> dict:
    return {"user": user_to_wire(result.user, with_phone=True), **result.tokens.as_wire()}


# --------------------------------------------------------------------------- schema shapes


class UserOut(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    nickname = serializers.CharField()
    avatar = serializers.CharField(allow_null=True)
    signature = serializers.CharField()
    is_admin = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    phone = serializers.CharField(required=False, allow_null=True, help_text="Own profile and administrators only")


class LoginOut(serializers.Serializer):
    user = UserOut()
    access = serializers.CharField()
    refresh = serializers.CharField()
    expires_in = serializers.IntegerField()


class TokensOut(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    expires_in = serializers.IntegerField()


class SmsSentOut(serializers.Serializer):
    expires_in = serializers.IntegerField()


class SessionOut(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["api", "web"])
    device = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    current = serializers.BooleanField()


# --------------------------------------------------------------------------- input shapes


class RegisterIn(serializers.Serializer):
    username = serializers.CharField(trim_whitespace=False)
    password = serializers.CharField(trim_whitespace=False)
    nickname = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    phone = serializers.CharField(required=False, allow_blank=True)
    sms_code = serializers.CharField(required=False, allow_blank=True)


class LoginIn(serializers.Serializer):
    login = serializers.CharField(help_text="Username or phone number")
    password = serializers.CharField(trim_whitespace=False)


class SmsSendIn(serializers.Serializer):
    phone = serializers.CharField()
    purpose = serializers.ChoiceField(choices=["login", "register", "reset"])


class SmsLoginIn(serializers.Serializer):
    phone = serializers.CharField()
    code = serializers.CharField()


class PasswordResetIn(serializers.Serializer):
    phone = serializers.CharField()
    code = serializers.CharField()
    new_password = serializers.CharField(trim_whitespace=False)


class RefreshIn(serializers.Serializer):
    refresh = serializers.CharField()


class MePatchIn(serializers.Serializer):
    nickname = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    avatar = serializers.UUIDField(required=False, allow_null=True, format="hex_verbose")
    signature = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)


class PasswordChangeIn(serializers.Serializer):
    old_password = serializers.CharField(trim_whitespace=False)
    new_password = serializers.CharField(trim_whitespace=False)
