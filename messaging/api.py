"""REST views for conversations and messages: parse → service → serialize."""

from __future__ import annotations

import threading

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.drf import StrictBooleanField, decode_cursor, encode_cursor, page_limit, parse
from messaging import conversation_wire, selectors, services
from messaging.serializers import MessageOut, message_to_wire


class ConversationOut(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["direct", "group"])
    peer = serializers.JSONField(allow_null=True, help_text="User, for direct conversations")
    group = serializers.JSONField(allow_null=True, help_text="Group, for group conversations")
    last_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()
    peer_read_seq = serializers.IntegerField(allow_null=True)
    unread = serializers.IntegerField()
    last_message = MessageOut(allow_null=True)
    updated_at = serializers.DateTimeField()
    pinned = serializers.BooleanField()
    muted = serializers.BooleanField()


class ConversationListOut(serializers.Serializer):
    results = ConversationOut(many=True)
    next = serializers.CharField(allow_null=True)


class OpenIn(serializers.Serializer):
    peer = serializers.CharField(required=False)
    group = serializers.CharField(required=False)


class StateIn(serializers.Serializer):
    pinned = StrictBooleanField(required=False)
    muted = StrictBooleanField(required=False)


class SendIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["text", "file"])
    content = serializers.JSONField(required=False, allow_null=True)
    file = serializers.CharField(required=False, allow_null=True)
    # Not trimmed: the service decides, and " <uuid> " padded to any length is not a UUID.
    client_msg_id = serializers.CharField(trim_whitespace=False)


class ReadIn(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)


def _schedule_read_announcement(moved, user) -> None:
    """A read inside a group's one-second window is announced when it ends."""
    if moved is not None and moved.announce_after_s:
        timer = threading.Timer(
            moved.announce_after_s + 0.01,
            _announce_later,
            kwargs={"conversation": moved.conversation, "user": user},
        )
        timer.daemon = True
        timer.start()


def _announce_later(*, conversation, user) -> None:
    from django.db import close_old_connections

    try:
        services.announce_read(conversation=conversation, user=user)
    finally:
        close_old_connections()


class ConversationListView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
        responses={200: ConversationListOut},
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request, default=conversation_wire.LIST_DEFAULT, maximum=conversation_wire.LIST_MAX)
        results, nxt = conversation_wire.list_page(
            user=request.user, cursor=request.query_params.get("cursor"), limit=limit
        )
        return Response({"results": results, "next": nxt})

    @extend_schema(request=OpenIn, responses={200: ConversationOut}, tags=["conversations"])
    def post(self, request: Request) -> Response:
        data = parse(OpenIn, request)
        member = services.do_open_conversation(user=request.user, peer=data.get("peer"), group=data.get("group"))
        return Response(conversation_wire.conversation_for(user=request.user, member_id=member.pk))


class ConversationDetailView(APIView):
    @extend_schema(request=StateIn, responses={200: ConversationOut}, tags=["conversations"])
    def patch(self, request: Request, conversation_id: str) -> Response:
        data = parse(StateIn, request, partial=True)
        member = services.do_update_conversation_state(
            user=request.user, conversation_id=conversation_id, pinned=data.get("pinned"), muted=data.get("muted")
        )
        return Response(conversation_wire.conversation_for(user=request.user, member_id=member.pk))

    @extend_schema(responses={204: None}, tags=["conversations"])
    def delete(self, request: Request, conversation_id: str) -> Response:
        services.do_hide_conversation(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessagesView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("before", int),
            OpenApiParameter("after", int),
            OpenApiParameter("limit", int, description="1-100, default 50"),
            OpenApiParameter("client_msg_id", str),
        ],
        responses={
            200: inline_serializer(
                "MessagePage", {"results": MessageOut(many=True), "has_more": serializers.BooleanField()}
            )
        },
        tags=["conversations"],
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        access = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        params = request.query_params
        messages, more = selectors.history_page(
            access=access,
            before=params.get("before"),
            after=params.get("after"),
            limit=params.get("limit"),
            client_msg_id=params.get("client_msg_id"),
        )
        conv_uuid = str(access.conversation.uuid)
        return Response(
            {"results": [message_to_wire(m, conversation_uuid=conv_uuid) for m in messages], "has_more": more}
        )

    @extend_schema(
        request=SendIn,
        responses={
            202: inline_serializer(
                "SendAccepted", {"client_msg_id": serializers.CharField(), "status": serializers.CharField()}
            )
        },
        tags=["conversations"],
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        data = parse(SendIn, request)
        services.check_send_rate(user_id=request.user.pk)
        draft = services.check_send_message(
            sender=request.user,
            client_msg_id=data["client_msg_id"],
            kind=data["kind"],
            content=data.get("content"),
            file=data.get("file"),
            conversation=conversation_id,
        )
        services.do_send_message(draft=draft)
        return Response({"client_msg_id": draft.client_msg_id, "status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class ReadsView(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "ReadList",
                {
                    "results": inline_serializer(
                        "Read", {"user": serializers.UUIDField(), "read_seq": serializers.IntegerField()}, many=True
                    ),
                    "next": serializers.CharField(allow_null=True),
                },
            )
        },
        tags=["conversations"],
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        access = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        rows = selectors.reads_of(access=access)
        return Response({"results": [{"user": str(uid), "read_seq": seq} for uid, seq in rows], "next": None})


class ReadView(APIView):
    @extend_schema(request=ReadIn, responses={204: None}, tags=["conversations"])
    def post(self, request: Request, conversation_id: str) -> Response:
        data = parse(ReadIn, request)
        moved = services.do_mark_read(user=request.user, conversation_id=conversation_id, seq=data["seq"])
        _schedule_read_announcement(moved, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="1-100 characters, matched literally"),
            OpenApiParameter("conversation", str),
            OpenApiParameter("cursor", str),
        ],
        responses={
            200: inline_serializer(
                "MessageList", {"results": MessageOut(many=True), "next": serializers.CharField(allow_null=True)}
            )
        },
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        after = decode_cursor(request.query_params.get("cursor"), arity=1)
        found = selectors.search_messages(
            user=request.user,
            q=request.query_params.get("q"),
            conversation=request.query_params.get("conversation"),
            before=after[0] if after else None,
        )
        more = len(found) > selectors.SEARCH_MAX
        found = found[: selectors.SEARCH_MAX]
        return Response(
            {
                "results": [message_to_wire(m) for m in found],
                "next": encode_cursor([str(found[-1].uuid)]) if more and found else None,
            }
        )
