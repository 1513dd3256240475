"""The server as an attacker meets it, over real sockets to real server
processes: forged proxy headers, oversized request heads, one request that
tries to stall everyone, secrets in logs, sockets that never read."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid

import httpx
import pytest
import websockets

from conftest import serving

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-password"


def register(base: str, username: str, **headers: str) -> dict:
    r = httpx.post(f"{base}/api/v1/auth/register", json={"username": username, "password": PASSWORD}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def session_ips(base: str, access: str) -> list[str]:
    r = httpx.get(f"{base}/api/v1/me/sessions", headers={"Authorization": f"Bearer {access}"})
    assert r.status_code == 200, r.text
    return [s["ip"] for s in r.json()["results"]]


def ws_url(base: str, token: str | None = None) -> str:
    return base.replace("http://", "ws://") + "/ws/" + (f"?token={token}" if token is not None else "")


FORGED = {"X-Forwarded-For": "203.0.113.77", "X-Real-IP": "203.0.113.78", "Forwarded": "for=203.0.113.79"}


@pytest.fixture(scope="module", params=["uvicorn", "daphne"])
def strict_server(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """Each supported server with a tight per-IP login limit and no trusted proxy."""
    env = {"LIMIT_LOGIN_FAILURES_PER_IP": "3", "LIMIT_LOGIN_FAILURES_PER_ACCOUNT": "100", "LOG_LEVEL": "INFO"}
    with serving(request.param, django_db_blocker, tmp_path_factory.mktemp(request.param), env=env) as served:
        yield served


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(strict_server):
    """With no TRUSTED_PROXIES the socket's peer is the client: forged
    X-Forwarded-For / X-Real-IP / Forwarded change neither the session's
    recorded address nor whose per-IP limit a failure counts against."""
    base = strict_server.url
    account = register(base, f"fwd{uuid.uuid4().hex[:8]}", **FORGED)
    assert session_ips(base, account["access"]) == ["127.0.0.1"]
    answers = []
    for i in range(6):
        headers = {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"198.51.100.{i}"}
        r = httpx.post(
            f"{base}/api/v1/auth/login", json={"login": f"nobody{i}", "password": "x-wrong-x"}, headers=headers
        )
        answers.append(r.status_code)
    assert answers == [401, 401, 401, 429, 429, 429]
    log = strict_server.log_path.read_text()
    assert "127.0.0.1 POST /api/v1/auth/login 429" in log, log[-2000:]
    assert "203.0.113" not in log and "198.51.100" not in log


@pytest.fixture(scope="module")
def behind_proxy(django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn behind a proxy on loopback (TRUSTED_PROXIES=127.0.0.1)."""
    env = {"TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8", "LOG_LEVEL": "INFO"}
    with serving("uvicorn", django_db_blocker, tmp_path_factory.mktemp("proxied"), env=env) as served:
        yield served


def test_a_trusted_proxy_names_the_client_and_the_scheme(behind_proxy):
    base = behind_proxy.url
    # The proxy appended the client's address after one the client wrote itself.
    account = register(base, f"prx{uuid.uuid4().hex[:8]}", **{"X-Forwarded-For": "6.6.6.6, 203.0.113.77"})
    assert session_ips(base, account["access"]) == ["203.0.113.77"]
    # Over plain http: no HSTS, no Secure cookie.
    plain = httpx.get(f"{base}/login")
    assert plain.status_code == 200
    assert "strict-transport-security" not in plain.headers
    assert plain.cookies and all("secure" not in c.lower() for c in plain.headers.get_list("set-cookie"))
    # The proxy terminated TLS: HSTS, and every cookie is Secure, HttpOnly where it should be, SameSite.
    tls = httpx.get(f"{base}/login", headers={"X-Forwarded-Proto": "https"})
    assert tls.status_code == 200
    assert tls.headers["strict-transport-security"].startswith("max-age=31536000")
    cookies = tls.headers.get_list("set-cookie")
    assert cookies and all("; secure" in c.lower() and "samesite=lax" in c.lower() for c in cookies)


def test_the_access_log_names_the_resolved_client(behind_proxy):
    httpx.get(f"{behind_proxy.url}/healthz?token=abc", headers={"X-Forwarded-For": "203.0.113.90"})
    deadline = time.monotonic() + 5
    while "203.0.113.90 GET /healthz 200" not in behind_proxy.log_path.read_text():
        assert time.monotonic() < deadline, behind_proxy.log_path.read_text()[-2000:]
        time.sleep(0.05)
    assert "token=abc" not in behind_proxy.log_path.read_text()


