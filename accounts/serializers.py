"""Wire shapes for accounts (docs/protocol/objects.md "User").

Output objects are built by plain functions (they are on hot paths: every
message carries its sender); the Serializer classes describe the same shapes
for the OpenAPI schema and parse input (shape and types only, no rules).
"""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import NICKNAME_MAX, PASSWORD_MAX, SIGNATURE_MAX, LoginSession, User, UserStatus
from chatsite.drf import StrictCharField, id_field, text_field
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
        "is_bot": user.is_bot,
        "created_at": iso(user.created_at),
    }
    if with_phone:
        data["phone"] = user.phone
    if with_status:
        data["status"] = user.status
    return data


def me_to_wire(user: User) -> dict:
    """The signed-in user's own User object: with the phone number and the
    app's language they chose (null: not chosen), which no one else sees."""
    return {**user_to_wire(user, with_phone=True), "language": user.language}


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
    return {"user": me_to_wire(result.user), **result.tokens.as_wire()}


# --------------------------------------------------------------------------- schema shapes


class UserOut(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    nickname = serializers.CharField()
    avatar = serializers.CharField(allow_null=True)
    signature = serializers.CharField()
    is_admin = serializers.BooleanField()
    is_bot = serializers.BooleanField(help_text="a bot: an account run by a program its owner wrote (docs/bots.md)")
    created_at = serializers.DateTimeField()
    phone = serializers.CharField(required=False, allow_null=True, help_text="Own profile and administrators only")


class MeOut(UserOut):
    language = serializers.ChoiceField(
        choices=["en", "zh-hans"], allow_null=True, help_text="the app's language, on every device; null: not chosen"
    )


class LoginOut(serializers.Serializer):
    user = MeOut(help_text="the signed-in user's own User, with phone and language")
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


# The rules these fields state are accounts.actions.fields' (clean_username,
# clean_password, ...); a phone number's validity and "not the username" are
# beyond a schema, so the service may still refuse what matches it. Phone
# numbers are not trimmed here: normalize_phone trims them after checking
# their length, so the schema's maxLength is the length as sent.
USERNAME_SCHEMA = {"pattern": "^[A-Za-z0-9_]{3,32}$"}
# (The length floor is in the pattern: drf-spectacular sets minLength 1 on every non-blank field.)
_PASSWORD = {"maxLength": PASSWORD_MAX, "pattern": "^(?=[^\\x00]*$)(?=[\\s\\S]*[^0-9])[\\s\\S]{8,}$"}
_GIVEN_PASSWORD = {"minLength": 1, "maxLength": PASSWORD_MAX}
_PHONE = {
    "maxLength": 32,
    "pattern": "^[^\\x00]*[0-9][^\\x00]*$",
    "description": "E.164 (+8613800138000) or an 11-digit mainland number",
}
_CODE = {"pattern": "^[0-9]{6}$"}


class RegisterIn(serializers.Serializer):
    username = StrictCharField(trim_whitespace=False, schema=USERNAME_SCHEMA)
    password = StrictCharField(trim_whitespace=False, schema=_PASSWORD)
    nickname = text_field(max_len=NICKNAME_MAX, allow_empty=True, required=False)
    # Empty is no phone; the code is read only with a phone number.
    phone = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        schema={**_PHONE, "pattern": "^([^\\x00]*[0-9][^\\x00]*)?$"},
    )
    sms_code = StrictCharField(
        required=False, allow_blank=True, trim_whitespace=False, help_text="the code sent to `phone` (6 digits)"
    )


class LoginIn(serializers.Serializer):
    login = StrictCharField(
        help_text="Username or phone number", schema={"maxLength": 64, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}
    )
    password = StrictCharField(trim_whitespace=False, schema=_GIVEN_PASSWORD)


class SmsSendIn(serializers.Serializer):
    phone = StrictCharField(trim_whitespace=False, schema=_PHONE)
    purpose = serializers.ChoiceField(choices=["login", "register", "reset"])


class SmsLoginIn(serializers.Serializer):
    phone = StrictCharField(trim_whitespace=False, schema=_PHONE)
    code = StrictCharField(schema=_CODE)


class PasswordResetIn(serializers.Serializer):
    phone = StrictCharField(trim_whitespace=False, schema=_PHONE)
    code = StrictCharField(schema=_CODE)
    new_password = StrictCharField(trim_whitespace=False, schema=_PASSWORD)


class RefreshIn(serializers.Serializer):
    refresh = StrictCharField()


class MePatchIn(serializers.Serializer):
    language = serializers.ChoiceField(choices=["en", "zh-hans"], required=False, allow_null=True)
    nickname = text_field(max_len=NICKNAME_MAX, allow_empty=True, required=False)
    avatar = id_field(required=False, allow_null=True, help_text="a File id you uploaded (an image), or null")
    signature = text_field(max_len=SIGNATURE_MAX, allow_empty=True, required=False)


class PasswordChangeIn(serializers.Serializer):
    old_password = StrictCharField(trim_whitespace=False, schema=_GIVEN_PASSWORD)
    new_password = StrictCharField(trim_whitespace=False, schema=_PASSWORD)
