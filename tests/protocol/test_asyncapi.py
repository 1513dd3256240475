"""docs/protocol/asyncapi.yaml against the product: its shape (AsyncAPI 3.0),
every frame type the gateway handles and every frame type the server emits
has a message in it, and frames really exchanged with a server validate.

The shared test clients check every frame they exchange (conftest.py's `WS`,
tests/client.py's `ChatClient`, see tests/protocol/frames.py); this file
checks the document itself and that those checks are live."""

from __future__ import annotations

import ast
import asyncio
import re
import uuid
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from jsonschema import Draft7Validator

from tests.protocol import frames
from tests.protocol.frames import CLIENT, SERVER, document, message_keys, problems, resolve

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "accounts",
    "conversations",
    "contacts",
    "groups",
    "messaging",
    "files",
    "calls",
    "search",
    "bots",
    "assistant",
    "notifications",
    "backoffice",
    "chatsite",
    "web",
)

# Every frame type the server sends, as the code writes it (`{"type": "<x>", ...}`);
# test_server_frame_types_in_the_code_are_the_listed_ones keeps this list true.
SERVER_FRAME_TYPES = {
    "hello",
    "command.ack",
    "bot.ephemeral",
    "reply.suggestions",
    "pong",
    "error",
    "message.ack",
    "message.new",
    "message.recalled",
    "message.edited",
    "message.reactions",
    "read",
    "typing",
    "presence",
    "sync.done",
    "conversation.updated",
    "user.updated",
    "contact.request",
    "contact.added",
    "contact.removed",
    "contact.updated",
    "block.changed",
    "group.updated",
    "group.member_added",
    "group.member_removed",
    "group.join_request",
    "group.dismissed",
    "call.ringing",
    "call.incoming",
    "call.accepted",
    "call.answered_elsewhere",
    "call.ice",
    "call.ended",
}

# `"type"` values in dict literals that are not frames: JSON Schema and
# OpenAPI types (the API schema) and ASGI messages.
NOT_FRAMES = (
    {"string", "integer", "number", "boolean", "object", "array", "null"}
    | {
        "http",
        "apiKey",
        "oauth2",
        "openIdConnect",
        "mutualTLS",
    }
    | {"image/png", "image/svg+xml"}
)  # the `type` of the web app manifest's icons (web/pwa.py)
ASGI_PREFIXES = ("http.", "websocket.", "lifespan.")
# Messages on the channel layer between the server's own processes
# (chatsite/realtime.py, chatsite/layers.py): never on the wire.
LAYER_MESSAGES = {
    "chat.frame",
    "chat.after",
    "chat.split",
    "chat.topic",
    "chat.access",
    "ws.close",
    "layer.overflow",
    "layer.lost",
}


# --------------------------------------------------------------------------- the document


def _refs(node, path="#"):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from _refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _refs(value, f"{path}/{i}")


def _type_const(schema) -> str | None:
    """The `type` const a payload schema pins (directly or in an allOf)."""
    if "$ref" in schema:
        return _type_const(resolve(schema["$ref"]))
    const = schema.get("properties", {}).get("type", {}).get("const")
    if const is not None:
        return const
    for part in schema.get("allOf", []):
        const = _type_const(part)
        if const is not None:
            return const
    return None


def test_the_document_has_the_shape_of_asyncapi_3():
    doc = document()
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc) <= {
        "asyncapi",
        "id",
        "info",
        "servers",
        "defaultContentType",
        "channels",
        "operations",
        "components",
    }
    assert doc["info"]["title"] and doc["info"]["version"]
    for server in doc["servers"].values():
        assert server["host"] and server["protocol"] in ("ws", "wss")
    assert list(doc["channels"]) == ["socket"]
    channel = doc["channels"]["socket"]
    assert channel["address"] == "/ws/"
    assert sorted(doc["operations"]) == ["receive", "send"]
    for name, operation in doc["operations"].items():
        assert operation["action"] == name
        assert operation["channel"] == {"$ref": "#/channels/socket"}
        for ref in operation["messages"]:
            # An operation's messages are the channel's (AsyncAPI 3.0).
            assert ref["$ref"].startswith("#/channels/socket/messages/"), ref
    # Every reference resolves inside the document.
    for where, ref in _refs(doc):
        assert ref.startswith("#/"), f"{where}: {ref} points outside the document"
        resolve(ref)
    name_pattern = re.compile(r"^[\w\d.\-_]+$")
    for section in ("messages", "schemas", "securitySchemes"):
        assert all(name_pattern.match(key) for key in doc["components"][section])
    # Each channel message is one component message; each is used by one operation.
    used = [r["$ref"].rsplit("/", 1)[-1] for op in doc["operations"].values() for r in op["messages"]]
    assert sorted(used) == sorted(channel["messages"])
    for key, ref in channel["messages"].items():
        assert ref == {"$ref": f"#/components/messages/{key}"}