# --------------------------------------------------------------------------- request heads


async def _handshake(url: str, **kwargs) -> str:
    try:
        async with websockets.connect(url, open_timeout=3, **kwargs) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 3)
            except websockets.ConnectionClosed as closed:
                return f"close {closed.rcvd.code if closed.rcvd else None}"
            return "open"
    except websockets.InvalidStatus as refused:
        return f"http {refused.response.status_code}"
    except (websockets.InvalidMessage, ConnectionError, OSError) as dropped:
        return f"dropped {type(dropped).__name__}"


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_long_handshakes_are_answered_at_once(server, django_db_blocker, tmp_path):
    """A token of 1 KB to 100 KB, in the query or in the subprotocol header:
    4401 while it fits the caps, a clear HTTP error beyond them (uvicorn:
    414 / 431), and within a second, never a hang."""
    with serving(server, django_db_blocker, tmp_path) as served:
        results = {}
        for size in (1_000, 4_000, 7_900, 8_100, 10_000, 32_000, 100_000):
            for where in ("query", "subprotocol"):
                started = time.monotonic()
                if where == "query":
                    outcome = asyncio.run(_handshake(ws_url(served.url, "a" * size)))
                else:
                    outcome = asyncio.run(_handshake(ws_url(served.url), subprotocols=["bearer", "a" * size]))
                results[(size, where)] = outcome
                assert time.monotonic() - started < 1.5, (size, where, outcome)
        if server == "uvicorn":
            assert results == {
                **{(n, w): "close 4401" for n in (1_000, 4_000, 7_900) for w in ("query", "subprotocol")},
                **{(n, "query"): "http 414" for n in (8_100, 10_000, 32_000, 100_000)},
                **{(n, "subprotocol"): "http 431" for n in (8_100, 10_000, 32_000, 100_000)},
            }
        else:
            # Twisted refuses heads over 16 KiB by dropping the connection.
            assert all(results[(n, w)] == "close 4401" for n in (1_000, 4_000, 7_900) for w in ("query", "subprotocol"))
            assert all(r == "close 4401" or r.startswith("dropped") for r in results.values()), results
        # HTTP requests with the same heads.
        long_url = httpx.get(f"{served.url}/healthz?pad={'a' * 9_000}")
        long_header = httpx.get(f"{served.url}/healthz", headers={"X-Pad": "a" * 9_000})
        many = httpx.get(f"{served.url}/healthz", headers={f"X-H{i}": "v" for i in range(120)})
        if server == "uvicorn":
            assert (long_url.status_code, long_header.status_code, many.status_code) == (414, 431, 431)
            assert long_url.json()["error"]["code"] == "too_large"
        assert httpx.get(f"{served.url}/healthz").status_code == 200  # and it still serves


# --------------------------------------------------------------------------- one request, everyone else


def test_an_abusive_request_does_not_stall_other_users(django_db_blocker, tmp_path):
    """While one user floods the server with group creations naming 50,000
    unknown ids and real (bcrypt) logins, another user's requests stay fast:
    the id lists are refused before any work, and a request's synchronous
    part runs on one of HTTP_THREADS lanes, not on the one thread everything
    (the WebSocket gateway too) used to share."""
    env = {"FAST_PASSWORD_HASHER": "0", "LIMIT_LOGIN_FAILURES_PER_IP": "100000", "HTTP_THREADS": "4"}
    with serving("uvicorn", django_db_blocker, tmp_path, env=env) as served:
        base = served.url
        abuser = register(base, f"abuser{uuid.uuid4().hex[:6]}")
        victim = register(base, f"victim{uuid.uuid4().hex[:6]}")
        ids = [str(uuid.uuid4()) for _ in range(50_000)]
        stop = threading.Event()
        answers: list[tuple[int, float]] = []

        def flood(kind: str) -> None:
            with httpx.Client(timeout=60) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    if kind == "ids":
                        r = client.post(
                            f"{base}/api/v1/groups",
                            json={"name": "x", "members": ids},
                            headers={"Authorization": f"Bearer {abuser['access']}"},
                        )
                    else:
                        r = client.post(
                            f"{base}/api/v1/auth/login",
                            json={"login": abuser["user"]["username"], "password": PASSWORD},
                        )
                    answers.append((r.status_code, time.monotonic() - started))

        floods = [threading.Thread(target=flood, args=(k,)) for k in ("ids", "ids", "ids", "login", "login", "login")]
        for t in floods:
            t.start()
        try:
            time.sleep(0.5)
            took = []
            with httpx.Client(timeout=60) as client:
                for _ in range(20):
                    started = time.monotonic()
                    r = client.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {victim['access']}"})
                    took.append(time.monotonic() - started)
                    assert r.status_code == 200
                    time.sleep(0.05)
        finally:
            stop.set()
            for t in floods:
                t.join()
        assert max(took) < 1.5, took
        assert {status for status, _ in answers} == {400, 200}
        assert max(d for status, d in answers if status == 400) < 3, "50,000 ids must be refused at once"


