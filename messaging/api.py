"""REST views for conversations and messages: parse → service → serialize."""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import close_old_connections
from django.utils.translation import gettext
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import UserOut, user_to_wire
from chatsite.drf import (
    StrictBooleanField,
    StrictCharField,
    after_id,
    id_field,
    page,
    page_limit,
    parse,
)
from chatsite.emojis import normalize_emoji
from chatsite.errors import Invalid, NotFound
from chatsite.schema import CURSOR, LIMIT, errors, filter_param, limit_param, list_of, uuid_param
from chatsite.wire import iso, parse_uuid
from conversations import selectors
from conversations import wire as conversation_wire
from conversations.render import render_messages
from conversations.serializers import MessageOut
from conversations.services import (
    announce_read,
    do_hide_conversation,
    do_mark_read,
    do_save_draft,
    do_update_conversation_state,
)
from messaging.actions.open import do_open_conversation
from messaging.actions.pins import do_pin_message, do_unpin_message
from messaging.actions.send import check_send_message, check_send_rate, do_send_message

MAX_SEQ = 2**63 - 1  # a BIGINT


class DraftOut(serializers.Serializer):
    text = serializers.CharField()
    reply_to = serializers.UUIDField(allow_null=True)
    updated_at = serializers.DateTimeField()


class ConversationOut(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["direct", "group"])
    peer = serializers.JSONField(allow_null=True, help_text="User, for direct conversations")
    group = serializers.JSONField(allow_null=True, help_text="Group, for group conversations")
    last_seq = serializers.IntegerField()
    read_seq = serializers.IntegerField()
    peer_read_seq = serializers.IntegerField(allow_null=True)
    unread = serializers.IntegerField()
    unread_mentions = serializers.IntegerField(help_text="unread messages mentioning you or @all, muted or not")
    last_message = MessageOut(allow_null=True)
    updated_at = serializers.DateTimeField()
    pinned = serializers.BooleanField()
    muted = serializers.BooleanField()
    draft = DraftOut(allow_null=True, help_text="the caller's draft, private to them")


class ConversationListOut(serializers.Serializer):
    results = ConversationOut(many=True)
    next = serializers.CharField(allow_null=True)


class OpenIn(serializers.Serializer):
    peer = id_field(required=False, help_text="a contact's user id (give this or `group`)")
    group = id_field(required=False, help_text="a group id (give this or `peer`)")


# What OpenIn and SendIn take, as the schema states it: the services decide
# which fields go together, the schema shows each combination they accept.
OPEN_SCHEMA = PolymorphicProxySerializer(
    component_name="OpenIn",
    serializers=[
        inline_serializer("OpenDirect", {"peer": id_field(help_text="a contact's user id")}),
        inline_serializer("OpenGroup", {"group": id_field(help_text="a group id")}),
    ],
    resource_type_field_name=None,
)


class DraftIn(serializers.Serializer):
    text = StrictCharField(
        allow_blank=True,
        trim_whitespace=False,
        schema={"maxLength": settings.MAX_TEXT, "pattern": "^[^\\x00]*$"},
        help_text='"" clears the draft (and its reply)',
    )
    reply_to = id_field(required=False, allow_null=True, help_text="a message of this conversation it replies to")


class StateIn(serializers.Serializer):
    pinned = StrictBooleanField(required=False)
    muted = StrictBooleanField(required=False)


class SendIn(serializers.Serializer):
    # Left out for a forward (`forward_of`); the service says which fields go together.
    kind = serializers.ChoiceField(choices=["text", "file", "bundle"], required=False, allow_null=True)
    content = serializers.JSONField(required=False, allow_null=True)
    file = id_field(required=False, allow_null=True, help_text="for `kind: file`: a File you uploaded")
    # Not trimmed: the service decides, and " <uuid> " padded to any length is not a UUID.
    client_msg_id = id_field(trim_whitespace=False, help_text="a UUID you made for this message")
    reply_to = id_field(required=False, allow_null=True)
    mentions = serializers.ListField(child=id_field(), required=False, allow_null=True, max_length=50)
    mention_all = StrictBooleanField(required=False, allow_null=True)
    forward_of = id_field(required=False, allow_null=True)
    bundle = serializers.ListField(child=id_field(), required=False, allow_null=True, max_length=100)


# Message text, as check_send_message takes it: not blank, no NUL.
_TEXT = {"maxLength": settings.MAX_TEXT, "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"}
_CAPTION = {"maxLength": settings.MAX_TEXT, "pattern": "^[^\\x00]*$"}


@extend_schema_field({"nullable": True, "not": {}})
class _Absent(serializers.Field):
    """In the schema: null or left out."""


def _send_extras() -> dict:
    """What every kind of send may add (contract v3 §3)."""
    return {
        "reply_to": id_field(required=False, allow_null=True, help_text="a message of this conversation it replies to"),
        "mentions": serializers.ListField(
            child=id_field(),
            required=False,
            allow_null=True,
            max_length=50,
            help_text="members it mentions (repeats count once)",
        ),
        "mention_all": StrictBooleanField(
            required=False, allow_null=True, help_text="@all: groups, owners and admins only"
        ),
    }


