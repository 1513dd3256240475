"""The authorization matrix (docs/authorization.md), played for real.

The expected answers live in one place, the tables of docs/authorization.md:
a row per route (method and path) or WebSocket frame type, a column per kind
of caller. This module knows only how to make each call (which object, which
body) and plays every cell against the product in a world built by its own
services (tests/security/world.py).

Three checks keep the matrix whole: every route of the URL configuration and
every method its view answers has a row, every frame type in the gateway's
registry has a row, and no row names something that does not exist. A new
endpoint or frame therefore cannot ship without its access decision.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client as WebClient
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from conftest import PASSWORD
from tests.security.world import ROLES, SECRET, World, png

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorization.md"

# --------------------------------------------------------------------------- the document


@dataclass(frozen=True)
class Row:
    subject: str  # "GET /api/v1/me" or "message.send"
    variant: str  # "" or what the parenthesis says ("group", "direct", ...)
    cells: dict[str, str]

    @property
    def id(self) -> str:
        return f"{self.subject} ({self.variant})" if self.variant else self.subject


_ROW = re.compile(r"^\|\s*`(?P<subject>[^`]+)`\s*(?:\((?P<variant>[^)]*)\))?\s*\|(?P<cells>.*)\|\s*$")


def read_matrix() -> list[Row]:
    """The rows of the document's "The matrix" section."""
    text = DOC.read_text()
    start = text.index("\n## The matrix\n")
    end = text.find("\n## ", start + 1)
    rows = []
    for line in text[start : end if end != -1 else None].splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        cells = [c.strip() for c in m["cells"].split("|")]
        assert len(cells) == len(ROLES), f"{DOC.name}: {line!r} has {len(cells)} cells, not {len(ROLES)}"
        rows.append(Row(m["subject"].strip(), (m["variant"] or "").strip(), dict(zip(ROLES, cells, strict=True))))
    return rows


MATRIX = read_matrix()
REST_ROWS = [r for r in MATRIX if " " in r.subject]
FRAME_ROWS = [r for r in MATRIX if " " not in r.subject]

# --------------------------------------------------------------------------- what exists


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


_PARAM = re.compile(r"<(?:[^>:]+:)?([^>]+)>")


def every_route() -> dict[str, set[str] | None]:
    """Path → the methods its API view answers (None: a page or another
    non-API view, whose rows name at least one method). The Django admin is
    one entry, `/admin/`."""
    routes: dict[str, set[str] | None] = {}
    for route, entry in _walk(get_resolver().url_patterns):
        if route.startswith("admin/"):
            routes["/admin/"] = None
            continue
        if route == "^api/":
            routes["/api/<unknown>"] = None
            continue
        path = "/" + _PARAM.sub(r"{\1}", route)
        view = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
        if isinstance(view, type) and issubclass(view, APIView) and path.startswith("/api/v1/"):
            methods = {m.upper() for m in view.http_method_names if m not in ("options", "head") and hasattr(view, m)}
            routes[path] = methods
        else:
            routes[path] = None
    return routes


def test_every_route_and_method_has_a_row():
    documented: dict[str, set[str]] = {}
    for row in REST_ROWS:
        method, path = row.subject.split(" ", 1)
        documented.setdefault(path, set()).add(method)
    routes = every_route()
    missing = []
    for path, methods in routes.items():
        if path not in documented:
            missing.append(path)
        elif methods is not None:
            missing += [f"{m} {path}" for m in sorted(methods - documented[path])]
    assert not missing, f"routes without a row in {DOC.name}: {missing}"
    unknown = []
    for path, methods in documented.items():
        if path not in routes:
            unknown.append(path)
        elif routes[path] is not None:
            unknown += [f"{m} {path}" for m in sorted(methods - routes[path])]
    assert not unknown, f"rows in {DOC.name} for routes that do not exist: {unknown}"


def test_every_frame_type_has_a_row():
    from chatsite.gateway import registry

    registry.autodiscover()
    known = set(registry.known_types())
    documented = {r.subject for r in FRAME_ROWS}
    assert known - documented == set(), f"frame types without a row in {DOC.name}: {sorted(known - documented)}"
    assert documented - known == set(), f"rows in {DOC.name} for frame types that do not exist: {documented - known}"


def test_every_row_can_be_played():
    unplayable = [r.id for r in REST_ROWS if (r.subject, r.variant) not in REST_CALLS]
    unplayable += [r.id for r in FRAME_ROWS if (r.subject, r.variant) not in FRAME_CALLS]
    assert not unplayable, f"rows this test does not know how to play: {unplayable}"


# --------------------------------------------------------------------------- REST calls


@dataclass
class Req:
    path: str
    body: dict | None = None
    query: dict | None = None
    upload: bool = False
    web: bool = False  # a page: the caller signs in with the cookie session


REST_CALLS: dict[tuple[str, str], Callable[[World, str], Req]] = {}


def rest(subject: str, variant: str = ""):
    def register(fn):
        REST_CALLS[(subject, variant)] = fn
        return fn

    return register


def _id(obj) -> str:
    return str(obj.uuid)


def me_or_fresh(w: World, role: str):
    """The caller, or for anonymous a user nobody has signed in as."""
    return w.caller(role) or w._user(f"nobody{uuid.uuid4().hex[:4]}")


# accounts ----------------------------------------------------------------


