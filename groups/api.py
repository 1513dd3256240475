"""REST views for groups: parse → service → serialize."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatsite.drf import after_id, decode_cursor, page, page_limit, parse
from chatsite.schema import PAGE_PARAMS, errors, list_of
from groups import selectors, services
from groups import serializers as s
from groups.models import JoinRequest

TAGS = ["groups"]


class GroupListView(APIView):
    @extend_schema(
        operation_id="groups_list", parameters=PAGE_PARAMS, responses={200: list_of(s.GroupOut, "GroupList")}, tags=TAGS
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        items = selectors.list_my_groups(user=request.user, after_id=after_id(request), limit=limit)
        return Response(
            page(
                items,
                limit=limit,
                key=lambda m: [m.pk],
                render=lambda m: s.group_to_wire(m.conversation.group, my_role=m.role),
            )
        )

    @extend_schema(request=s.GroupCreateIn, responses={**errors(409), 201: s.GroupOut}, tags=TAGS)
    def post(self, request: Request) -> Response:
        data = parse(s.GroupCreateIn, request)
        group = services.do_create_group(owner=request.user, **data)
        return Response(s.group_to_wire(group, my_role="owner"), status=status.HTTP_201_CREATED)


class GroupDetailView(APIView):
    @extend_schema(
        responses={200: s.GroupViewOut},
        description="Members get the Group; anyone else who has the id gets the public card "
        "(id, name, avatar, member_count, join_mode, status, my_role: null).",
        tags=TAGS,
    )
    def get(self, request: Request, group_id: str) -> Response:
        view = selectors.access_group_card(user=request.user, group_id=group_id)
        if view.membership is None:
            return Response(s.group_card_to_wire(view.group))
        return Response(s.group_to_wire(view.group, my_role=view.membership.role))

    @extend_schema(request=s.GroupPatchIn, responses={200: s.GroupOut}, tags=TAGS)
    def patch(self, request: Request, group_id: str) -> Response:
        data = parse(s.GroupPatchIn, request, partial=True)
        group = services.do_update_group(user=request.user, group_id=group_id, **data)
        membership = selectors.membership_of(group=group, user=request.user)
        return Response(s.group_to_wire(group, my_role=membership.role if membership else None))

    @extend_schema(responses={204: None}, tags=TAGS)
    def delete(self, request: Request, group_id: str) -> Response:
        services.do_dismiss_group(user=request.user, group_id=group_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(APIView):
    @extend_schema(
        operation_id="group_members_list",
        parameters=PAGE_PARAMS,
        responses={200: list_of(s.MemberOut, "MemberList")},
        tags=TAGS,
    )
    def get(self, request: Request, group_id: str) -> Response:
        view = selectors.access_group(user=request.user, group_id=group_id)
        limit = page_limit(request)
        after = selectors.decode_member_cursor(decode_cursor(request.query_params.get("cursor"), arity=2))
        items = selectors.list_members(group=view.group, after=after, limit=limit)
        return Response(page(items, limit=limit, key=lambda m: [m.rank, m.pk], render=s.member_to_wire))

    @extend_schema(
        request=s.MembersAddIn, responses={**errors(409), 200: list_of(s.MemberOut, "AddedMemberList")}, tags=TAGS
    )
    def post(self, request: Request, group_id: str) -> Response:
        data = parse(s.MembersAddIn, request)
        added = services.do_add_members(user=request.user, group_id=group_id, users=data["users"])
        return Response({"results": [s.member_to_wire(m) for m in added], "next": None})


class MemberDetailView(APIView):
    @extend_schema(request=s.RoleIn, responses={**errors(409), 200: s.MemberOut}, tags=TAGS)
    def patch(self, request: Request, group_id: str, user_id: str) -> Response:
        data = parse(s.RoleIn, request)
        membership = services.do_set_member_role(
            user=request.user, group_id=group_id, member_id=user_id, role=data["role"]
        )
        return Response(s.member_to_wire(membership))

    @extend_schema(
        responses={**errors(s409="`conflict`: the owner removing themself (transfer the group first)"), 204: None},
        tags=TAGS,
    )
    def delete(self, request: Request, group_id: str, user_id: str) -> Response:
        services.do_remove_member(user=request.user, group_id=group_id, member_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LeaveView(APIView):
    @extend_schema(
        request=None,
        responses={**errors(s409="`conflict`: the owner must transfer the group first"), 204: None},
        tags=TAGS,
    )
    def post(self, request: Request, group_id: str) -> Response:
        services.do_leave_group(user=request.user, group_id=group_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransferView(APIView):
    @extend_schema(request=s.TransferIn, responses={**errors(409), 200: s.GroupOut}, tags=TAGS)
    def post(self, request: Request, group_id: str) -> Response:
        data = parse(s.TransferIn, request)
        group = services.do_transfer_ownership(user=request.user, group_id=group_id, new_owner_id=data["user"])
        return Response(s.group_to_wire(group, my_role="admin"))


class JoinView(APIView):
    @extend_schema(request=s.JoinIn, responses={**errors(409), 200: s.MemberOut, 202: s.RequestOut}, tags=TAGS)
    def post(self, request: Request, group_id: str) -> Response:
        data = parse(s.JoinIn, request)
        result = services.do_join_group(user=request.user, group_id=group_id, message=data.get("message", ""))
        if isinstance(result, JoinRequest):
            return Response(s.join_request_to_wire(result), status=status.HTTP_202_ACCEPTED)
        return Response(s.member_to_wire(result))


class JoinRequestListView(APIView):
    @extend_schema(
        operation_id="group_join_requests_list",
        parameters=[
            OpenApiParameter("status", str, enum=["pending", "accepted", "rejected", "cancelled"], required=False),
            *PAGE_PARAMS,
        ],
        responses={200: list_of(s.RequestOut, "JoinRequestList")},
        tags=TAGS,
    )
    def get(self, request: Request, group_id: str) -> Response:
        view = selectors.access_managed_group(user=request.user, group_id=group_id)
        limit = page_limit(request)
        items = selectors.list_join_requests(
            group=view.group, after_id=after_id(request), limit=limit, status=request.query_params.get("status")
        )
        return Response(page(items, limit=limit, key=lambda r: [r.pk], render=s.join_request_to_wire))


class JoinRequestAcceptView(APIView):
    @extend_schema(request=None, responses={**errors(409), 200: s.RequestOut}, tags=TAGS)
    def post(self, request: Request, group_id: str, request_id: str) -> Response:
        result = services.do_accept_join_request(user=request.user, group_id=group_id, request_id=request_id)
        return Response(s.join_request_to_wire(result))


class JoinRequestRejectView(APIView):
    @extend_schema(request=None, responses={**errors(409), 200: s.RequestOut}, tags=TAGS)
    def post(self, request: Request, group_id: str, request_id: str) -> Response:
        result = services.do_reject_join_request(user=request.user, group_id=group_id, request_id=request_id)
        return Response(s.join_request_to_wire(result))