_SEND_FIELDS = ("kind", "content", "file", "bundle", "forward_of")


def _send_variant(name: str, fields: dict) -> serializers.Serializer:
    """One way to send: its own fields, the others of _SEND_FIELDS absent,
    then client_msg_id and what every send may add."""
    absent = {field: _Absent(required=False) for field in _SEND_FIELDS if field not in fields}
    return inline_serializer(
        name,
        {
            **fields,
            **absent,
            "client_msg_id": id_field(help_text="a UUID you made for this message"),
            **_send_extras(),
        },
    )


SEND_SCHEMA = PolymorphicProxySerializer(
    component_name="SendIn",
    serializers=[
        _send_variant(
            "SendText",
            {
                "kind": serializers.ChoiceField(choices=["text"]),
                "content": StrictCharField(
                    trim_whitespace=False, schema=_TEXT, help_text="the text; longer than MAX_TEXT: 413 `too_large`"
                ),
            },
        ),
        _send_variant(
            "SendFile",
            {
                "kind": serializers.ChoiceField(choices=["file"]),
                "file": id_field(help_text="a File you uploaded, or one sent in a conversation you are in"),
                "content": StrictCharField(
                    required=False,
                    allow_null=True,
                    allow_blank=True,
                    trim_whitespace=False,
                    schema=_CAPTION,
                    help_text="an optional caption",
                ),
            },
        ),
        _send_variant(
            "SendBundle",
            {
                "kind": serializers.ChoiceField(choices=["bundle"]),
                "bundle": serializers.ListField(
                    child=id_field(),
                    min_length=2,
                    max_length=100,
                    help_text="messages of one conversation you may read (text or file, not recalled), "
                    "copied in seq order; repeats count once",
                ),
            },
        ),
        _send_variant(
            "SendForward",
            {"forward_of": id_field(help_text="a text or file message you may read, in any conversation")},
        ),
    ],
    resource_type_field_name=None,
)


class ReadIn(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0, max_value=MAX_SEQ)


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
    try:
        announce_read(conversation=conversation, user=user)
    finally:
        close_old_connections()


class ConversationListView(APIView):
    @extend_schema(
        parameters=[CURSOR, limit_param(default=conversation_wire.LIST_DEFAULT, maximum=conversation_wire.LIST_MAX)],
        responses={200: ConversationListOut},
        tags=["conversations"],
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request, default=conversation_wire.LIST_DEFAULT, maximum=conversation_wire.LIST_MAX)
        results, nxt = conversation_wire.list_page(
            user=request.user, cursor=request.query_params.get("cursor"), limit=limit
        )
        return Response({"results": results, "next": nxt})

    @extend_schema(request=OPEN_SCHEMA, responses={**errors(404), 200: ConversationOut}, tags=["conversations"])
    def post(self, request: Request) -> Response:
        data = parse(OpenIn, request)
        member = do_open_conversation(user=request.user, peer=data.get("peer"), group=data.get("group"))
        return Response(conversation_wire.conversation_for(user=request.user, member_id=member.pk))