# --------------------------------------------------------------------------- logs


def test_the_server_log_never_shows_tokens_codes_or_passwords(django_db_blocker, tmp_path):
    """A whole session at the most verbose level: register, SMS login,
    password login, refresh, sockets with the token in the query and in the
    subprotocol, a wrong login, a password change, logout. Nothing secret is
    in the log; a foreign Host header and invalid UTF-8 are one line each."""
    from accounts.phones import normalize_phone

    env = {"LOG_LEVEL": "DEBUG"}
    with serving("uvicorn", django_db_blocker, tmp_path, env=env) as served:
        base = served.url
        name = f"logs{uuid.uuid4().hex[:6]}"
        secrets = {PASSWORD, "n3w-secret-password"}
        account = register(base, name)
        secrets |= {account["access"], account["refresh"]}
        phone = normalize_phone("+8613700137000")
        assert (
            httpx.post(f"{base}/api/v1/auth/sms/send", json={"phone": phone, "purpose": "register"}).status_code == 202
        )
        code = _last_sms_code(tmp_path / "sms.jsonl", phone)
        secrets.add(code)
        r = httpx.post(
            f"{base}/api/v1/auth/register",
            json={"username": name + "p", "password": PASSWORD, "phone": phone, "sms_code": code},
        )
        assert r.status_code == 201, r.text
        secrets |= {r.json()["access"], r.json()["refresh"]}
        r = httpx.post(f"{base}/api/v1/auth/login", json={"login": name, "password": PASSWORD})
        secrets |= {r.json()["access"], r.json()["refresh"]}
        refreshed = httpx.post(f"{base}/api/v1/auth/refresh", json={"refresh": r.json()["refresh"]}).json()
        secrets |= {refreshed["access"], refreshed["refresh"]}
        httpx.post(f"{base}/api/v1/auth/login", json={"login": name, "password": "wrong-password-1"})
        secrets.add("wrong-password-1")

        async def sockets() -> None:
            async with websockets.connect(ws_url(base, refreshed["access"])) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                await ws.send(json.dumps({"type": "ping"}))
                await ws.recv()
            async with websockets.connect(ws_url(base), subprotocols=["bearer", refreshed["access"]]) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
            async with websockets.connect(ws_url(base, "not-a-token-secret")) as ws:
                with pytest.raises(websockets.ConnectionClosed):
                    await ws.recv()

        asyncio.run(sockets())
        secrets.add("not-a-token-secret")
        # A client mistake: invalid UTF-8 in a frame (on a live session: the
        # password change below ends every other one).
        _send_invalid_utf8(served.port, refreshed["access"])
        auth = {"Authorization": f"Bearer {refreshed['access']}"}
        r = httpx.post(
            f"{base}/api/v1/me/password",
            json={"old_password": PASSWORD, "new_password": "n3w-secret-password"},
            headers=auth,
        )
        assert r.status_code == 204, r.text
        httpx.post(f"{base}/api/v1/auth/logout", json={"refresh": refreshed["refresh"]})
        # Another client mistake: a foreign Host header.
        assert httpx.get(f"{base}/healthz", headers={"Host": "evil.example"}).status_code == 400
        time.sleep(0.5)
        log = served.log_path.read_text()
        for secret in secrets:
            assert secret not in log, f"a secret reached the log: {secret[:12]}…"
        assert "Traceback" not in log, log[-3000:]
        assert len([line for line in log.splitlines() if "evil.example" in line]) == 1
        assert len([line for line in log.splitlines() if "Invalid UTF-8" in line]) <= 1
        # The sockets were logged (the two above and the invalid UTF-8 one),
        # without their tokens, and so was the refused one.
        assert log.count(" ws connect user=") == 3 and "ws refused 127.0.0.1: not authenticated (4401)" in log
        assert "DEBUG uvicorn.error [-] < GET" not in log  # the server's own handshake lines are not logged


