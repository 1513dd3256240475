"""REST views for accounts: parse → service → serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts import serializers as s
from accounts.actions.login import do_login_password, do_login_sms, do_register, do_reset_password
from accounts.actions.profile import do_change_password, do_update_profile
from accounts.actions.sessions import Client, do_logout, do_refresh, do_revoke_own_session
from accounts.actions.sms import do_send_sms_code
from chatsite.drf import parse
from chatsite.net import request_device, request_ip
from chatsite.schema import errors, list_of


def client_of(request: Request) -> Client:
    return Client(ip=request_ip(request), device=request_device(request.META.get("HTTP_USER_AGENT")))


def _list(items: list[dict]) -> dict:
    return {"results": items, "next": None}


class OpenView(APIView):
    """Endpoints open without authentication (they authenticate by what they are given)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(OpenView):
    @extend_schema(
        request=s.RegisterIn,
        responses={201: s.LoginOut, **errors(409, 429, s401="`invalid_credentials`: a wrong or expired SMS code")},
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = parse(s.RegisterIn, request)
        result = do_register(
            username=data["username"],
            password=data["password"],
            nickname=data.get("nickname"),
            phone=data.get("phone"),
            sms_code=data.get("sms_code"),
            client=client_of(request),
        )
        return Response(s.login_to_wire(result), status=status.HTTP_201_CREATED)


class LoginView(OpenView):
    @extend_schema(
        request=s.LoginIn, responses={200: s.LoginOut, **errors(401, 429, s403="`account_disabled`")}, tags=["accounts"]
    )
    def post(self, request: Request) -> Response:
        data = parse(s.LoginIn, request)
        result = do_login_password(login=data["login"], password=data["password"], client=client_of(request))
        return Response(s.login_to_wire(result))


class SmsSendView(OpenView):
    @extend_schema(
        request=s.SmsSendIn,
        responses={
            202: s.SmsSentOut,
            **errors(429, s503="`unavailable`: the SMS provider or a backing service is down"),
        },
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = parse(s.SmsSendIn, request)
        ttl = do_send_sms_code(phone=data["phone"], purpose=data["purpose"], client=client_of(request))
        return Response({"expires_in": ttl}, status=status.HTTP_202_ACCEPTED)


class SmsLoginView(OpenView):
    @extend_schema(
        request=s.SmsLoginIn,
        responses={200: s.LoginOut, **errors(401, 429, s403="`account_disabled`")},
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = parse(s.SmsLoginIn, request)
        result = do_login_sms(phone=data["phone"], code=data["code"], client=client_of(request))
        return Response(s.login_to_wire(result))


class PasswordResetView(OpenView):
    @extend_schema(
        request=s.PasswordResetIn,
        responses={204: None, **errors(401, 429, s403="`account_disabled`")},
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = parse(s.PasswordResetIn, request)
        do_reset_password(
            phone=data["phone"], code=data["code"], new_password=data["new_password"], client=client_of(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RefreshView(OpenView):
    @extend_schema(
        request=s.RefreshIn,
        responses={
            200: s.TokensOut,
            **errors(
                s401="`not_authenticated`: an unknown, expired, revoked or already rotated refresh token",
                s403="`account_disabled`",
            ),
        },
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = parse(s.RefreshIn, request)
        return Response(do_refresh(refresh_token=data["refresh"]).as_wire())


class LogoutView(OpenView):
    @extend_schema(
        request=s.RefreshIn,
        responses={204: None, **errors(s401="`not_authenticated`: not a refresh token of a live session")},
        tags=["accounts"],
    )
    def post(self, request: Request) -> Response:
        data = parse(s.RefreshIn, request)
        do_logout(refresh_token=data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: s.MeOut}, tags=["accounts"])
    def get(self, request: Request) -> Response:
        return Response(s.me_to_wire(request.user))

    @extend_schema(request=s.MePatchIn, responses={200: s.MeOut}, tags=["accounts"])
    def patch(self, request: Request) -> Response:
        data = parse(s.MePatchIn, request, partial=True)
        changes = {k: (str(v) if k == "avatar" and v is not None else v) for k, v in data.items()}
        user = do_update_profile(user=request.user, **changes)
        return Response(s.me_to_wire(user))


class PasswordChangeView(APIView):
    @extend_schema(request=s.PasswordChangeIn, responses={204: None, **errors(429)}, tags=["accounts"])
    def post(self, request: Request) -> Response:
        data = parse(s.PasswordChangeIn, request)
        do_change_password(
            user=request.user,
            session=request.auth,
            old_password=data["old_password"],
            new_password=data["new_password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionListView(APIView):
    @extend_schema(responses={200: list_of(s.SessionOut, "SessionList")}, tags=["accounts"])
    def get(self, request: Request) -> Response:
        sessions = selectors.list_live_sessions(user=request.user)
        return Response(_list([s.session_to_wire(x, current=request.auth) for x in sessions]))


class SessionDetailView(APIView):
    @extend_schema(responses={204: None}, tags=["accounts"])
    def delete(self, request: Request, session_id: str) -> Response:
        do_revoke_own_session(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserDetailView(APIView):
    @extend_schema(responses={200: s.UserOut}, tags=["accounts"])
    def get(self, request: Request, user_id: str) -> Response:
        user = selectors.access_user(viewer=request.user, user_id=user_id)
        return Response(s.user_for_viewer(user, request.user))
