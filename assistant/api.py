"""REST views of smart replies: parse → service → serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant import serializers as s
from assistant.selectors import get_smart_replies, smart_replies_available
from assistant.services import do_set_smart_replies
from chatsite.drf import parse
from chatsite.schema import errors


class AssistantSettingsView(APIView):
    @extend_schema(responses={200: s.AssistantSettingsOut}, tags=["assistant"], operation_id="me_assistant")
    def get(self, request: Request) -> Response:
        return Response(
            s.settings_to_wire(smart_replies=get_smart_replies(user=request.user), available=smart_replies_available())
        )

    @extend_schema(
        request=s.AssistantSettingsPatchIn,
        responses={
            200: s.AssistantSettingsOut,
            **errors(400, s409="`smart_replies: true` where the server offers none (`available` is false)"),
        },
        tags=["assistant"],
        operation_id="me_assistant_update",
    )
    def patch(self, request: Request) -> Response:
        data = parse(s.AssistantSettingsPatchIn, request)
        on = do_set_smart_replies(user=request.user, on=data["smart_replies"])
        return Response(s.settings_to_wire(smart_replies=on, available=smart_replies_available()))
