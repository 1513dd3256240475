from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# Lengths of user-written text (the services check them; the schema states them).
PASSWORD_MAX = 128
NICKNAME_MAX = 64
SIGNATURE_MAX = 200


class UserStatus(models.TextChoices):
    ACTIVE = "active", "active"
    DISABLED = "disabled", "disabled"
    DELETED = "deleted", "deleted"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: object) -> User:
        """Low-level creation (admin, createsuperuser, tests). Product sign-up goes
        through accounts.actions.login.do_register, which enforces the rules."""
        if not username:
            raise ValueError("username is required")
        user = self.model(username=username.lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        # Stored lower-cased: "ALICE" is alice (createsuperuser asks this to
        # tell a name already taken; the admin's sign-in too).
        return self.get(username=username.lower() if isinstance(username, str) else username)

    def create_superuser(self, username: str, password: str | None = None, **extra: object) -> User:
        """`manage.py createsuperuser`: the first administrator follows the
        product's rules, or they could never sign in (a name like "ops.admin"
        is no login) and a weak password would guard the back office."""
        # Imported here: accounts.actions.fields imports this module.
        from accounts.actions.fields import clean_password, clean_username
        from chatsite.errors import Invalid

        try:
            name = clean_username(username)
            if password is not None:
                clean_password(password, username=name)
        except Invalid as err:
            raise ValidationError([text for texts in (err.fields or {}).values() for text in texts]) from None
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(name, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person using the product. `uuid` is the id on the wire; the integer
    primary key never leaves the server."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Lower-cased at sign-up, so uniqueness is case-insensitive on every database.
    # NULL once an administrator deletes the account (the name is freed).
    username = models.CharField(max_length=32, unique=True, null=True)
    nickname = models.CharField(max_length=64, blank=True, default="")
    # E.164, normalised with `phonenumbers`.
    phone = models.CharField(max_length=20, unique=True, null=True, blank=True)
    avatar = models.ForeignKey("files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    signature = models.CharField(max_length=200, blank=True, default="")
    # The language the person chose for the app (a code of settings.LANGUAGES),
    # on the account so every device follows it; NULL: not chosen.
    language = models.CharField(max_length=8, null=True, blank=True)
    status = models.CharField(max_length=16, choices=UserStatus.choices, default=UserStatus.ACTIVE)
    is_staff = models.BooleanField(default=False)
    # A bot: an account a person owns and runs by API keys (bots/). It signs
    # in only with a key, never with a password or an SMS code.
    is_bot = models.BooleanField(default=False)
    bot_owner = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_bots")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return self.username or f"deleted-{self.uuid}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.status == UserStatus.ACTIVE

    @property
    def is_admin(self) -> bool:
        return bool(self.is_staff or self.is_superuser)

    @property
    def display_name(self) -> str:
        return self.nickname or self.username or ""


class SessionKind(models.TextChoices):
    API = "api", "api"
    WEB = "web", "web"
    BOT = "bot", "bot"  # an API key of a bot: no tokens, the key itself


class LoginSession(models.Model):
    """One login: a device or browser. Every access and refresh token carries
    its id, so revoking it (logout, password change, theft, an administrator)
    invalidates that session's tokens and closes its sockets at once."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="login_sessions")
    kind = models.CharField(max_length=8, choices=SessionKind.choices, default=SessionKind.API)
    device = models.CharField(max_length=200, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    # The id (jti) of the one refresh token of this session that may still be used.
    refresh_jti = models.CharField(max_length=64, blank=True, default="")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=32, blank=True, default="")
    # A bot's API key (kind `bot`): the SHA-256 of the key, which is shown
    # once and never stored; its first characters, to tell keys apart.
    key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    key_prefix = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"session {self.uuid} of {self.user_id}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
