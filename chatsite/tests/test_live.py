"""Against real server processes (uvicorn, daphne where they differ) with a real WebSocket client (`websockets`)."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.django_db(transaction=True)


def ws_url(base: str, token: str = "") -> str:
    return base.replace("http://", "ws://") + "/ws/" + (f"?token={token}" if token else "")


def register(base: str, username: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/register", json={"username": username, "password": "a-long-password"})
    assert r.status_code == 201, r.text
    return r.json()


async def test_register_login_and_hello_over_the_network(live_server_url):
    account = await sync_to_async(register)(live_server_url, "livealice")
    r = await sync_to_async(httpx.post)(
        f"{live_server_url}/api/v1/auth/login", json={"login": "livealice", "password": "a-long-password"}
    )
    assert r.status_code == 200
    async with websockets.connect(ws_url(live_server_url, r.json()["access"])) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["user"]["id"] == account["user"]["id"]
        await ws.send(json.dumps({"type": "ping", "ref": "p"}))
        assert json.loads(await ws.recv()) == {"type": "pong", "ref": "p"}
        await ws.send("garbage")
        assert json.loads(await ws.recv())["code"] == "bad_frame"


async def test_subprotocol_token(live_server_url):
    account = await sync_to_async(register)(live_server_url, "livebob")
    async with websockets.connect(ws_url(live_server_url), subprotocols=["bearer", account["access"]]) as ws:
        assert ws.subprotocol == "bearer"
        assert json.loads(await ws.recv())["type"] == "hello"


async def test_foreign_origin_gets_http_403(each_server):
    account = await sync_to_async(register)(each_server, f"carol{uuid.uuid4().hex[:6]}")
    with pytest.raises(InvalidStatus) as caught:
        async with websockets.connect(ws_url(each_server, account["access"]), origin="https://evil.example"):
            pass
    assert caught.value.response.status_code == 403
    # Its own origin is fine.
    async with websockets.connect(ws_url(each_server, account["access"]), origin=each_server) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"


def test_oversized_bodies_are_refused_before_they_are_read(each_server, settings):
    """The body cap holds under both servers (chatsite.bodyguard; chatsite/daphne_body.py under daphne)."""
    import socket

    from chatsite.bodyguard import body_cap

    host, port = each_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST /api/v1/files HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {body_cap() + 1}\r\n\r\n".encode()
        )
        answer = b""
        while b"too_large" not in answer:  # the head and the body may come in separate segments
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        answer = answer.decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert '"too_large"' in answer


async def test_bad_token_closes_4401_after_the_handshake(live_server_url):
    async with websockets.connect(ws_url(live_server_url, "nope")) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == 4401


async def test_two_real_clients_chat(live_server_url, message_worker):
    from contacts.services import do_connect
    from conversations.models import Conversation

    a = await sync_to_async(register)(live_server_url, "livedave")
    b = await sync_to_async(register)(live_server_url, "liveerin")

    def befriend():
        from accounts.models import User

        contact = do_connect(user=User.objects.get(username="livedave"), other=User.objects.get(username="liveerin"))
        return str(Conversation.objects.get(pk=contact.conversation_id).uuid)

    conversation = await sync_to_async(befriend)()
    async with (
        websockets.connect(ws_url(live_server_url, a["access"])) as wa,
        websockets.connect(ws_url(live_server_url, b["access"])) as wb,
    ):
        await wa.recv()
        await wb.recv()
        cmid = str(uuid.uuid4())
        await wa.send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": cmid,
                    "conversation": conversation,
                    "kind": "text",
                    "content": "over the wire",
                }
            )
        )
        acks = [json.loads(await wa.recv()) for _ in range(2)]
        assert [x["status"] for x in acks] == ["accepted", "stored"]
        new = json.loads(await wb.recv())
        while new["type"] != "message.new":
            new = json.loads(await wb.recv())
        assert new["message"] == acks[1]["message"]


def test_health_endpoints(live_server_url):
    assert httpx.get(f"{live_server_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live_server_url}/readyz")
    assert ready.status_code == 200
    checks = ready.json()
    # The services answer; search names the backend that serves (not a check).
    assert checks.pop("search") in ("mroonga", "fts5", "like")
    assert set(checks) <= {"database", "cache", "broker"} and set(checks.values()) == {"ok"}
    schema = httpx.get(f"{live_server_url}/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/auth/register" in schema.content
    docs = httpx.get(f"{live_server_url}/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def each_server(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """Both supported servers (each test using it runs against both)."""
    from conftest import serving

    with serving(request.param, django_db_blocker, tmp_path_factory.mktemp(request.param)) as served:
        yield served.url


@pytest.mark.redis
@pytest.mark.parametrize("code", [1012, 1001, 4403])
async def test_both_servers_close_with_the_codes_the_protocol_uses(each_server, code):
    """autobahn (under daphne) refuses 1001 and 1012 from applications;
    chatsite.daphne_compat lets them through (a socket that cannot be closed
    would be left deaf). The channel layer carries the close from this process."""
    from accounts.models import User
    from chatsite import realtime

    account = await sync_to_async(register)(each_server, f"closer{code}{uuid.uuid4().hex[:6]}")
    user = await sync_to_async(User.objects.get)(uuid=account["user"]["id"])
    async with websockets.connect(ws_url(each_server, account["access"])) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await sync_to_async(realtime.deliver)([user.pk], realtime.close_envelope(code))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == code


async def test_sync_delivers_every_missed_message_in_order_on_both_servers(each_server, request):
    """A `sync` answer is many frames at once: under uvicorn they go out as
    one batch (chatsite.asgi_server), under daphne one by one. Either way the
    client reads each message as a frame of its own, in seq order, then
    `sync.done`."""
    from accounts.models import User
    from contacts.services import do_connect
    from messaging.tests.helpers import store_text_sync

    tag = uuid.uuid4().hex[:6]
    sender = await sync_to_async(register)(each_server, f"syncfrom{tag}")
    reader = await sync_to_async(register)(each_server, f"syncto{tag}")

    def seed() -> list[int]:
        one = User.objects.get(uuid=sender["user"]["id"])
        two = User.objects.get(uuid=reader["user"]["id"])
        conversation = do_connect(user=one, other=two).conversation
        return [
            store_text_sync(sender=one, conversation_uuid=str(conversation.uuid), text=f"missed {n} " + "é" * n).seq
            for n in range(30)
        ]

    def counters() -> tuple[float, float]:
        text = httpx.get(f"{each_server}/metrics").text
        return tuple(
            float(text.split(f"\n{name} ")[1].split()[0])
            for name in ("wsc_frames_out_total", "wsc_socket_writes_total")
        )

    seqs = await sync_to_async(seed)()
    frames_before, writes_before = await sync_to_async(counters)()
    async with websockets.connect(ws_url(each_server, reader["access"])) as ws:
        assert json.loads(await ws.recv())["type"] == "hello"
        await ws.send(json.dumps({"type": "sync", "cursors": {}, "ref": "s"}))
        got = []
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["type"] == "sync.done":
                break
            if frame["type"] == "message.new":
                got.append((frame["message"]["seq"], frame["message"]["content"]))
    assert frame == {"type": "sync.done", "more": False, "gone": [], "ref": "s"}
    assert got == [(seq, f"missed {n} " + "é" * n) for n, seq in enumerate(seqs)]
    frames_after, writes_after = await sync_to_async(counters)()
    frames, writes = frames_after - frames_before, writes_after - writes_before
    assert frames >= 32  # hello, 30 messages, sync.done
    if request.node.callspec.params["each_server"] == "daphne":
        assert writes == frames
    else:
        assert writes <= frames / 10, (frames, writes)  # the answer went out in a batch or two