@rest("POST /api/v1/auth/register")
def _(w, role):
    return Req("/api/v1/auth/register", {"username": f"new_{uuid.uuid4().hex[:10]}", "password": PASSWORD})


@rest("POST /api/v1/auth/login")
def _(w, role):
    login = w.caller(role).username if role != "anonymous" else f"nobody_{w.tag}"
    return Req("/api/v1/auth/login", {"login": login, "password": PASSWORD})


@rest("POST /api/v1/auth/sms/send")
def _(w, role):
    phone = w.caller(role).phone if role != "anonymous" else w.fresh_phone()
    return Req("/api/v1/auth/sms/send", {"phone": phone, "purpose": "login"})


@rest("POST /api/v1/auth/sms/login")
def _(w, role):
    phone = w.caller(role).phone if role != "anonymous" else w.fresh_phone()
    return Req("/api/v1/auth/sms/login", {"phone": phone, "code": w.sms_code(phone, "login")})


@rest("POST /api/v1/auth/password/reset")
def _(w, role):
    phone = w.caller(role).phone if role != "anonymous" else w.fresh_phone()
    return Req(
        "/api/v1/auth/password/reset",
        {"phone": phone, "code": w.sms_code(phone, "reset"), "new_password": "another-good-pass"},
    )


@rest("POST /api/v1/auth/refresh")
def _(w, role):
    token = w.tokens(role)["refresh"] if role != "anonymous" else "not-a-token"
    return Req("/api/v1/auth/refresh", {"refresh": token})


@rest("POST /api/v1/auth/logout")
def _(w, role):
    token = w.tokens(role)["refresh"] if role != "anonymous" else "not-a-token"
    return Req("/api/v1/auth/logout", {"refresh": token})


@rest("GET /api/v1/me")
def _(w, role):
    return Req("/api/v1/me")


@rest("PATCH /api/v1/me")
def _(w, role):
    return Req("/api/v1/me", {"signature": "checked by the matrix"})


@rest("POST /api/v1/me/password")
def _(w, role):
    return Req("/api/v1/me/password", {"old_password": PASSWORD, "new_password": "another-good-pass"})


@rest("GET /api/v1/me/sessions")
def _(w, role):
    return Req("/api/v1/me/sessions")


@rest("DELETE /api/v1/me/sessions/{session_id}", "own")
def _(w, role):
    other = login_session_of(me_or_fresh(w, role))
    return Req(f"/api/v1/me/sessions/{other}")


@rest("DELETE /api/v1/me/sessions/{session_id}", "the target's")
def _(w, role):
    return Req(f"/api/v1/me/sessions/{login_session_of(w.target)}")


def login_session_of(user) -> str:
    from conftest import login_tokens

    return str(login_tokens(user)["session"].uuid)


@rest("GET /api/v1/users/search")
def _(w, role):
    return Req("/api/v1/users/search", query={"q": w.target.username})


@rest("GET /api/v1/users/{user_id}")
def _(w, role):
    return Req(f"/api/v1/users/{_id(w.target)}")


# contacts ----------------------------------------------------------------


@rest("GET /api/v1/contacts")
def _(w, role):
    return Req("/api/v1/contacts")


@rest("PATCH /api/v1/contacts/{user_id}")
def _(w, role):
    return Req(f"/api/v1/contacts/{_id(w.target)}", {"remark": "T"})


@rest("DELETE /api/v1/contacts/{user_id}")
def _(w, role):
    return Req(f"/api/v1/contacts/{_id(w.target)}")


@rest("GET /api/v1/contact-requests")
def _(w, role):
    return Req("/api/v1/contact-requests", query={"box": "incoming"})


@rest("POST /api/v1/contact-requests")
def _(w, role):
    return Req("/api/v1/contact-requests", {"to": _id(w.target), "message": "hi"})


def _request_between(w: World, sender, receiver):
    from contacts.services import do_send_contact_request

    return do_send_contact_request(user=sender, to=_id(receiver), message="")


def _request_to_caller(w: World, role: str):
    """T's pending request to the caller where the pair allows one, else T's to a third user."""
    me = w.caller(role)
    if me is not None and role not in ("disabled",) and not w.are_contacts(w.target, me) and role != "blocked":
        return _request_between(w, w.target, me)
    return _request_between(w, w.target, w.third)


def _request_from_caller(w: World, role: str):
    """The caller's pending request to T where the pair allows one, else a third user's to T."""
    me = w.caller(role)
    if me is not None and role not in ("disabled",) and not w.are_contacts(w.target, me) and role != "blocked":
        return _request_between(w, me, w.target)
    return _request_between(w, w.third, w.target)


@rest("DELETE /api/v1/contact-requests/{request_id}")
def _(w, role):
    return Req(f"/api/v1/contact-requests/{_id(_request_from_caller(w, role))}")


@rest("POST /api/v1/contact-requests/{request_id}/accept")
def _(w, role):
    return Req(f"/api/v1/contact-requests/{_id(_request_to_caller(w, role))}/accept")


@rest("POST /api/v1/contact-requests/{request_id}/reject")
def _(w, role):
    return Req(f"/api/v1/contact-requests/{_id(_request_to_caller(w, role))}/reject")


@rest("GET /api/v1/blocks")
def _(w, role):
    return Req("/api/v1/blocks")


@rest("POST /api/v1/blocks")
def _(w, role):
    return Req("/api/v1/blocks", {"user": _id(w.target)})