def _last_sms_code(path, phone: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        if path.exists():
            for line in reversed(path.read_text().splitlines()):
                sms = json.loads(line)
                if sms["phone"] == phone:
                    return re.search(r"\b(\d{6})\b", sms["text"]).group(1)
        assert time.monotonic() < deadline, "no SMS"
        time.sleep(0.05)


def _send_invalid_utf8(port: int, token: str) -> None:
    """A text frame whose payload is not UTF-8 (the client library refuses to send one)."""
    import base64
    import os

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws/?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        assert b" 101 " in head.split(b"\r\n", 1)[0]
        # The server accepts before it authenticates: wait for `hello`, so the
        # frame below meets a socket that is signed in, not one being refused.
        while b'"hello"' not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
        payload = b"\xff\xfe{}"
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        sock.settimeout(3)
        data = b""
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        assert b"\x88\x02\x03\xef" in data  # close 1007


# --------------------------------------------------------------------------- a socket that never reads


def _raw_websocket(port: int, token: str, *, rcvbuf: int = 4096) -> socket.socket:
    """A WebSocket handshake by hand on a socket with a small receive buffer,
    which then reads nothing."""
    import base64
    import os

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return sock


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_a_socket_that_never_reads_is_closed(server, message_worker, django_db_blocker, tmp_path):
    """uvicorn: its queue overflows (REALTIME_SOCKET_QUEUE frames), the
    gateway closes it with 1012 and, as it reads nothing, not even the close
    frame, the server drops the connection a few seconds later. daphne: its
    unsent bytes pass 8 MiB and the connection is dropped. Either way nothing
    is buffered for it without bound, and its sender is not slowed."""
    from contacts.services import do_connect
    from conversations.models import Conversation

    env = {
        "REALTIME_SOCKET_QUEUE": "60",
        "MAX_TEXT": "60000",
        "LIMIT_MESSAGES_PER_S": "1000",
        "LIMIT_MESSAGES_BURST": "1000",
        "LIMIT_FRAMES_PER_S": "1000",
        "LIMIT_FRAMES_BURST": "1000",
        "LOG_LEVEL": "INFO",
    }
    with serving(server, django_db_blocker, tmp_path, env=env) as served:
        sender = register(served.url, f"loud{uuid.uuid4().hex[:6]}")
        reader = register(served.url, f"deaf{uuid.uuid4().hex[:6]}")
        from accounts.models import User

        contact = do_connect(
            user=User.objects.get(uuid=sender["user"]["id"]), other=User.objects.get(uuid=reader["user"]["id"])
        )
        conversation = str(Conversation.objects.get(pk=contact.conversation_id).uuid)
        deaf = _raw_websocket(served.port, reader["access"])

        async def flood() -> int:
            stored = 0
            async with websockets.connect(ws_url(served.url, sender["access"])) as ws:
                await ws.recv()  # hello
                for batch in range(25):
                    for n in range(10):
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "message.send",
                                    "client_msg_id": str(uuid.uuid4()),
                                    "conversation": conversation,
                                    "kind": "text",
                                    "content": f"{batch}.{n} " + "x" * 59_000,
                                }
                            )
                        )
                    while stored < (batch + 1) * 10:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                        stored += frame.get("type") == "message.ack" and frame.get("status") == "stored"
            return stored

        # 250 frames of 59 KB: more than the kernel's buffers and daphne's cap hold.
        assert asyncio.run(flood()) == 250  # the sender was served in full
        deadline = time.monotonic() + 20
        while "websocket dropped: it read nothing" not in served.log_path.read_text():
            assert time.monotonic() < deadline, served.log_path.read_text()[-3000:]
            time.sleep(0.2)
        if server == "uvicorn":
            assert "too slow: closing with 1012" in served.log_path.read_text()
        # The connection is gone: reading what the kernel holds ends in EOF or a reset.
        deaf.settimeout(5)
        try:
            while deaf.recv(65536):
                pass
        except ConnectionResetError:
            pass
        deaf.close()
