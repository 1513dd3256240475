"""The OpenAPI schema's error answers, declared in one place.

Every error the API gives has one shape, `{"error": {"code", "message",
"fields"?}}` (chatsite.errors, chatsite.drf). `ChatAutoSchema` adds to each
operation the error statuses that follow from what it is:

- 401 `not_authenticated` and 403 (`account_disabled`, a failed CSRF check)
  when it needs a signed-in caller;
- 400 `invalid` when it takes a body or query parameters; 413 `too_large` and
  415 `unsupported_media` when it takes a body;
- 404 `not_found` when its path names an object (a malformed id is one that
  does not exist); path ids are declared as UUIDs;
- 503 `unavailable` for every operation (a backing service is down).

The views declare the rest, the statuses their own rules give (`conflict`,
`forbidden`, `rate_limited`, ...), with `errors(...)` next to their success
answers, so the schema says every status an operation can answer and no
other.
"""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from chatsite import errors as chat_errors


def _codes() -> list[str]:
    found, stack = set(), [chat_errors.ChatError]
    while stack:
        cls = stack.pop()
        found.add(cls.code)
        stack.extend(cls.__subclasses__())
    return sorted(found)


ERROR = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.ChoiceField(choices=_codes()),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()),
                    required=False,
                    help_text="only for `invalid`: which fields, and what is wrong with each",
                ),
            },
        )
    },
)


def list_of(item: type[serializers.Serializer], name: str) -> serializers.Serializer:
    """A list's shape: `{"results": [item], "next": cursor | null}` (a list
    that is never paged says `"next": null`, as every list does)."""
    return inline_serializer(name, {"results": item(many=True), "next": serializers.CharField(allow_null=True)})


CURSOR = OpenApiParameter("cursor", str, description="`next` of the previous page (opaque; empty: the first page)")


def limit_param(*, default: int = 50, maximum: int = 100) -> OpenApiParameter:
    """`?limit=`, as chatsite.drf.page_limit reads it."""
    schema = {"type": "integer", "minimum": 1, "maximum": maximum}
    return OpenApiParameter("limit", schema, description=f"items per page, default {default}")


LIMIT = limit_param()
PAGE_PARAMS = [CURSOR, LIMIT]


# `?name=` with nothing after it is the same as leaving the parameter out
# (OpenAPI's allowEmptyValue); ChatAutoSchema renders this marker as that.
_EMPTY_IS_ABSENT = "x-empty-is-absent"


def filter_param(name: str, schema: object, description: str = "") -> OpenApiParameter:
    """An optional query filter whose empty value means no filter."""
    return OpenApiParameter(name, schema, description=description, extensions={_EMPTY_IS_ABSENT: True})


def uuid_param(name: str, description: str = "") -> OpenApiParameter:
    """An optional id filter (empty: no filter)."""
    return filter_param(name, OpenApiTypes.UUID, description)


# What each status means in this API (the codes a client may see with it).
MEANING = {
    400: "`invalid`: a field or parameter is missing, of the wrong type, too long or malformed",
    401: "`not_authenticated` (no, a malformed, expired or revoked token) or `invalid_credentials`",
    403: "`account_disabled`, `forbidden`, `blocked`, `not_contact`, `not_member` or `group_disabled`",
    404: "`not_found`: no such object, or one the caller may not know exists",
    409: "`conflict`: it exists already or is already in that state",
    413: "`too_large`: over a size limit",
    415: "`unsupported_media`: send JSON (or multipart/form-data where a file is uploaded)",
    429: "`rate_limited`: too many requests; `Retry-After` says when to try again",
    503: "`unavailable`: a backing service is down; retry later, nothing was done",
}


def errors(*statuses: int, **described: str) -> dict[int, OpenApiResponse]:
    """Error answers for `extend_schema(responses=...)`: `errors(403, 409)`, or
    with a description of one's own: `errors(s409="... the owner must transfer first")`."""
    out = {status: OpenApiResponse(ERROR, description=MEANING[status]) for status in statuses}
    for key, text in described.items():
        out[int(key.lstrip("s"))] = OpenApiResponse(ERROR, description=text)
    return out


_BLANK = {"type": "string", "maxLength": 0}


class ChatAutoSchema(AutoSchema):
    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        for parameter in operation.get("parameters", []):
            # Every object in a path is named by its UUID (the wire's ids).
            if parameter.get("in") == "path":
                parameter["schema"] = {"type": "string", "format": "uuid"}
            if parameter.pop(_EMPTY_IS_ABSENT, False):
                parameter["allowEmptyValue"] = True
        return operation

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        # drf-spectacular states "or blank" as oneOf [the rule, maxLength 0]:
        # wrong when the rule itself allows "" (it is then both, so neither).
        alternatives = schema.get("oneOf")
        if alternatives and alternatives[-1] == _BLANK:
            rule = alternatives[0]
            if re.search(rule.get("pattern", ""), "") and rule.get("minLength", 0) == 0 and "format" not in rule:
                del schema["oneOf"]
                schema.update(rule)
            else:
                schema["anyOf"] = schema.pop("oneOf")

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(serializer, PolymorphicProxySerializer) or (
            isinstance(serializer, dict) and serializer.get("required")
        ):
            # One of several shapes, or a raw schema, with required fields: no body is not one.
            required = True
        return schema, required

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self._implied_errors():
            if str(status) not in responses:
                body = self._get_response_for_code(ERROR, str(status), direction=direction)
                body["description"] = MEANING[status]
                responses[str(status)] = body
        return dict(sorted(responses.items()))

    def _implied_errors(self) -> list[int]:
        implied = [503]
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            implied += [401, 403]
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        if has_body or has_query:
            implied.append(400)
        if has_body:
            implied += [413, 415]
        if "{" in self.path:
            implied.append(404)
        return implied


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    """A StrictCharField is a string with the constraints its `schema` states."""

    target_class = "chatsite.drf.StrictCharField"

    def map_serializer_field(self, auto_schema, direction):
        mapped = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        mapped.update(self.target.schema)
        if "pattern" not in mapped and "format" not in mapped:
            # DRF's CharField refuses NUL characters; a field's own pattern must say so itself.
            mapped["pattern"] = "^[^\\x00]*$"
        return mapped


class BoundedListFieldExtension(OpenApiSerializerFieldExtension):
    """A BoundedListField's length limit is read when the schema is made."""

    target_class = "chatsite.drf.BoundedListField"

    def map_serializer_field(self, auto_schema, direction):
        mapped = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        mapped["maxItems"] = self.target.max_items()
        if not self.target.allow_empty:
            mapped["minItems"] = 1
        return mapped