class ConversationDetailView(APIView):
    @extend_schema(
        responses={**errors(404), 200: ConversationOut},
        tags=["conversations"],
        operation_id="conversations_detail",
        description="One conversation of the caller's, listed or not: a hidden one, or a group the caller "
        "left (read up to the departure). Never un-hides it.",
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        access = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        return Response(conversation_wire.conversation_for(user=request.user, member_id=access.member.pk))

    @extend_schema(request=StateIn, responses={200: ConversationOut}, tags=["conversations"])
    def patch(self, request: Request, conversation_id: str) -> Response:
        data = parse(StateIn, request, partial=True)
        member = do_update_conversation_state(
            user=request.user, conversation_id=conversation_id, pinned=data.get("pinned"), muted=data.get("muted")
        )
        return Response(conversation_wire.conversation_for(user=request.user, member_id=member.pk))

    @extend_schema(responses={204: None}, tags=["conversations"])
    def delete(self, request: Request, conversation_id: str) -> Response:
        do_hide_conversation(user=request.user, conversation_id=conversation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DraftView(APIView):
    @extend_schema(request=DraftIn, responses={200: ConversationOut}, tags=["conversations"])
    def put(self, request: Request, conversation_id: str) -> Response:
        data = parse(DraftIn, request)
        member = do_save_draft(
            user=request.user, conversation_id=conversation_id, text=data["text"], reply_to=data.get("reply_to")
        )
        return Response(conversation_wire.conversation_for(user=request.user, member_id=member.pk))


_SEQ_PARAM = {"type": "integer", "minimum": 0, "maximum": selectors.SEQ_PARAM_MAX}


class MessagesView(APIView):
    @extend_schema(
        parameters=[
            filter_param("before", _SEQ_PARAM, description="messages before this seq (give this or `after`)"),
            filter_param("after", _SEQ_PARAM, description="messages after this seq (give this or `before`)"),
            LIMIT,
            uuid_param("client_msg_id", "the one message of yours with this client_msg_id"),
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
            {
                "results": render_messages(
                    messages,
                    reader_id=request.user.pk,
                    visible_from=access.member.visible_from_seq,
                    conversation_uuid=conv_uuid,
                ),
                "has_more": more,
            }
        )

    @extend_schema(
        request=SEND_SCHEMA,
        responses={
            **errors(413, 429),
            202: inline_serializer(
                "SendAccepted", {"client_msg_id": serializers.CharField(), "status": serializers.CharField()}
            ),
        },
        tags=["conversations"],
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        data = parse(SendIn, request)
        draft = check_send_message(
            sender=request.user,
            client_msg_id=data["client_msg_id"],
            kind=data.get("kind"),
            content=data.get("content"),
            file=data.get("file"),
            conversation=conversation_id,
            reply_to=data.get("reply_to"),
            mentions=data.get("mentions"),
            mention_all=data.get("mention_all"),
            forward_of=data.get("forward_of"),
            bundle=data.get("bundle"),
        )
        # A retry of a message already stored is answered as the first send
        # was, and costs nothing: only a message still to send spends the budget.
        if draft.existing is None:
            check_send_rate(user=request.user)
        do_send_message(draft=draft)
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
        moved = do_mark_read(user=request.user, conversation_id=conversation_id, seq=data["seq"])
        _schedule_read_announcement(moved, request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- pins and reactions


class PinIn(serializers.Serializer):
    message = id_field(help_text="a message of this conversation")


class PinnedMessageOut(MessageOut):
    pinned_at = serializers.DateTimeField()
    pinned_by = serializers.UUIDField(allow_null=True, help_text="who pinned it")


def _pinned_wire(wire: dict, message) -> dict:
    return {
        **wire,
        "pinned_at": iso(message.pinned_at),
        "pinned_by": str(message.pinned_by.uuid) if message.pinned_by_id else None,
    }


class PinsView(APIView):
    @extend_schema(
        responses={
            200: inline_serializer(
                "PinnedList",
                {"results": PinnedMessageOut(many=True), "next": serializers.CharField(allow_null=True)},
            )
        },
        tags=["conversations"],
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        access = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        pinned = selectors.pinned_messages(access=access)
        rendered = render_messages(
            pinned,
            reader_id=request.user.pk,
            visible_from=access.member.visible_from_seq,
            conversation_uuid=str(access.conversation.uuid),
        )
        return Response({"results": [_pinned_wire(w, m) for w, m in zip(rendered, pinned, strict=True)], "next": None})

    @extend_schema(
        request=PinIn,
        responses={**errors(409, 429), 201: PinnedMessageOut, 200: PinnedMessageOut},
        tags=["conversations"],
        description="201 when pinned now; 200 with the message when it was pinned already.",
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        data = parse(PinIn, request)
        check_send_rate(user=request.user)
        message, pinned_now = do_pin_message(
            user=request.user, conversation_id=conversation_id, message_id=data["message"]
        )
        message = selectors.readable_message(user=request.user, message_id=str(message.uuid))
        access = selectors.access_conversation(user=request.user, conversation_id=conversation_id)
        [wire] = render_messages([message], reader_id=request.user.pk, visible_from=access.member.visible_from_seq)
        return Response(
            _pinned_wire(wire, message), status=status.HTTP_201_CREATED if pinned_now else status.HTTP_200_OK
        )


class PinDetailView(APIView):
    @extend_schema(responses={**errors(429), 204: None}, tags=["conversations"])
    def delete(self, request: Request, conversation_id: str, message_id: str) -> Response:
        if parse_uuid(message_id) is None:
            # An id in the path that names nothing, like any other path's.
            raise NotFound(gettext("No such message."))
        check_send_rate(user=request.user)
        do_unpin_message(user=request.user, conversation_id=conversation_id, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReactorsView(APIView):
    @extend_schema(
        operation_id="message_reactions_list",
        parameters=[
            OpenApiParameter("emoji", {"type": "string", "minLength": 1, "maxLength": 16}, required=True),
            CURSOR,
            LIMIT,
        ],
        responses={200: list_of(UserOut, "ReactorList")},
        tags=["conversations"],
    )
    def get(self, request: Request, message_id: str) -> Response:
        message = selectors.readable_message(user=request.user, message_id=message_id)
        emoji = normalize_emoji(request.query_params.get("emoji"))
        if emoji is None:
            raise Invalid.field("emoji", gettext("Exactly one emoji."))
        limit = page_limit(request)
        rows = selectors.reactors_page(message=message, emoji=emoji, after_id=after_id(request), limit=limit)
        return Response(page(rows, limit=limit, key=lambda r: [r[0]], render=lambda r: user_to_wire(r[1])))
