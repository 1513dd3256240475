"""REST views for contacts, contact requests and blocks: parse → service → serialize."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import UserOut, user_for_viewer, user_to_wire
from chatsite.drf import after_id, page, page_limit, parse
from chatsite.schema import PAGE_PARAMS, errors, list_of
from contacts import selectors, services
from contacts import serializers as s

TAGS = ["contacts"]


class ContactListView(APIView):
    @extend_schema(operation_id="contacts_list", responses={200: s.ContactSectionsOut}, tags=TAGS)
    def get(self, request: Request) -> Response:
        sections = selectors.list_contact_sections(user=request.user)
        return Response(
            {
                "sections": [
                    {
                        "letter": section.letter,
                        "contacts": [s.contact_to_wire(e.contact, blocked=e.blocked) for e in section.entries],
                    }
                    for section in sections
                ]
            }
        )


class ContactDetailView(APIView):
    @extend_schema(request=s.ContactPatchIn, responses={200: s.ContactOut}, tags=TAGS)
    def patch(self, request: Request, user_id: str) -> Response:
        data = parse(s.ContactPatchIn, request)
        contact = services.do_update_contact(user=request.user, other_id=user_id, remark=data["remark"])
        blocked = contact.other_id in selectors.blocked_by_ids(user=request.user)
        return Response(s.contact_to_wire(contact, blocked=blocked))

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, user_id: str) -> Response:
        services.do_delete_contact(user=request.user, other_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactRequestListView(APIView):
    @extend_schema(
        operation_id="contact_requests_list",
        parameters=[
            OpenApiParameter("box", str, enum=list(selectors.BOXES), description="default incoming"),
            OpenApiParameter("status", str, enum=["pending", "accepted", "rejected", "cancelled"], required=False),
            OpenApiParameter("peer", OpenApiTypes.UUID, required=False, description="only requests with this user"),
            *PAGE_PARAMS,
        ],
        responses={200: list_of(s.ContactRequestOut, "ContactRequestList")},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        items = selectors.list_contact_requests(
            user=request.user,
            box=request.query_params.get("box", "incoming"),
            status=request.query_params.get("status"),
            peer=request.query_params.get("peer"),
            after_id=after_id(request),
            limit=limit,
        )
        return Response(page(items, limit=limit, key=lambda r: [r.pk], render=s.contact_request_to_wire))

    @extend_schema(request=s.ContactRequestIn, responses={**errors(404, 409), 201: s.ContactRequestOut}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = parse(s.ContactRequestIn, request)
        result = services.do_send_contact_request(user=request.user, to=data["to"], message=data.get("message", ""))
        return Response(s.contact_request_to_wire(result), status=status.HTTP_201_CREATED)


class ContactRequestDetailView(APIView):
    @extend_schema(responses={**errors(409), 204: None}, tags=TAGS)
    def delete(self, request: Request, request_id: str) -> Response:
        services.do_cancel_contact_request(user=request.user, request_id=request_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactRequestAcceptView(APIView):
    @extend_schema(request=None, responses={**errors(409), 200: s.ContactRequestOut}, tags=TAGS)
    def post(self, request: Request, request_id: str) -> Response:
        result = services.do_accept_contact_request(user=request.user, request_id=request_id)
        return Response(s.contact_request_to_wire(result))


class ContactRequestRejectView(APIView):
    @extend_schema(request=None, responses={**errors(409), 200: s.ContactRequestOut}, tags=TAGS)
    def post(self, request: Request, request_id: str) -> Response:
        result = services.do_reject_contact_request(user=request.user, request_id=request_id)
        return Response(s.contact_request_to_wire(result))


class BlockListView(APIView):
    @extend_schema(
        operation_id="blocks_list", parameters=PAGE_PARAMS, responses={200: list_of(UserOut, "BlockList")}, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        items = selectors.list_blocks(user=request.user, after_id=after_id(request), limit=limit)
        return Response(page(items, limit=limit, key=lambda b: [b.pk], render=lambda b: user_to_wire(b.blocked)))

    @extend_schema(request=s.BlockIn, responses={**errors(404, 409), 201: UserOut}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = parse(s.BlockIn, request)
        target = services.do_block(user=request.user, target_id=data["user"])
        return Response(user_to_wire(target), status=status.HTTP_201_CREATED)


class BlockDetailView(APIView):
    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, user_id: str) -> Response:
        services.do_unblock(user=request.user, target_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Finding people to add (GET /users/search; contacts.urls comes before accounts.urls).
class UserSearchView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"},
                required=True,
                description="An exact username or phone number",
            )
        ],
        responses={200: list_of(UserOut, "UserList"), **errors(429)},
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        users = selectors.search_users(viewer=request.user, q=request.query_params.get("q"))
        return Response({"results": [user_for_viewer(u, request.user) for u in users], "next": None})
