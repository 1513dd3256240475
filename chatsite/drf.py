"""REST plumbing: strict JSON in and out, one error shape, cursor pages."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from django.utils.translation import gettext
from rest_framework import exceptions as drf_exc
from rest_framework import parsers, renderers, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from chatsite import errors, wire
from chatsite.errors import ChatError, Invalid, NotFound, RateLimited, Unavailable
from chatsite.wire import whole_number

logger = logging.getLogger(__name__)


class JSONRenderer(renderers.BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        return wire.dumps_bytes(data)


class StrictJSONParser(parsers.BaseParser):
    """JSON bodies: an object, strict (no NaN/Infinity/lone surrogates)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw:
            return {}
        try:
            data = wire.loads(raw)
        except ValueError:
            raise Invalid(gettext("The body is not valid JSON.")) from None
        if not isinstance(data, dict):
            raise Invalid(gettext("The body must be a JSON object."))
        return data


def error_response(exc: ChatError) -> Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(int(exc.retry_after))
    return Response({"error": exc.as_dict()}, status=exc.status, headers=headers)


def _fields_from_detail(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, list):
                out[str(key)] = [str(v) if not isinstance(v, (dict, list)) else wire.dumps(v) for v in value]
            elif isinstance(value, dict):
                for sub, msgs in _fields_from_detail(value).items():
                    out[f"{key}.{sub}"] = msgs
            else:
                out[str(key)] = [str(value)]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


def to_chat_error(exc: Exception) -> ChatError | None:
    """Map framework exceptions onto the product's error codes."""

    if isinstance(exc, ChatError):
        return exc
    if isinstance(exc, drf_exc.ValidationError):
        fields = _fields_from_detail(exc.detail)
        first = next(iter(fields.items()), ("body", ["invalid"]))
        return Invalid(f"{first[0]}: {first[1][0]}", fields=fields)
    if isinstance(exc, drf_exc.ParseError):
        return Invalid(gettext("The body could not be parsed."))
    if isinstance(exc, (drf_exc.NotAuthenticated, drf_exc.AuthenticationFailed)):
        return errors.NotAuthenticated()
    if isinstance(exc, (drf_exc.PermissionDenied, DjangoPermissionDenied)):
        return errors.Forbidden()
    if isinstance(exc, (drf_exc.NotFound, Http404)):
        return NotFound()
    if isinstance(exc, drf_exc.Throttled):
        return RateLimited(retry_after=exc.wait or 1)
    if isinstance(exc, drf_exc.UnsupportedMediaType):
        return errors.UnsupportedMedia("Send JSON (application/json) or multipart/form-data.")
    if isinstance(exc, drf_exc.MethodNotAllowed):
        err = Invalid(gettext("Method %(n)s is not allowed here.") % {"n": exc.args[0] if exc.args else ""})
        err.status = 405
        return err
    if isinstance(exc, drf_exc.NotAcceptable):
        err = Invalid(gettext("Only application/json responses are available."))
        err.status = 406
        return err
    if isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        return Unavailable(gettext("The database is unavailable; retry later."))
    if isinstance(exc, DatabaseError):
        logger.exception("database error")
        return Unavailable(gettext("The database could not complete the request; retry later."))
    return None


def exception_handler(exc: Exception, context: dict) -> Response | None:
    err = to_chat_error(exc)
    if err is None:
        return None  # a real bug: Django's 500 handling logs it
    response = error_response(err)
    if err.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def parse(serializer_class: type[serializers.Serializer], request: Request | dict, *, partial: bool = False) -> dict:
    """Validate the shape and types of the input; returns validated data."""
    data = request.data if isinstance(request, Request) else request
    ser = serializer_class(data=data, partial=partial)
    ser.is_valid(raise_exception=True)
    return dict(ser.validated_data)


def parse_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    ser = serializer_class(data=request.query_params)
    ser.is_valid(raise_exception=True)
    return dict(ser.validated_data)


# --------------------------------------------------------------------------- cursor pages


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(wire.dumps_bytes(list(values))).decode().rstrip("=")


def decode_cursor(raw: str | None, *, arity: int) -> list[Any] | None:
    if raw in (None, ""):
        return None
    try:
        padded = raw + "=" * (-len(raw) % 4)  # type: ignore[operator]
        values = wire.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise Invalid.field("cursor", gettext("Not a cursor from this list.")) from None
    if not isinstance(values, list) or len(values) != arity:
        raise Invalid.field("cursor", gettext("Not a cursor from this list."))
    return values


def page(
    items: list[Any],
    *,
    limit: int,
    key: Callable[[Any], Sequence[Any]],
    render: Callable[[Any], dict],
) -> dict:
    """`{"results", "next"}` from `items` fetched with `limit + 1` rows."""
    more = len(items) > limit
    items = items[:limit]
    return {
        "results": [render(item) for item in items],
        "next": encode_cursor(key(items[-1])) if more and items else None,
    }


def after_id(request: Request) -> int | None:
    """The keyset of an id-descending list from `?cursor=`."""
    values = decode_cursor(request.query_params.get("cursor"), arity=1)
    if values is None:
        return None
    if whole_number(values[0]) is None:
        raise Invalid.field("cursor", gettext("Not a cursor from this list."))
    return values[0]


def page_limit(request: Request, *, default: int = 50, maximum: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    # ASCII digits only: "²".isdigit() is true and int("²") raises.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= maximum:
        raise Invalid.field("limit", gettext("A whole number from 1 to %(maximum)s.") % {"maximum": maximum})
    return int(raw)


class BoundedListField(serializers.ListField):
    """A list whose length is checked before any item is: DRF's own
    `max_length` runs after validating every item, so a list of 50,000 ids
    cost seconds before it was refused. `max_items` is read at validation
    time (a callable, so a setting changed at run time applies)."""

    def __init__(self, *, max_items: Callable[[], int], **kwargs: Any) -> None:
        self.max_items = max_items
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, (list, tuple)) and len(data) > self.max_items():
            raise serializers.ValidationError(f"At most {self.max_items()} items.")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string, and only a string (DRF's CharField turns 5 and true into
    text). `schema` states in the OpenAPI schema the rule the service applies
    (`minLength`, `maxLength`, `pattern`, `format`): documentation of that
    rule, not a second copy of it (chatsite.schema renders it)."""

    def __init__(self, *, schema: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.schema = schema or {}
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


_FORBIDDEN_ONE_LINE = "\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069"
_FORBIDDEN_MULTILINE = "\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069"


def text_field(*, max_len: int, allow_empty: bool, multiline: bool = False, **kwargs: Any) -> StrictCharField:
    """User-written text as chatsite.text.clean_text takes it: at most
    `max_len` characters, not blank unless `allow_empty`, no control or
    text-direction characters (newlines and tabs when `multiline`)."""
    forbidden = _FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_ONE_LINE
    pattern = f"^[^{forbidden}]*$" if allow_empty else f"^(?=[\\s\\S]*\\S)[^{forbidden}]*$"
    schema = {"maxLength": max_len, "pattern": pattern}
    return StrictCharField(schema=schema, allow_blank=allow_empty, trim_whitespace=False, **kwargs)


def id_field(**kwargs: Any) -> StrictCharField:
    """An object's id on the wire (a UUID; the service says whether it names one)."""
    return StrictCharField(schema={"format": "uuid"}, **kwargs)


class StrictBooleanField(serializers.BooleanField):
    """JSON true/false only (DRF's BooleanField also takes "yes", 1, "on"...)."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)
