"""REST views for bots: parse → service → serialize (docs/bots.md)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import NICKNAME_MAX
from accounts.serializers import USERNAME_SCHEMA, UserOut, user_to_wire
from bots import commands, selectors, services, slack, webhooks
from bots import serializers as s
from chatsite.drf import BoundedListField, StrictBooleanField, StrictCharField, id_field, parse, text_field
from chatsite.errors import NotFound
from chatsite.schema import errors, list_of
from chatsite.wire import parse_uuid
from contacts.serializers import ContactOut, contact_to_wire

TAGS = ["bots"]


class BotIn(serializers.Serializer):
    username = StrictCharField(trim_whitespace=False, schema=USERNAME_SCHEMA)
    nickname = text_field(max_len=NICKNAME_MAX, allow_empty=True, required=False)
    description = text_field(max_len=services.DESCRIPTION_MAX, allow_empty=True, multiline=True, required=False)
    is_public = StrictBooleanField(required=False)


class BotPatchIn(serializers.Serializer):
    nickname = text_field(max_len=NICKNAME_MAX, allow_empty=True, required=False)
    description = text_field(max_len=services.DESCRIPTION_MAX, allow_empty=True, multiline=True, required=False)
    is_public = StrictBooleanField(required=False)
    events_url = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        schema={"maxLength": 2000, "format": "uri"},
        help_text="where the bot's events are POSTed (http or https); null or empty: none",
    )


class KeyIn(serializers.Serializer):
    name = text_field(max_len=services.KEY_NAME_MAX, allow_empty=True, required=False)


class CommandIn(serializers.Serializer):
    name = StrictCharField(schema={"pattern": services.COMMAND_NAME_RE.pattern})
    description = text_field(max_len=200, allow_empty=True, required=False)
    usage = text_field(max_len=100, allow_empty=True, required=False)


class CommandsIn(serializers.Serializer):
    commands = BoundedListField(child=serializers.DictField(), max_items=lambda: services.COMMANDS_MAX)


class WebhookIn(serializers.Serializer):
    conversation = id_field(help_text="a conversation the bot is in")


class BotListView(APIView):
    @extend_schema(operation_id="bots_list", responses={200: list_of(s.BotOut, "BotList")}, tags=TAGS)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "results": [s.bot_to_wire(b, owner_view=True) for b in selectors.list_bots(owner=request.user)],
                "next": None,
            }
        )

    @extend_schema(request=BotIn, responses={201: s.BotOut, **errors(400, 403, 409)}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = parse(BotIn, request)
        bot = services.do_create_bot(owner=request.user, **data)
        return Response(s.bot_to_wire(bot, owner_view=True), status=status.HTTP_201_CREATED)


class BotDetailView(APIView):
    @extend_schema(responses={200: s.BotOut, **errors(404)}, tags=TAGS)
    def get(self, request: Request, bot_id: str) -> Response:
        try:
            return Response(s.bot_to_wire(selectors.access_bot(user=request.user, bot_id=bot_id), owner_view=True))
        except NotFound:
            return Response(s.bot_to_wire(selectors.get_bot_card(viewer=request.user, bot_id=bot_id), owner_view=False))

    @extend_schema(request=BotPatchIn, responses={200: s.BotOut, **errors(400, 404)}, tags=TAGS)
    def patch(self, request: Request, bot_id: str) -> Response:
        data = parse(BotPatchIn, request)
        bot = services.do_update_bot(user=request.user, bot_id=bot_id, **data)
        return Response(s.bot_to_wire(bot, owner_view=True))

    @extend_schema(responses={204: None, **errors(404)}, tags=TAGS)
    def delete(self, request: Request, bot_id: str) -> Response:
        services.do_delete_bot(user=request.user, bot_id=bot_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotSecretView(APIView):
    @extend_schema(request=None, responses={200: s.BotOut, **errors(404)}, tags=TAGS)
    def post(self, request: Request, bot_id: str) -> Response:
        bot = services.do_rotate_signing_secret(user=request.user, bot_id=bot_id)
        return Response(s.bot_to_wire(bot, owner_view=True))


class BotKeyListView(APIView):
    @extend_schema(
        operation_id="bot_keys_list", responses={200: list_of(s.KeyOut, "BotKeyList"), **errors(404)}, tags=TAGS
    )
    def get(self, request: Request, bot_id: str) -> Response:
        bot = selectors.access_bot(user=request.user, bot_id=bot_id)
        return Response({"results": [s.key_to_wire(k) for k in selectors.list_keys(bot=bot)], "next": None})

    @extend_schema(request=KeyIn, responses={201: s.KeyOut, **errors(400, 404, 409)}, tags=TAGS)
    def post(self, request: Request, bot_id: str) -> Response:
        data = parse(KeyIn, request)
        new = services.do_create_bot_key(user=request.user, bot_id=bot_id, name=data.get("name", ""))
        return Response(s.key_to_wire(new.session, key=new.key), status=status.HTTP_201_CREATED)


class BotKeyDetailView(APIView):
    @extend_schema(responses={204: None, **errors(404)}, tags=TAGS)
    def delete(self, request: Request, bot_id: str, key_id: str) -> Response:
        services.do_revoke_bot_key(user=request.user, bot_id=bot_id, key_id=key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotCommandsView(APIView):
    @extend_schema(
        request=CommandsIn, responses={200: list_of(s.CommandOut, "BotCommandList"), **errors(400, 404)}, tags=TAGS
    )
    def put(self, request: Request, bot_id: str) -> Response:
        data = parse(CommandsIn, request)
        commands = services.do_set_commands(user=request.user, bot_id=bot_id, commands=data["commands"])
        return Response({"results": [s.command_to_wire(c) for c in commands], "next": None})


class AllowedIn(serializers.Serializer):
    users = BoundedListField(child=id_field(), max_items=lambda: settings.BOT_ALLOWED_MAX)


class BotAllowedView(APIView):
    @extend_schema(
        request=AllowedIn, responses={200: list_of(UserOut, "BotAllowedList"), **errors(400, 404)}, tags=TAGS
    )
    def put(self, request: Request, bot_id: str) -> Response:
        data = parse(AllowedIn, request)
        people = services.do_set_allowed(user=request.user, bot_id=bot_id, users=data["users"])
        return Response({"results": [user_to_wire(u) for u in people], "next": None})


class BotAddView(APIView):
    @extend_schema(request=None, responses={200: ContactOut, **errors(403, 404)}, tags=TAGS)
    def post(self, request: Request, bot_id: str) -> Response:
        contact = services.do_add_bot(user=request.user, bot_id=bot_id)
        return Response(contact_to_wire(contact, blocked=False))


class BotWebhookListView(APIView):
    @extend_schema(
        operation_id="bot_webhooks_list",
        responses={200: list_of(s.WebhookOut, "BotWebhookList"), **errors(404)},
        tags=TAGS,
    )
    def get(self, request: Request, bot_id: str) -> Response:
        bot = selectors.access_bot(user=request.user, bot_id=bot_id)
        return Response({"results": [s.webhook_to_wire(w) for w in selectors.list_webhooks(bot=bot)], "next": None})

    @extend_schema(request=WebhookIn, responses={201: s.WebhookOut, **errors(404, 409)}, tags=TAGS)
    def post(self, request: Request, bot_id: str) -> Response:
        data = parse(WebhookIn, request)
        new = services.do_create_webhook(user=request.user, bot_id=bot_id, conversation_id=data["conversation"])
        url = request.build_absolute_uri(f"/api/v1/hooks/{new.token}")
        return Response(s.webhook_to_wire(new.webhook, url=url), status=status.HTTP_201_CREATED)


class BotWebhookDetailView(APIView):
    @extend_schema(responses={204: None, **errors(404)}, tags=TAGS)
    def delete(self, request: Request, bot_id: str, webhook_id: str) -> Response:
        services.do_revoke_webhook(user=request.user, bot_id=bot_id, webhook_id=webhook_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


_PLAIN = OpenApiTypes.STR


class IncomingWebhookView(APIView):
    """Slack-compatible: the body is `ok` or Slack's error string, as text."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="hooks_post",
        request={"application/json": OpenApiTypes.OBJECT, "application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter(
                "Idempotency-Key", str, OpenApiParameter.HEADER, description="the same key posts once (1-255 chars)"
            )
        ],
        responses={
            (200, "text/plain"): _PLAIN,
            (400, "text/plain"): _PLAIN,
            (403, "text/plain"): _PLAIN,
            (404, "text/plain"): _PLAIN,
            (410, "text/plain"): _PLAIN,
            (429, "text/plain"): _PLAIN,
        },
        auth=[],
        tags=TAGS,
    )
    def post(self, request: Request, token: str) -> HttpResponse:
        try:
            webhooks.post_by_webhook(
                token=token,
                content_type=request.content_type or "",
                body=request.body,
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        except slack.SlackPayloadError as exc:
            answer = HttpResponse(exc.code, status=exc.status, content_type="text/plain")
            if getattr(exc, "retry_after", None):
                answer["Retry-After"] = str(exc.retry_after)
            return answer
        return HttpResponse("ok", content_type="text/plain")


class CommandRunIn(serializers.Serializer):
    text = StrictCharField(trim_whitespace=False, schema={"maxLength": commands.TEXT_MAX, "pattern": "^/"})
    client_msg_id = id_field(required=False, trim_whitespace=False, help_text="for /me and /shrug: the message's")


class AvailableOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    usage = serializers.CharField()
    bot = UserOut(allow_null=True, help_text="the bot that answers it; null: built in")


class RanOut(serializers.Serializer):
    command = serializers.CharField()
    status = serializers.ChoiceField(choices=["sent", "done", "forwarded"])
    client_msg_id = serializers.UUIDField(allow_null=True)


def _conversation_path(conversation_id: str) -> None:
    # A path that names no conversation is not found, as on every conversation route.
    if parse_uuid(conversation_id) is None:
        raise NotFound(gettext("No such conversation."))


class ConversationCommandsView(APIView):
    @extend_schema(
        operation_id="conversation_commands_list",
        responses={200: list_of(AvailableOut, "ConversationCommandList"), **errors(403, 404)},
        tags=["conversations"],
    )
    def get(self, request: Request, conversation_id: str) -> Response:
        _conversation_path(conversation_id)
        found = commands.list_commands(user=request.user, conversation_id=conversation_id)
        return Response(
            {
                "results": [
                    {
                        "name": a.name,
                        "description": a.description,
                        "usage": a.usage,
                        "bot": user_to_wire(a.bot) if a.bot is not None else None,
                    }
                    for a in found
                ],
                "next": None,
            }
        )

    @extend_schema(request=CommandRunIn, responses={200: RanOut, **errors(400, 403, 404, 429)}, tags=["conversations"])
    def post(self, request: Request, conversation_id: str) -> Response:
        _conversation_path(conversation_id)
        data = parse(CommandRunIn, request)
        ran = commands.do_run_command(
            user=request.user,
            conversation_id=conversation_id,
            text=data["text"],
            client_msg_id=data.get("client_msg_id"),
        )
        return Response({"command": ran.command, "status": ran.status, "client_msg_id": ran.client_msg_id})