def test_every_message_names_its_frame_type_and_has_a_valid_json_schema():
    for direction in (CLIENT, SERVER):
        for frame_type, key in message_keys(direction).items():
            message = document()["components"]["messages"][key]
            assert key == ("client." if direction == CLIENT else "server.") + frame_type
            assert message["name"] == frame_type
            assert message.get("summary"), key
            Draft7Validator.check_schema(message["payload"])
            assert _type_const(message["payload"]) == frame_type, key
    for schema in document()["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)


def test_every_registered_frame_handler_has_a_client_message():
    from chatsite.gateway import registry

    registry.autodiscover()
    assert set(registry.known_types()) == set(message_keys(CLIENT))


def _frame_type_literals() -> dict[str, list[str]]:
    """`"type"` string values of dict literals (and dict(type=...)) in the
    apps' code outside tests: value → where."""
    found: dict[str, list[str]] = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "tests" in rel.parts or "migrations" in rel.parts or path.name.startswith("test_"):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
            for node in ast.walk(tree):
                pairs = []
                if isinstance(node, ast.Dict):
                    pairs = zip(node.keys, node.values, strict=True)
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
                    pairs = ((ast.Constant(k.arg), k.value) for k in node.keywords if k.arg)
                for key, value in pairs:
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "type"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                    ):
                        found.setdefault(value.value, []).append(f"{rel}:{value.lineno}")
    return found


def test_server_frame_types_in_the_code_are_the_listed_ones():
    literals = _frame_type_literals()
    in_code = {t for t in literals if t not in NOT_FRAMES | LAYER_MESSAGES and not t.startswith(ASGI_PREFIXES)}
    unlisted = {t: literals[t] for t in in_code - SERVER_FRAME_TYPES}
    assert not unlisted, (
        f"frame types the code sends that are not in SERVER_FRAME_TYPES (nor the document?): {unlisted}"
    )
    assert not SERVER_FRAME_TYPES - in_code, "listed frame types the code no longer sends"


def test_every_server_frame_type_has_a_server_message():
    assert set(message_keys(SERVER)) == SERVER_FRAME_TYPES


# --------------------------------------------------------------------------- the checks are live


USER = {
    "id": "0b6c5a4e-63b4-4c8e-9f5e-2f1b9d6c7a10",
    "username": "alice",
    "nickname": "Alice",
    "avatar": None,
    "signature": "",
    "is_admin": False,
    "is_bot": False,
    "created_at": "2026-11-25T12:00:00.123Z",
}
MESSAGE = {
    "id": "5d1c1f7e-0f6f-4a52-8a43-94b0f0d1e0a1",
    "conversation": "7f0a3c2e-5b9d-4e8f-a1c2-3d4e5f607182",
    "seq": 1,
    "sender": USER,
    "kind": "text",
    "content": "hi",
    "file": None,
    "client_msg_id": "c0ffee00-0000-4000-8000-000000000001",
    "created_at": "2026-11-25T12:00:00.123Z",
    "recalled": False,
    "reply_to": None,
    "forwarded_from": None,
    "mentions": [],
    "mention_all": False,
    "edited_at": None,
    "reactions": [],
    "pinned": False,
}


@pytest.mark.parametrize(
    ("frame", "wrong"),
    [
        ({"type": "message.new", "message": MESSAGE}, None),
        ({"type": "message.new", "message": {**MESSAGE, "seq": 0}}, "seq"),
        ({"type": "message.new", "message": {**MESSAGE, "id": MESSAGE["id"].upper()}}, "id"),
        ({"type": "message.new", "message": {**MESSAGE, "recalled": True}}, "content"),
        ({"type": "message.new", "message": {**MESSAGE, "recalled": True, "content": None, "pinned": True}}, "pinned"),
        ({"type": "message.new", "message": {**MESSAGE, "reply_to": {"id": MESSAGE["id"]}}}, "reply_to"),
        ({"type": "message.new", "message": {**MESSAGE, "kind": "call"}}, "content"),
        ({"type": "message.new", "message": {**MESSAGE, "created_at": "2026-11-25T12:00:00+00:00"}}, "created_at"),
        ({"type": "message.ack", "client_msg_id": "x", "ref": None, "status": "stored"}, "message"),
        ({"type": "error", "code": "nope", "message": "m", "ref": None}, "code"),
        ({"type": "error", "code": "invalid", "message": "m", "ref": None}, "fields"),
        ({"type": "presence", "user": USER["id"], "online": True, "last_seen": None, "extra": 1}, None),
        ({"type": "no.such.frame"}, "no.such.frame"),
    ],
)
def test_server_frames_are_held_against_the_document(frame, wrong):
    found = problems(SERVER, frame)
    if wrong is None:
        assert found == []
    else:
        assert found and any(wrong in p for p in found), found
        with pytest.raises(frames.FrameMismatch):
            frames.check_server_frame(frame)


