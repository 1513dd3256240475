"""The admin REST API (rest.md "Administration"): parse → service → serialize.

Administrators only: anyone else signed in gets 403 `forbidden`, anyone not
signed in 401 `not_authenticated`. Actions answer 200 with the updated User
(with `status` and `phone`) or Group."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import UserStatus
from backoffice import selectors, services
from backoffice import serializers as s
from backoffice.models import AuditVia
from chatsite.drf import after_id, page, page_limit, parse
from chatsite.errors import Forbidden
from chatsite.schema import PAGE_PARAMS, errors, filter_param, list_of, uuid_param
from groups.models import GroupStatus
from groups.serializers import GroupOut, group_to_wire

TAGS = ["administration"]
Q = {"type": "string", "maxLength": selectors.Q_MAX}


class IsAdministrator(BasePermission):
    def has_permission(self, request, view) -> bool:
        try:
            services.require_admin(request.user)
        except Forbidden:
            return False
        return True


class AdminView(APIView):
    permission_classes = [IsAuthenticated, IsAdministrator]


def _reason(request: Request) -> str:
    return parse(s.ReasonIn, request).get("reason", "")


def _admin_group(group) -> dict:
    return group_to_wire(group, my_role=None)


# --------------------------------------------------------------------------- users


class UserListView(AdminView):
    @extend_schema(
        operation_id="admin_users_list",
        parameters=[
            OpenApiParameter("q", Q, description="part of a username, nickname or phone number, or a user id"),
            filter_param("status", {"type": "string", "enum": UserStatus.values}),
            *PAGE_PARAMS,
        ],
        responses={200: list_of(s.AdminUserOut, "AdminUserList")},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        items = selectors.list_users(
            q=request.query_params.get("q"),
            status=request.query_params.get("status"),
            after_id=after_id(request),
            limit=limit,
        )
        return Response(page(items, limit=limit, key=lambda u: [u.pk], render=s.admin_user_to_wire))


class UserDisableView(AdminView):
    @extend_schema(
        operation_id="admin_users_disable",
        request=s.ReasonIn,
        responses={**errors(409), 200: s.AdminUserOut},
        tags=TAGS,
    )
    def post(self, request: Request, user_id: str) -> Response:
        user = services.do_disable_user(actor=request.user, user_id=user_id, reason=_reason(request), via=AuditVia.API)
        return Response(s.admin_user_to_wire(user))


class UserEnableView(AdminView):
    @extend_schema(
        operation_id="admin_users_enable", request=s.ReasonIn, responses={**errors(409), 200: s.AdminUserOut}, tags=TAGS
    )
    def post(self, request: Request, user_id: str) -> Response:
        user = services.do_enable_user(actor=request.user, user_id=user_id, reason=_reason(request), via=AuditVia.API)
        return Response(s.admin_user_to_wire(user))


class UserSetAdminView(AdminView):
    admin = True

    @extend_schema(request=s.ReasonIn, responses={**errors(409), 200: s.AdminUserOut}, tags=TAGS)
    def post(self, request: Request, user_id: str) -> Response:
        user = services.do_set_admin(
            actor=request.user, user_id=user_id, admin=self.admin, reason=_reason(request), via=AuditVia.API
        )
        return Response(s.admin_user_to_wire(user))


class UserUnsetAdminView(UserSetAdminView):
    admin = False


class UserDetailView(AdminView):
    @extend_schema(
        operation_id="admin_users_delete", request=s.ReasonIn, responses={**errors(409), 200: s.AdminUserOut}, tags=TAGS
    )
    def delete(self, request: Request, user_id: str) -> Response:
        user = services.do_delete_user(actor=request.user, user_id=user_id, reason=_reason(request), via=AuditVia.API)
        return Response(s.admin_user_to_wire(user))


# --------------------------------------------------------------------------- groups


class GroupListView(AdminView):
    @extend_schema(
        operation_id="admin_groups_list",
        parameters=[
            OpenApiParameter("q", Q, description="part of the name or of the owner's username, or a group id"),
            filter_param("status", {"type": "string", "enum": GroupStatus.values}),
            *PAGE_PARAMS,
        ],
        responses={200: list_of(GroupOut, "AdminGroupList")},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        items = selectors.list_groups(
            q=request.query_params.get("q"),
            status=request.query_params.get("status"),
            after_id=after_id(request),
            limit=limit,
        )
        return Response(page(items, limit=limit, key=lambda g: [g.pk], render=_admin_group))


class GroupStatusView(AdminView):
    status: str = GroupStatus.DISABLED

    @extend_schema(request=s.ReasonIn, responses={**errors(409), 200: GroupOut}, tags=TAGS)
    def post(self, request: Request, group_id: str) -> Response:
        group = services.do_set_group_status(
            actor=request.user, group_id=group_id, status=self.status, reason=_reason(request), via=AuditVia.API
        )
        return Response(_admin_group(group))


class GroupDisableView(GroupStatusView):
    status = GroupStatus.DISABLED


class GroupEnableView(GroupStatusView):
    status = GroupStatus.ACTIVE


class GroupDetailView(AdminView):
    @extend_schema(
        operation_id="admin_groups_dismiss", request=s.ReasonIn, responses={**errors(409), 200: GroupOut}, tags=TAGS
    )
    def delete(self, request: Request, group_id: str) -> Response:
        group = services.do_set_group_status(
            actor=request.user,
            group_id=group_id,
            status=GroupStatus.DISMISSED,
            reason=_reason(request),
            via=AuditVia.API,
        )
        return Response(_admin_group(group))


# --------------------------------------------------------------------------- audit


class AuditListView(AdminView):
    @extend_schema(
        operation_id="admin_audit_list",
        parameters=[
            uuid_param("actor", "a user id: what this administrator did"),
            uuid_param("target", "a user or group id: what was done to it"),
            *PAGE_PARAMS,
        ],
        responses={200: list_of(s.AuditEntryOut, "AuditList")},
        tags=TAGS,
    )
    def get(self, request: Request) -> Response:
        limit = page_limit(request)
        items = selectors.list_audit(
            actor=request.query_params.get("actor"),
            target=request.query_params.get("target"),
            after_id=after_id(request),
            limit=limit,
        )
        return Response(page(items, limit=limit, key=lambda e: [e.pk], render=s.audit_entry_to_wire))