@rest("DELETE /api/v1/blocks/{user_id}")
def _(w, role):
    return Req(f"/api/v1/blocks/{_id(w.target)}")


@rest("DELETE /api/v1/blocks/{user_id}", "blocked by the caller")
def _(w, role):
    from contacts.services import do_block

    me = w.caller(role)
    if me is not None:
        do_block(user=me, target_id=_id(w.target))
    return Req(f"/api/v1/blocks/{_id(w.target)}")


# groups ------------------------------------------------------------------


def _g(w: World) -> str:
    return f"/api/v1/groups/{_id(w.group)}"


@rest("GET /api/v1/groups")
def _(w, role):
    return Req("/api/v1/groups")


@rest("POST /api/v1/groups")
def _(w, role):
    return Req("/api/v1/groups", {"name": "a new group", "members": [_id(w.new_contact_of(role))]})


@rest("GET /api/v1/groups/{group_id}")
def _(w, role):
    return Req(_g(w))


@rest("PATCH /api/v1/groups/{group_id}")
def _(w, role):
    return Req(_g(w), {"notice": "new notice"})


@rest("DELETE /api/v1/groups/{group_id}")
def _(w, role):
    return Req(_g(w))


@rest("GET /api/v1/groups/{group_id}/members")
def _(w, role):
    return Req(f"{_g(w)}/members")


@rest("POST /api/v1/groups/{group_id}/members")
def _(w, role):
    return Req(f"{_g(w)}/members", {"users": [_id(w.new_contact_of(role))]})


@rest("PATCH /api/v1/groups/{group_id}/members/{user_id}")
def _(w, role):
    return Req(f"{_g(w)}/members/{_id(w.target)}", {"role": "admin"})


@rest("DELETE /api/v1/groups/{group_id}/members/{user_id}")
def _(w, role):
    return Req(f"{_g(w)}/members/{_id(w.target)}")


@rest("POST /api/v1/groups/{group_id}/leave")
def _(w, role):
    return Req(f"{_g(w)}/leave")


@rest("POST /api/v1/groups/{group_id}/transfer")
def _(w, role):
    return Req(f"{_g(w)}/transfer", {"user": _id(w.target)})


@rest("POST /api/v1/groups/{group_id}/join")
def _(w, role):
    return Req(f"{_g(w)}/join", {"message": "let me in"})


@rest("GET /api/v1/groups/{group_id}/join-requests")
def _(w, role):
    return Req(f"{_g(w)}/join-requests")


def _join_request(w: World):
    from groups.services import do_join_group

    return do_join_group(user=w.third, group_id=_id(w.group), message="")


@rest("POST /api/v1/groups/{group_id}/join-requests/{request_id}/accept")
def _(w, role):
    return Req(f"{_g(w)}/join-requests/{_id(_join_request(w))}/accept")


@rest("POST /api/v1/groups/{group_id}/join-requests/{request_id}/reject")
def _(w, role):
    return Req(f"{_g(w)}/join-requests/{_id(_join_request(w))}/reject")


# conversations and messages -----------------------------------------------


def _conversation(w: World, role: str, variant: str):
    return w.group_conversation if variant == "group" else w.direct_for(role)


@rest("GET /api/v1/conversations")
def _(w, role):
    return Req("/api/v1/conversations")


@rest("POST /api/v1/conversations", "direct")
def _(w, role):
    return Req("/api/v1/conversations", {"peer": _id(w.target)})


@rest("POST /api/v1/conversations", "group")
def _(w, role):
    return Req("/api/v1/conversations", {"group": _id(w.group)})


def _conversation_rows(suffix: str, method: str, make: Callable[[str], Req]):
    for variant in ("direct", "group"):

        def play(w, role, variant=variant):
            return make(f"/api/v1/conversations/{_id(_conversation(w, role, variant))}{suffix}")

        REST_CALLS[(f"{method} /api/v1/conversations/{{conversation_id}}{suffix}", variant)] = play


_conversation_rows("", "GET", lambda p: Req(p))
_conversation_rows("", "PATCH", lambda p: Req(p, {"pinned": True}))
_conversation_rows("", "DELETE", lambda p: Req(p))
_conversation_rows("/messages", "GET", lambda p: Req(p))
_conversation_rows(
    "/messages",
    "POST",
    lambda p: Req(p, {"kind": "text", "content": "hi", "client_msg_id": str(uuid.uuid4())}),
)
_conversation_rows("/reads", "GET", lambda p: Req(p))
_conversation_rows("/read", "POST", lambda p: Req(p, {"seq": 1}))
_conversation_rows("/draft", "PUT", lambda p: Req(p, {"text": "later"}))
_conversation_rows("/commands", "GET", lambda p: Req(p))
_conversation_rows("/commands", "POST", lambda p: Req(p, {"text": "/mute"}))


def _posted(w: World, role: str, variant: str, *, pinned: bool = False, reacted: bool = False):
    """A message T just posted in that conversation (pinned by T, or with T's 👍)."""
    from django.utils import timezone

    from conversations.models import Message, Reaction

    message = w.post(w.target, _conversation(w, role, variant), "about this")
    if pinned:
        Message.objects.filter(pk=message.pk).update(pinned_at=timezone.now(), pinned_by=w.target)
    if reacted:
        Reaction.objects.create(message=message, user=w.target, emoji="👍")
    return message


