"""The one error hierarchy (docs/protocol/errors.md).

Services raise these; the DRF exception handler renders them as
`{"error": {...}}` with their HTTP status, and the WebSocket gateway renders
them as `error` frames (or closes with `close_code` where one applies).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy


class ChatError(Exception):
    code = "invalid"
    status = 400
    default_message = gettext_lazy("The request is invalid.")
    close_code: int | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        # In the language active where it is raised (the request's, the
        # socket's: chatsite.i18n); the default text is translated now too.
        # A lazy text (raised where the person's language is not known, such
        # as the message bus's threads) is told again when rendered (as_dict).
        self._told = message or self.default_message
        self.message = str(self._told)
        self.fields = fields
        self.retry_after = retry_after
        super().__init__(self.message)

    def as_dict(self) -> dict[str, Any]:
        """The error's body, its text in the language active now if it was
        raised with a lazy one (the language where it was raised otherwise)."""
        message = str(self._told)
        fields = self.fields
        if message != self.message and fields == {"non_field_errors": [self.message]}:
            fields = {"non_field_errors": [message]}
        body: dict[str, Any] = {"code": self.code, "message": message}
        if fields is not None and self.code == "invalid":
            body["fields"] = fields
        return body


class Invalid(ChatError):
    code, status, default_message = "invalid", 400, gettext_lazy("A field is missing, of the wrong type or malformed.")

    def __init__(
        self, message: str | None = None, *, fields: dict[str, list[str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, fields=fields, **kwargs)
        if self.fields is None:
            self.fields = {"non_field_errors": [self.message]}

    @classmethod
    def field(cls, name: str, message: str) -> Invalid:
        return cls(f"{name}: {message}", fields={name: [message]})


class BadFrame(ChatError):
    code, status, default_message = "bad_frame", 400, gettext_lazy("The frame is not a JSON object with a known type.")


class NotAuthenticated(ChatError):
    code, status, default_message = "not_authenticated", 401, gettext_lazy("Authentication is required.")
    close_code = 4401


class InvalidCredentials(ChatError):
    code, status, default_message = "invalid_credentials", 401, gettext_lazy("Wrong login or password.")


class AccountDisabled(ChatError):
    code, status, default_message = "account_disabled", 403, gettext_lazy("This account has been disabled.")
    close_code = 4403


class Forbidden(ChatError):
    code, status, default_message = "forbidden", 403, gettext_lazy("You are not allowed to do this.")


class NotFound(ChatError):
    code, status, default_message = "not_found", 404, gettext_lazy("Not found.")


class Conflict(ChatError):
    code, status, default_message = "conflict", 409, gettext_lazy("This already exists or is already in that state.")


class Blocked(ChatError):
    code, status, default_message = "blocked", 403, gettext_lazy("One of you has blocked the other.")


class NotContact(ChatError):
    code, status, default_message = "not_contact", 403, gettext_lazy("This user is not your contact.")


class NotMember(ChatError):
    code, status, default_message = "not_member", 403, gettext_lazy("You are not a member of this group.")


class GroupDisabled(ChatError):
    code, status, default_message = "group_disabled", 403, gettext_lazy("This group is disabled or dismissed.")


class TooLarge(ChatError):
    code, status, default_message = "too_large", 413, gettext_lazy("Over the size limit.")


class UnsupportedMedia(ChatError):
    code, status, default_message = "unsupported_media", 415, gettext_lazy("This file type is not accepted.")


class RateLimited(ChatError):
    code, status, default_message = "rate_limited", 429, gettext_lazy("Too many requests; try again later.")

    def __init__(self, message: str | None = None, *, retry_after: int | float = 1, **kwargs: Any) -> None:
        super().__init__(message, retry_after=max(1, int(-(-retry_after // 1))), **kwargs)


class Unavailable(ChatError):
    code, status, default_message = "unavailable", 503, gettext_lazy("A backing service is unavailable; retry later.")


class Busy(ChatError):
    code, status, default_message = "busy", 409, gettext_lazy("The other party is already in a call.")


class CallState(ChatError):
    code, status, default_message = (
        "call_state",
        409,
        gettext_lazy("This signal does not fit the call's current state."),
    )


ALL_ERRORS: tuple[type[ChatError], ...] = (
    Invalid,
    BadFrame,
    NotAuthenticated,
    InvalidCredentials,
    AccountDisabled,
    Forbidden,
    NotFound,
    Conflict,
    Blocked,
    NotContact,
    NotMember,
    GroupDisabled,
    TooLarge,
    UnsupportedMedia,
    RateLimited,
    Unavailable,
    Busy,
    CallState,
)
