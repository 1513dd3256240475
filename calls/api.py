"""REST views for calls: parse → selector → serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calls import selectors
from calls.serializers import CallListOut, IceServersOut, call_to_wire
from chatsite.drf import decode_cursor, page, page_limit
from chatsite.schema import PAGE_PARAMS


class CallListView(APIView):
    @extend_schema(
        parameters=[
            *PAGE_PARAMS,
        ],
        responses={200: CallListOut},
        operation_id="calls_list",
        tags=["calls"],
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        cursor = decode_cursor(request.query_params.get("cursor"), arity=1)
        calls = selectors.list_calls(user=request.user, before=cursor[0] if cursor else None, limit=limit)
        return Response(page(calls, limit=limit, key=lambda c: [str(c.uuid)], render=call_to_wire))


class IceServersView(APIView):
    @extend_schema(responses={200: IceServersOut}, tags=["calls"], operation_id="calls_ice_servers")
    def get(self, request: Request) -> Response:
        # Credentials: never cached by anyone in between.
        return Response(selectors.get_ice_servers(user=request.user), headers={"Cache-Control": "no-store"})