@pytest.mark.parametrize(
    ("frame", "valid"),
    [
        ({"type": "message.send", "client_msg_id": "x", "conversation": "c", "kind": "text", "content": "hi"}, True),
        ({"type": "message.send", "client_msg_id": "x", "to": {"user": "u"}, "kind": "file", "file": "f"}, True),
        ({"type": "message.send", "client_msg_id": "x", "kind": "text", "content": "hi"}, False),
        (
            {"type": "message.send", "client_msg_id": "x", "conversation": "c", "to": {"group": "g"}, "kind": "text"},
            False,
        ),
        ({"type": "read", "conversation": "c", "seq": -1}, False),
        ({"type": "ping", "ref": "r" * 65}, False),
        ({"type": "call.ice", "call_id": "c", "candidate": {"candidate": "", "port": 1}}, False),
    ],
)
def test_client_frames_are_held_against_the_document(frame, valid):
    assert (problems(CLIENT, frame) == []) is valid


# --------------------------------------------------------------------------- a real client and server


def _register(base: str, username: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/register", json={"username": username, "password": "a-long-password"})
    assert r.status_code == 201, r.text
    return r.json()


def _post(base: str, path: str, token: str, body: dict | None = None) -> dict:
    r = httpx.post(f"{base}/api/v1{path}", json=body or {}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code in (200, 201), r.text
    return r.json()


@pytest.mark.django_db(transaction=True)
async def test_a_real_client_exchanges_only_documented_frames(live_server_url, message_worker):
    """Two tests.client.ChatClient over the network: contact request, messages,
    typing and read; every frame they send and receive is checked (tests/conftest.py)."""
    from tests.client import ChatClient

    assert ChatClient.frame_check is frames.check_frame
    tag = uuid.uuid4().hex[:6]
    a = await sync_to_async(_register)(live_server_url, f"proto_a_{tag}")
    b = await sync_to_async(_register)(live_server_url, f"proto_b_{tag}")
    url = live_server_url.replace("http://", "ws://") + "/ws/"
    ca = ChatClient(token=a["access"], servers=[url], name="a")
    cb = ChatClient(token=b["access"], servers=[url], name="b")
    try:
        await ca.open()
        await cb.open()
        request = await sync_to_async(_post)(live_server_url, "/contact-requests", a["access"], {"to": b["user"]["id"]})
        await cb.wait_event(lambda f: f["type"] == "contact.request")
        await sync_to_async(_post)(live_server_url, f"/contact-requests/{request['id']}/accept", b["access"])
        added = await ca.wait_event(lambda f: f["type"] == "contact.added")
        await cb.wait_event(lambda f: f["type"] == "contact.added")
        conversation = added["conversation"]

        sent = [await ca.send_message(conversation, f"hello {i}") for i in range(3)]
        await ca.send({"type": "typing", "conversation": conversation})
        await cb.wait_event(lambda f: f["type"] == "typing")
        for _ in range(100):
            if not ca.outbox and len(cb.messages) == 3:
                break
            await asyncio.sleep(0.05)
        assert not ca.outbox and {m["client_msg_id"] for m in cb.messages.values()} == set(sent)
        last = max(m["seq"] for m in cb.messages.values())
        await cb.send({"type": "read", "conversation": conversation, "seq": last})
        await ca.wait_event(lambda f: f["type"] == "read" and f["seq"] == last)
        await cb.wait_event(lambda f: f["type"] == "conversation.updated")
        assert ca.mismatches == [] and cb.mismatches == []
    finally:
        await ca.close()
        await cb.close()


def test_layer_messages_have_a_handler_and_are_not_frames():
    from channels.consumer import get_handler_name

    from chatsite.gateway.consumer import Connection

    for message_type in LAYER_MESSAGES:
        assert callable(getattr(Connection, get_handler_name({"type": message_type}), None)), message_type
    assert not LAYER_MESSAGES & SERVER_FRAME_TYPES