for _variant in ("direct", "group"):
    REST_CALLS[("GET /api/v1/conversations/{conversation_id}/pins", _variant)] = lambda w, role, v=_variant: (
        _posted(w, role, v, pinned=True),
        Req(f"/api/v1/conversations/{_id(_conversation(w, role, v))}/pins"),
    )[1]
    REST_CALLS[("POST /api/v1/conversations/{conversation_id}/pins", _variant)] = lambda w, role, v=_variant: Req(
        f"/api/v1/conversations/{_id(_conversation(w, role, v))}/pins", {"message": _id(_posted(w, role, v))}
    )
    REST_CALLS[("DELETE /api/v1/conversations/{conversation_id}/pins/{message_id}", _variant)] = (
        lambda w, role, v=_variant: Req(
            f"/api/v1/conversations/{_id(_conversation(w, role, v))}/pins/{_id(_posted(w, role, v, pinned=True))}"
        )
    )
    REST_CALLS[("GET /api/v1/messages/{message_id}/reactions", _variant)] = lambda w, role, v=_variant: Req(
        f"/api/v1/messages/{_id(_posted(w, role, v, reacted=True))}/reactions", query={"emoji": "👍"}
    )


@rest("GET /api/v1/messages/search")
def _(w, role):
    return Req("/api/v1/messages/search", query={"q": SECRET})


# files -------------------------------------------------------------------


@rest("POST /api/v1/files")
def _(w, role):
    return Req("/api/v1/files", upload=True)


def _file(w: World, role: str, variant: str):
    if variant == "own":
        return w.upload(me_or_fresh(w, role))
    file = w.upload(w.target)
    w.send_file(w.target, _conversation(w, role, variant), file)
    return file


for _kind in ("content", "thumbnail"):
    for _variant in ("own", "direct", "group"):

        def _play(w, role, kind=_kind, variant=_variant):
            return Req(f"/api/v1/files/{_id(_file(w, role, variant))}/{kind}")

        REST_CALLS[(f"GET /api/v1/files/{{file_id}}/{_kind}", _variant)] = _play


# bots --------------------------------------------------------------------


def _bot(w: World, *, public: bool = False, in_group: bool = False):
    """A bot of *owner* (private unless `public`), in G when `in_group`."""
    from bots.services import do_add_bot, do_create_bot
    from groups.services import do_add_members

    owner = w.users["owner"]
    bot = do_create_bot(owner=owner, username=f"bot{next(_bots)}_{w.tag}", is_public=public)
    if in_group:
        do_add_bot(user=owner, bot_id=_id(bot.user))
        do_add_members(user=owner, group_id=_id(w.group), users=[_id(bot.user)])
    return bot


_bots = itertools.count(1)


@rest("GET /api/v1/bots")
def _(w, role):
    return Req("/api/v1/bots")


@rest("POST /api/v1/bots")
def _(w, role):
    return Req("/api/v1/bots", {"username": f"new_bot_{uuid.uuid4().hex[:8]}"})


@rest("GET /api/v1/bots/{bot_id}", "private")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}")


@rest("GET /api/v1/bots/{bot_id}", "public")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w, public=True).user)}")


@rest("PATCH /api/v1/bots/{bot_id}")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}", {"description": "checked by the matrix"})


@rest("DELETE /api/v1/bots/{bot_id}")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}")


@rest("POST /api/v1/bots/{bot_id}/add", "private")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/add")


@rest("POST /api/v1/bots/{bot_id}/add", "public")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w, public=True).user)}/add")


@rest("PUT /api/v1/bots/{bot_id}/allowed")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/allowed", {"users": [_id(w.users["member"])]})


@rest("POST /api/v1/bots/{bot_id}/secret")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/secret")


@rest("PUT /api/v1/bots/{bot_id}/commands")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/commands", {"commands": [{"name": "weather"}]})


@rest("GET /api/v1/bots/{bot_id}/keys")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/keys")


@rest("POST /api/v1/bots/{bot_id}/keys")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/keys", {"name": "matrix"})


@rest("DELETE /api/v1/bots/{bot_id}/keys/{key_id}")
def _(w, role):
    from accounts.actions.sessions import issue_bot_key

    bot = _bot(w)
    session, _ = issue_bot_key(bot=bot.user, name="matrix")
    return Req(f"/api/v1/bots/{_id(bot.user)}/keys/{session.uuid}")


@rest("GET /api/v1/bots/{bot_id}/webhooks")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w).user)}/webhooks")


@rest("POST /api/v1/bots/{bot_id}/webhooks")
def _(w, role):
    return Req(f"/api/v1/bots/{_id(_bot(w, in_group=True).user)}/webhooks", {"conversation": _id(w.group_conversation)})


def _webhook(w: World):
    from bots.services import do_create_webhook

    bot = _bot(w, in_group=True)
    return do_create_webhook(user=w.users["owner"], bot_id=_id(bot.user), conversation_id=_id(w.group_conversation))


@rest("DELETE /api/v1/bots/{bot_id}/webhooks/{webhook_id}")
def _(w, role):
    new = _webhook(w)
    return Req(f"/api/v1/bots/{_id(new.webhook.bot.user)}/webhooks/{new.webhook.uuid}")


@rest("POST /api/v1/hooks/{token}")
def _(w, role):
    return Req(f"/api/v1/hooks/{_webhook(w).token}", {"text": "posted by the matrix"})


# calls -------------------------------------------------------------------


@rest("GET /api/v1/calls")
def _(w, role):
    return Req("/api/v1/calls")


