"""REST: GET /messages/search (a thin adapter over search.selectors)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.drf import decode_cursor, encode_cursor
from chatsite.schema import CURSOR, filter_param, uuid_param
from conversations.render import render_messages
from conversations.serializers import MessageOut
from search import selectors


class MatchOut(serializers.Serializer):
    snippet = serializers.CharField(help_text="the text around the first hit, `…` where it was cut")
    ranges = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) code-point offsets into `snippet` of what matched",
    )


class FoundMessageOut(MessageOut):
    match = MatchOut()


class SearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"},
                required=True,
                description="words (each matched as a word prefix) and CJK text (any substring); all must match",
            ),
            uuid_param("conversation", "only in this conversation"),
            uuid_param("from", "only sent by this user"),
            filter_param("after", OpenApiTypes.DATETIME, "sent at or after this moment (UTC)"),
            filter_param("before", OpenApiTypes.DATETIME, "sent before this moment (UTC)"),
            filter_param("has", {"type": "string", "enum": ["file", "image"]}, "only messages carrying one"),
            CURSOR,
        ],
        responses={
            200: inline_serializer(
                "FoundMessageList",
                {"results": FoundMessageOut(many=True), "next": serializers.CharField(allow_null=True)},
            )
        },
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        found = selectors.search_messages(
            user=request.user,
            q=params.get("q"),
            conversation=params.get("conversation"),
            sender=params.get("from"),
            after=params.get("after"),
            before=params.get("before"),
            has=params.get("has"),
            cursor=decode_cursor(params.get("cursor"), arity=2),
        )
        results = render_messages(
            found.messages, reader_id=request.user.pk, visible_from=lambda m: m.reader_visible_from
        )
        for item, message in zip(results, found.messages, strict=True):
            item["match"] = message.match
        return Response({"results": results, "next": encode_cursor(found.next) if found.next else None})
