"""REST views for notifications: parse → service → serialize."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.drf import decode_cursor, page, page_limit, parse
from chatsite.errors import Invalid
from chatsite.schema import PAGE_PARAMS, errors, list_of
from chatsite.wire import parse_uuid
from notifications import selectors
from notifications import serializers as s
from notifications.services import (
    do_remove_ended_subscriptions,
    do_subscribe,
    do_unsubscribe,
    do_update_notification_settings,
)


class PushKeyView(APIView):
    @extend_schema(responses={200: s.PushKeyOut}, tags=["notifications"], operation_id="push_key")
    def get(self, request: Request) -> Response:
        return Response({"vapid_public_key": settings.VAPID_PUBLIC_KEY})


class SubscriptionListView(APIView):
    @extend_schema(
        parameters=[*PAGE_PARAMS],
        responses={200: list_of(s.SubscriptionOut, "PushSubscriptionList")},
        tags=["notifications"],
        operation_id="push_subscriptions_list",
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        cursor = decode_cursor(request.query_params.get("cursor"), arity=1)
        after = parse_uuid(cursor[0]) if cursor and isinstance(cursor[0], str) else None
        if cursor and after is None:
            raise Invalid.field("cursor", gettext("Not a cursor from this list."))
        do_remove_ended_subscriptions(user=request.user)  # lazily: an expired session says nothing
        subs = selectors.list_subscriptions(user=request.user, after=after, limit=limit)
        return Response(
            page(
                subs,
                limit=limit,
                key=lambda x: [str(x.uuid)],
                render=lambda x: s.subscription_to_wire(x, session=request.auth),
            )
        )

    @extend_schema(
        request=s.SubscriptionIn,
        responses={201: s.SubscriptionOut, 200: s.SubscriptionOut, **errors(409)},
        tags=["notifications"],
        operation_id="push_subscriptions_create",
    )
    def post(self, request: Request) -> Response:
        data = parse(s.SubscriptionIn, request)
        sub, created = do_subscribe(
            user=request.user,
            session=request.auth,
            endpoint=data["endpoint"],
            p256dh=data["keys"]["p256dh"],
            auth=data["keys"]["auth"],
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.subscription_to_wire(sub, session=request.auth), status=code)


class SubscriptionDetailView(APIView):
    @extend_schema(
        responses={204: None, **errors(404)}, tags=["notifications"], operation_id="push_subscriptions_delete"
    )
    def delete(self, request: Request, subscription_id: str) -> Response:
        do_unsubscribe(user=request.user, subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationSettingsView(APIView):
    @extend_schema(responses={200: s.NotificationSettingsOut}, tags=["notifications"], operation_id="me_notifications")
    def get(self, request: Request) -> Response:
        return Response(s.settings_to_wire(selectors.get_settings(user=request.user)))

    @extend_schema(
        request=s.NotificationSettingsPatchIn,
        responses={200: s.NotificationSettingsOut, **errors(400)},
        tags=["notifications"],
        operation_id="me_notifications_update",
    )
    def patch(self, request: Request) -> Response:
        data = parse(s.NotificationSettingsPatchIn, request, partial=True)
        row = do_update_notification_settings(user=request.user, changes=data)
        return Response(s.settings_to_wire(row))