@rest("GET /api/v1/calls/ice-servers")
def _(w, role):
    return Req("/api/v1/calls/ice-servers")


# notifications -------------------------------------------------------------


# P-256's generator, a valid uncompressed public key.
P256_G = (
    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)


def push_subscription_body() -> dict:
    """What a browser's PushSubscription.toJSON() gives (an endpoint on
    127.0.0.1: the matrix runs with PUSH_ALLOW_HTTP)."""
    from notifications.tests.pushservice import b64url_encode

    point = bytes.fromhex(P256_G)  # a point on the curve: the server refuses any other
    return {
        "endpoint": f"http://127.0.0.1:9/push/{uuid.uuid4().hex}",
        "keys": {"p256dh": b64url_encode(point), "auth": b64url_encode(uuid.uuid4().bytes)},
    }


def push_subscription_of(user) -> str:
    from conftest import login_tokens
    from notifications.services import do_subscribe

    body = push_subscription_body()
    sub, _ = do_subscribe(user=user, session=login_tokens(user)["session"], endpoint=body["endpoint"], **body["keys"])
    return str(sub.uuid)


@rest("GET /api/v1/push/key")
def _(w, role):
    return Req("/api/v1/push/key")


@rest("GET /api/v1/push/subscriptions")
def _(w, role):
    return Req("/api/v1/push/subscriptions")


@rest("POST /api/v1/push/subscriptions")
def _(w, role):
    return Req("/api/v1/push/subscriptions", push_subscription_body())


@rest("DELETE /api/v1/push/subscriptions/{subscription_id}", "own")
def _(w, role):
    return Req(f"/api/v1/push/subscriptions/{push_subscription_of(me_or_fresh(w, role))}")


@rest("DELETE /api/v1/push/subscriptions/{subscription_id}", "the target's")
def _(w, role):
    return Req(f"/api/v1/push/subscriptions/{push_subscription_of(w.target)}")


@rest("GET /api/v1/me/notifications")
def _(w, role):
    return Req("/api/v1/me/notifications")


@rest("PATCH /api/v1/me/notifications")
def _(w, role):
    return Req("/api/v1/me/notifications", {"preview": "sender"})


# smart replies --------------------------------------------------------------


@rest("GET /api/v1/me/assistant")
def _(w, role):
    return Req("/api/v1/me/assistant")


@rest("PATCH /api/v1/me/assistant")
def _(w, role):
    return Req("/api/v1/me/assistant", {"smart_replies": False})


# administration ------------------------------------------------------------


@rest("GET /api/v1/admin/users")
def _(w, role):
    return Req("/api/v1/admin/users")


@rest("DELETE /api/v1/admin/users/{user_id}")
def _(w, role):
    return Req(f"/api/v1/admin/users/{_id(w.target)}", {"reason": "matrix"})


@rest("POST /api/v1/admin/users/{user_id}/disable")
def _(w, role):
    return Req(f"/api/v1/admin/users/{_id(w.target)}/disable", {"reason": "matrix"})


@rest("POST /api/v1/admin/users/{user_id}/enable")
def _(w, role):
    return Req(f"/api/v1/admin/users/{_id(w.users['disabled'])}/enable", {"reason": "matrix"})


@rest("POST /api/v1/admin/users/{user_id}/set-admin")
def _(w, role):
    return Req(f"/api/v1/admin/users/{_id(w.target)}/set-admin", {"reason": "matrix"})


@rest("POST /api/v1/admin/users/{user_id}/unset-admin")
def _(w, role):
    other = w._user(f"admin2{uuid.uuid4().hex[:4]}", superuser=True)
    return Req(f"/api/v1/admin/users/{_id(other)}/unset-admin", {"reason": "matrix"})


@rest("GET /api/v1/admin/groups")
def _(w, role):
    return Req("/api/v1/admin/groups")


@rest("DELETE /api/v1/admin/groups/{group_id}")
def _(w, role):
    return Req(f"/api/v1/admin/groups/{_id(w.group)}", {"reason": "matrix"})


@rest("POST /api/v1/admin/groups/{group_id}/disable")
def _(w, role):
    return Req(f"/api/v1/admin/groups/{_id(w.group)}/disable", {"reason": "matrix"})


@rest("POST /api/v1/admin/groups/{group_id}/enable")
def _(w, role):
    from backoffice.services import do_set_group_status

    do_set_group_status(
        actor=w.users["administrator"], group_id=_id(w.group), status="disabled", reason="matrix", via="api"
    )
    return Req(f"/api/v1/admin/groups/{_id(w.group)}/enable", {"reason": "matrix"})


@rest("GET /api/v1/admin/audit")
def _(w, role):
    return Req("/api/v1/admin/audit")


@rest("GET /api/<unknown>")
def _(w, role):
    return Req("/api/v2/nothing-here")


@rest("POST /api/<unknown>")
def _(w, role):
    return Req("/api/v1/nothing-here", {})


# the server root: health, schema, metrics ------------------------------------

for _path in ("/healthz", "/readyz", "/metrics", "/api/schema/", "/api/docs/"):
    REST_CALLS[(f"GET {_path}", "")] = lambda w, role, path=_path: Req(path)


# pages (signed in with the cookie session) --------------------------------

_PAGES = {
    "/": "/",
    "/chats/{item}": None,
    "/contacts": "/contacts",
    "/contacts/{item}": None,
    "/groups": "/groups",
    "/groups/{item}": None,
    "/calls": "/calls",
    # The shell, whoever asks: the page finds the call in the caller's own call log.
    "/calls/{item}": "/calls/00000000-0000-4000-8000-000000000000",
    "/profile": "/profile",
    "/profile/{item}": "/profile/password",
    # The shell, whoever asks: the page reads the bot over the API (404 unless it is theirs).
    "/profile/bots/{bot}": "/profile/bots/00000000-0000-4000-8000-000000000000",
    "/login": "/login",
    "/register": "/register",
    "/reset": "/reset",
    "/jsi18n/": "/jsi18n/",
    "/chats": "/chats",
    "/chats/": "/chats/",
    "/contacts/": "/contacts/",
    "/groups/": "/groups/",
    "/calls/": "/calls/",
    "/profile/": "/profile/",
    "/favicon.ico": "/favicon.ico",
    "/manifest.webmanifest": "/manifest.webmanifest",
    "/sw.js": "/sw.js",
    "/offline": "/offline",
}
for _route, _concrete in _PAGES.items():

    def _page(w, role, route=_route, concrete=_concrete):
        if concrete is None:
            item = {
                "/chats/{item}": lambda: _id(w.group_conversation),
                "/contacts/{item}": lambda: _id(w.target),
                "/groups/{item}": lambda: _id(w.group),
            }[route]()
            concrete = route.replace("{item}", item)
        return Req(concrete, web=True)

    REST_CALLS[(f"GET {_route}", "")] = _page


@rest("POST /login")
def _(w, role):
    login = w.caller(role).username if role != "anonymous" else f"nobody_{w.tag}"
    return Req("/login", {"login": login, "password": PASSWORD}, web=True)


@rest("POST /register")
def _(w, role):
    name = f"web_{uuid.uuid4().hex[:10]}"
    return Req("/register", {"username": name, "password": PASSWORD, "password2": PASSWORD}, web=True)


@rest("POST /reset")
def _(w, role):
    phone = w.caller(role).phone if role != "anonymous" else w.fresh_phone()
    body = {
        "phone": phone,
        "code": w.sms_code(phone, "reset"),
        "password": "a-new-password",
        "password2": "a-new-password",
    }
    return Req("/reset", body, web=True)


@rest("POST /logout")
def _(w, role):
    return Req("/logout", {}, web=True)


@rest("POST /i18n/setlang")
def _(w, role):
    return Req("/i18n/setlang", {"language": "zh-hans", "next": "/"}, web=True)


@rest("GET /admin/")
def _(w, role):
    return Req("/admin/accounts/user/", web=True)


# --------------------------------------------------------------------------- playing a REST cell


def web_client(w: World, role: str) -> WebClient:
    from accounts.actions.sessions import Client, start_session
    from accounts.middleware import SESSION_KEY
    from accounts.models import SessionKind

    client = WebClient()
    me = w.caller(role)
    if me is not None:
        client.force_login(me)
        session = client.session
        login = start_session(user=me, client=Client(ip="127.0.0.1", device="matrix"), kind=SessionKind.WEB)
        session[SESSION_KEY] = str(login.session.uuid)
        session.save()
    return client


def api_client(w: World, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {w.tokens(role)['access']}")
    return client


def perform(w: World, role: str, method: str, req: Req):
    client = web_client(w, role) if req.web else api_client(w, role)
    call = getattr(client, method.lower())
    if req.upload:
        return call(req.path, {"file": SimpleUploadedFile("pic.png", png(), content_type="image/png")})
    if req.web:
        return call(req.path, req.body or {})
    if req.query is not None:
        return call(req.path, req.query)
    return call(req.path, req.body, format="json") if req.body is not None else call(req.path)


def summarize_response(response) -> str:
    """The cell's notation: `status`, `status code` for errors, `status [n]` for lists."""
    text = str(response.status_code)
    content_type = response.get("Content-Type", "")
    if "json" not in content_type:
        return text
    try:
        body = response.json()
    except ValueError:
        return text
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{text} {body['error'].get('code')}"
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return f"{text} [{len(body['results'])}]"
    return text


def cell_matches(expected: str, actual: str) -> bool:
    # A list cell without a count accepts any count.
    if "[" not in expected and actual.endswith("]"):
        actual = actual.rsplit(" [", 1)[0]
    return expected == actual


@pytest.fixture
def media_root(settings, tmp_path):
    # Push subscriptions in the rows use endpoints on 127.0.0.1.
    settings.PUSH_ALLOW_HTTP = True
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


# Rows whose success goes through the message bus, which stores on another
# connection: their world is committed and built anew for every caller.
COMMITS = {"POST /api/v1/conversations/{conversation_id}/messages", "POST /api/v1/hooks/{token}"}


def as_markdown(row: Row, actual: dict[str, str]) -> str:
    """The row as the code answers it, to compare with the document (never to paste unread)."""
    name = f"`{row.subject}`" + (f" ({row.variant})" if row.variant else "")
    return "| " + " | ".join([name, *(actual[r] for r in ROLES)]) + " |"


def play_rest_row(row: Row, *, fresh_world_per_role: bool) -> list[str]:
    method = row.subject.split(" ", 1)[0]
    make = REST_CALLS[(row.subject, row.variant)]
    wrong, answers = [], {}
    world = None if fresh_world_per_role else World().build()
    for role in ROLES:
        w = World().build() if fresh_world_per_role else world
        if fresh_world_per_role:
            actual = summarize_response(perform(w, role, method, make(w, role)))
        else:
            with transaction.atomic():
                actual = summarize_response(perform(w, role, method, make(w, role)))
                transaction.set_rollback(True)
        answers[role] = actual
        if not cell_matches(row.cells[role], actual):
            wrong.append(f"{role}: expected {row.cells[role]!r}, got {actual!r}")
    if wrong:
        wrong.append("the code answers: " + as_markdown(row, answers))
    return wrong


@pytest.mark.django_db
@pytest.mark.parametrize("row", [r for r in REST_ROWS if r.subject not in COMMITS], ids=lambda r: r.id)
def test_rest_row(row, media_root):
    wrong = play_rest_row(row, fresh_world_per_role=False)
    assert not wrong, f"{row.id}:\n  " + "\n  ".join(wrong)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("row", [r for r in REST_ROWS if r.subject in COMMITS], ids=lambda r: r.id)
def test_rest_row_that_commits(row, media_root):
    wrong = play_rest_row(row, fresh_world_per_role=True)
    assert not wrong, f"{row.id}:\n  " + "\n  ".join(wrong)


# --------------------------------------------------------------------------- WebSocket frames


@dataclass
class Frame:
    frame: dict
    # Frames that only tell the caller's own sockets about its own change are
    # not the answer (the matrix records what the frame itself answered).
    ignore: tuple[str, ...] = ("presence", "conversation.updated", "user.updated")
    summarize: Callable[[list[dict]], str] | None = None
    wait: float = 0.6
    # Frames sent first on the same socket (their answers are not the cell's).
    before: list[dict] = field(default_factory=list)


FRAME_CALLS: dict[tuple[str, str], Callable[[World, str], Frame]] = {}


def frame(subject: str, variant: str = ""):
    def register(fn):
        FRAME_CALLS[(subject, variant)] = fn
        return fn

    return register


@frame("ping")
def _(w, role):
    return Frame({"type": "ping"})


@frame("presence.subscribe")
def _(w, role):
    # Here `presence` is the answer (one frame per user the caller may watch).
    return Frame({"type": "presence.subscribe", "users": [_id(w.target)]}, ignore=("conversation.updated",))


def _send(conversation=None, to=None) -> dict:
    body = {"type": "message.send", "client_msg_id": str(uuid.uuid4()), "kind": "text", "content": "hi"}
    if conversation is not None:
        body["conversation"] = _id(conversation)
    if to is not None:
        body["to"] = to
    return body


@frame("message.send", "direct")
def _(w, role):
    return Frame(_send(conversation=w.direct_for(role)))


@frame("message.send", "group")
def _(w, role):
    return Frame(_send(conversation=w.group_conversation))


@frame("message.send", "to the target")
def _(w, role):
    return Frame(_send(to={"user": _id(w.target)}))


@frame("message.send", "to the group")
def _(w, role):
    return Frame(_send(to={"group": _id(w.group)}))


def _recall(w: World, role: str, variant: str) -> Frame:
    message = w.post(w.target, _conversation(w, role, variant), "to be recalled")
    return Frame({"type": "message.recall", "message": _id(message)})


def _sync_summary(frames: list[dict]) -> str:
    messages = [f for f in frames if f.get("type") == "message.new"]
    done = [f for f in frames if f.get("type") == "sync.done"]
    if not done:
        return summarize_frames(frames)
    if done[0].get("gone"):
        return "sync.done gone"
    return "message.new" if messages else "sync.done"


def _change(w: World, role: str, variant: str, body: dict) -> Frame:
    """An edit or a reaction of a message T just posted. The `system` event it
    stores comes as `message.new` too; the answer is the frame named for it."""
    message = w.post(w.target, _conversation(w, role, variant), "to be changed")
    return Frame({**body, "message": _id(message)}, ignore=(*Frame.ignore, "message.new"))


for _variant in ("direct", "group"):
    FRAME_CALLS[("message.recall", _variant)] = lambda w, role, v=_variant: _recall(w, role, v)
    FRAME_CALLS[("message.edit", _variant)] = lambda w, role, v=_variant: _change(
        w, role, v, {"type": "message.edit", "content": "changed"}
    )
    FRAME_CALLS[("message.react", _variant)] = lambda w, role, v=_variant: _change(
        w, role, v, {"type": "message.react", "emoji": "👍", "op": "add"}
    )
    FRAME_CALLS[("read", _variant)] = lambda w, role, v=_variant: Frame(
        {"type": "read", "conversation": _id(_conversation(w, role, v)), "seq": 1}
    )
    FRAME_CALLS[("typing", _variant)] = lambda w, role, v=_variant: Frame(
        {"type": "typing", "conversation": _id(_conversation(w, role, v))}
    )
    FRAME_CALLS[("command.run", _variant)] = lambda w, role, v=_variant: Frame(
        {"type": "command.run", "conversation": _id(_conversation(w, role, v)), "text": "/mute"}
    )
    FRAME_CALLS[("sync", _variant)] = lambda w, role, v=_variant: Frame(
        {"type": "sync", "cursors": {_id(_conversation(w, role, v)): 0}}, summarize=_sync_summary
    )


SDP = {"type": "offer", "sdp": "v=0\r\n"}
ANSWER = {"type": "answer", "sdp": "v=0\r\n"}
CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdpMid": "0"}


def _call(caller, callee):
    from calls.services import do_invite_call

    return do_invite_call(caller=caller, to=_id(callee), media="audio", sdp=SDP, socket_id="matrix", ref=None)


def _callable_pair(w: World, role: str) -> bool:
    """May T and the caller call each other (contacts, no block, active)?"""
    me = w.caller(role)
    return me is not None and role not in ("blocked", "disabled") and w.are_contacts(w.target, me)


def _call_to_caller(w: World, role: str):
    """T's ringing call to the caller where they may call, else to the contact."""
    return _call(w.target, w.caller(role) if _callable_pair(w, role) else w.users["contact"])


def _active_call(w: World, role: str):
    from calls.services import do_accept_call

    call = _call_to_caller(w, role)
    callee = w.caller(role) if _callable_pair(w, role) else w.users["contact"]
    do_accept_call(user=callee, call_id=_id(call), sdp=ANSWER, socket_id="matrix-other", ref=None)
    return call


@frame("call.invite")
def _(w, role):
    return Frame({"type": "call.invite", "to": _id(w.target), "media": "audio", "sdp": SDP})


@frame("call.accept")
def _(w, role):
    return Frame({"type": "call.accept", "call_id": _id(_call_to_caller(w, role)), "sdp": ANSWER}, ignore=CALL_NOISE)


@frame("call.reject")
def _(w, role):
    return Frame({"type": "call.reject", "call_id": _id(_call_to_caller(w, role))}, ignore=CALL_NOISE)


@frame("call.ice")
def _(w, role):
    # From the socket that accepted T's call: the one that holds the call's media.
    call_id = _id(_call_to_caller(w, role))
    accept = {"type": "call.accept", "call_id": call_id, "sdp": ANSWER}
    return Frame({"type": "call.ice", "call_id": call_id, "candidate": CANDIDATE}, ignore=CALL_NOISE, before=[accept])


@frame("call.cancel")
def _(w, role):
    if _callable_pair(w, role):
        call = _call(w.caller(role), w.target)
    else:
        call = _call(w.target, w.users["contact"])
    return Frame({"type": "call.cancel", "call_id": _id(call)}, ignore=CALL_NOISE)


@frame("call.hangup")
def _(w, role):
    return Frame({"type": "call.hangup", "call_id": _id(_active_call(w, role))}, ignore=CALL_NOISE)


# A callee's socket that connects while a call rings is told of it first
# (call.incoming); a call that ends leaves its record in the chat (message.new).
CALL_NOISE = (*Frame.__dataclass_fields__["ignore"].default, "call.incoming", "message.new")


def summarize_frames(frames: list[dict]) -> str:
    if not frames:
        return "none"
    first = frames[0]
    if first.get("type") == "close":
        return f"close {first.get('code')}"
    if first.get("type") == "error":
        return f"error {first.get('code')}"
    return str(first.get("type"))


async def play_frame(w: World, role: str, make: Callable[[World, str], Frame]) -> str:
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application
    from conftest import ws_headers

    token = "not-a-token" if role == "anonymous" else (await sync_to_async(w.tokens)(role))["access"]
    spec = await sync_to_async(make)(w, role)
    comm = WebsocketCommunicator(application, f"/ws/?token={token}", headers=ws_headers())
    try:
        connected, _ = await comm.connect(timeout=5)
        assert connected
        first = await comm.receive_output(timeout=5)
        if first["type"] == "websocket.close":
            return f"close {first.get('code')}"
        for earlier in spec.before:
            await comm.send_json_to(earlier)
            while not await comm.receive_nothing(timeout=0.3, interval=0.01):
                out = await comm.receive_output(timeout=1)
                assert out["type"] != "websocket.close", out
        await comm.send_json_to(spec.frame)
        frames: list[dict] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + spec.wait
        while (remaining := deadline - loop.time()) > 0:
            if await comm.receive_nothing(timeout=remaining, interval=0.01):
                break
            out = await comm.receive_output(timeout=1)
            if out["type"] == "websocket.close":
                frames.append({"type": "close", "code": out.get("code")})
                break
            got = json.loads(out["text"])
            if got.get("type") in spec.ignore:
                continue
            frames.append(got)
            if got.get("type") in ("sync.done", "error") or (spec.summarize is None and len(frames) == 1):
                break
        return (spec.summarize or summarize_frames)(frames)
    finally:
        await comm.disconnect(timeout=2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("row", FRAME_ROWS, ids=lambda r: r.id)
async def test_frame_row(row, media_root):
    from chatsite.testing import shutdown_loop_tasks

    make = FRAME_CALLS[(row.subject, row.variant)]
    wrong, answers = [], {}

    async def play(role: str) -> str:
        w = await sync_to_async(World().build)()
        return await play_frame(w, role, make)

    try:
        # Each cell in a world of its own, all at once: most of a cell is the
        # wait for frames that should not come, and those waits overlap.
        for role, actual in zip(ROLES, await asyncio.gather(*map(play, ROLES)), strict=True):
            answers[role] = actual
            if row.cells[role] != actual:
                wrong.append(f"{role}: expected {row.cells[role]!r}, got {actual!r}")
    finally:
        await shutdown_loop_tasks()
    if wrong:
        wrong.append("the code answers: " + as_markdown(row, answers))
    assert not wrong, f"{row.id}:\n  " + "\n  ".join(wrong)
