"""Root fixtures: users (alice, bob her contact, carol a stranger), API clients
and a WebSocket communicator factory, against whatever services the
environment configures (see scripts/test)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import types

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

REAL_KAFKA = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
REAL_REDIS = bool(os.environ.get("REDIS_URL"))
REAL_MYSQL = os.environ.get("DATABASE_URL", "").startswith(("mysql://", "mariadb://"))

PASSWORD = "correct-horse-42"


def pytest_configure(config):
    _scan_static_files_once()


def _scan_static_files_once() -> None:
    """The Django test client builds the middleware chain anew for every client
    a test makes, and WhiteNoise's middleware reads the whole of STATIC_ROOT
    each time: about 40 ms for its couple of hundred files, paid thousands of
    times a run (a server builds it once). The collected files do not change
    during a run (scripts/test collects them first), so each directory is
    read once per process, and every later middleware gets the same entries
    for the same directory, prefix and headers."""
    from whitenoise.base import WhiteNoise

    read = WhiteNoise.update_files_dictionary
    kept: dict[tuple, dict] = {}

    def update_files_dictionary(self, root, prefix):
        key = (type(self), root, prefix, self.max_age, self.charset, self.allow_all_origins, self.index_file)
        if key not in kept:
            before = dict(self.files)
            read(self, root, prefix)
            kept[key] = {url: found for url, found in self.files.items() if before.get(url) is not found}
        self.files.update(kept[key])

    WhiteNoise.update_files_dictionary = update_files_dictionary


def pytest_collection_modifyitems(config, items):
    _longest_files_first(items)
    for item in items:
        if "kafka" in item.keywords and not REAL_KAFKA:
            item.add_marker(pytest.mark.skip(reason="needs KAFKA_BOOTSTRAP_SERVERS (the real-services run)"))
        if "redis" in item.keywords and not REAL_REDIS:
            item.add_marker(pytest.mark.skip(reason="needs REDIS_URL (the real-services run)"))
        if "real_services" in item.keywords and not (REAL_KAFKA and REAL_REDIS and REAL_MYSQL):
            item.add_marker(pytest.mark.skip(reason="needs MariaDB, Redis and Kafka (the real-services run)"))


def _longest_files_first(items) -> None:
    """Files whose tests are marked slow or browser first, then the rest by
    their number of tests; each file's own order kept. `make test` hands whole
    files to its processes in this order (`--dist loadfile
    --no-loadscope-reorder`), so a two-minute file does not start last while
    the other processes have nothing left to do."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(name: str) -> tuple[bool, int]:
        long = any(i.get_closest_marker("slow") or i.get_closest_marker("browser") for i in files[name])
        return (not long, -len(files[name]))

    items[:] = [item for name in sorted(files, key=weight) for item in files[name]]


@pytest.fixture(autouse=True)
def _isolation(settings):
    """Fast hashing, in-memory SMS, and no rate-limit state carried between tests."""
    from accounts.sms import MemoryBackend
    from chatsite import kv

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.SMS_BACKEND = "memory"
    MemoryBackend.clear()
    yield
    MemoryBackend.clear()
    # A request the test client handled in this thread may have left its
    # language active (the server runs each request in a context of its own).
    from django.utils import translation

    translation.deactivate()
    store = kv.store()
    if isinstance(store, kv.MemoryStore):
        store.clear()
    else:
        from chatsite import redis as rds

        store.forget_held()
        client = rds.client()
        keys = list(client.scan_iter(match=rds.key("*"), count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])


# --------------------------------------------------------------------------- users


def make_user(username: str, *, nickname: str = "", phone: str | None = None, **extra):
    from accounts.models import User

    return User.objects.create_user(username, PASSWORD, nickname=nickname, phone=phone, **extra)


@pytest.fixture
def user_factory(db):
    counter = {"n": 0}

    def create(username: str | None = None, **kwargs):
        counter["n"] += 1
        return make_user(username or f"user{counter['n']}", **kwargs)

    return create


@pytest.fixture
def alice(db):
    return make_user("alice", nickname="Alice", phone="+8613800138000")


@pytest.fixture
def bob(db, alice):
    from contacts.services import do_connect

    user = make_user("bob", nickname="Bob", phone="+8613800138001")
    do_connect(user=alice, other=user)
    return user


@pytest.fixture
def direct(alice, bob) -> str:
    """The id of alice and bob's direct conversation."""
    from contacts.models import Contact

    return str(Contact.objects.get(owner=alice, other=bob).conversation.uuid)


@pytest.fixture
def carol(db):
    return make_user("carol", nickname="Carol")


@pytest.fixture
def admin_user(db):
    from accounts.models import User

    return User.objects.create_superuser("root_admin", PASSWORD, nickname="Admin")


# --------------------------------------------------------------------------- tokens and API clients


def login_tokens(user) -> dict:
    """A real login session for `user` (as a password login would make)."""
    from accounts.actions.sessions import Client, start_session

    result = start_session(user=user, client=Client(ip="127.0.0.1", device="pytest"))
    return {"access": result.tokens.access, "refresh": result.tokens.refresh, "session": result.session}


@pytest.fixture
def api_for(db):
    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {login_tokens(user)['access']}")
        client.user = user
        return client

    return make


@pytest.fixture
def api(api_for, alice) -> APIClient:
    """Alice's authenticated API client."""
    return api_for(alice)


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


# --------------------------------------------------------------------------- events services send


@pytest.fixture
def events(monkeypatch, django_capture_on_commit_callbacks):
    """A Recorder (chatsite.testing) of every frame services send (still delivered)."""
    from chatsite.testing import Recorder, record_deliveries

    recorder = Recorder(django_capture_on_commit_callbacks)
    record_deliveries(monkeypatch, recorder)
    return recorder


@pytest.fixture
def closes(events):
    """The socket-close orders services send: `.items` is [(user ids, code, session id)]."""
    return types.SimpleNamespace(items=events.closes)


# --------------------------------------------------------------------------- WebSockets


class WS:
    """A connected test socket: send frames, expect frames, assert silence.

    Every frame it receives must match docs/protocol/asyncapi.yaml (a test
    fails at the `recv` of one that does not). A frame it sends as a dict is
    checked too, but a test may send malformed frames on purpose: one the
    document refuses must be refused by the server as well, with an `error`
    of a code in SHAPE_REFUSALS echoing its `ref`, seen by the end of the
    test; a frame the document refuses and the server took is a failure.
    Frames sent as text are the test's own bytes and are not checked."""

    SHAPE_REFUSALS = ("invalid", "bad_frame", "too_large")

    def __init__(self, communicator: WebsocketCommunicator, hello: dict, user) -> None:
        self.comm = communicator
        self.hello = hello
        self.user = user
        # Client frames the document refuses, awaiting the server's refusal: (ref, frame, problems).
        self.unrefused: list[tuple[str | None, dict, list[str]]] = []

    async def send(self, frame: dict | str) -> None:
        if isinstance(frame, str):
            await self.comm.send_to(text_data=frame)
            return
        from tests.protocol import frames

        found = frames.problems(frames.CLIENT, frame)
        if found:
            self.unrefused.append((_answer_ref(frame), frame, found))
        await self.comm.send_json_to(frame)

    async def recv(self, timeout: float = 3.0) -> dict:
        frame = await self.comm.receive_json_from(timeout=timeout)
        self._check(frame)
        return frame

    def _check(self, frame: dict) -> None:
        from tests.protocol import frames

        frames.check_server_frame(frame)
        if frame.get("type") == "error" and frame.get("code") in self.SHAPE_REFUSALS:
            for i, (ref, _, _) in enumerate(self.unrefused):
                if ref == frame.get("ref"):
                    del self.unrefused[i]
                    break

    async def unrefused_frames(self) -> list[str]:
        """The frames the document refuses that the server took (after reading
        what is left on the socket), one line each."""
        if not self.unrefused:
            return []
        with contextlib.suppress(Exception, asyncio.CancelledError):
            while self.unrefused and not await self.comm.receive_nothing(timeout=0.5, interval=0.01):
                message = await self.comm.receive_output(timeout=1)
                if message["type"] == "websocket.send" and message.get("text"):
                    self._check(json.loads(message["text"]))
        return [f"{frame!r}: {'; '.join(found)}" for _, frame, found in self.unrefused]

    async def expect(self, frame_type: str, timeout: float = 3.0, *, skip: tuple[str, ...] = ("presence",)) -> dict:
        """The next frame, which must be of `frame_type` (frames in `skip` are passed over)."""
        while True:
            frame = await self.recv(timeout)
            if frame.get("type") in skip and frame_type not in skip:
                continue
            assert frame.get("type") == frame_type, f"expected {frame_type}, got {frame}"
            return frame

    async def silent(self, timeout: float = 0.3, *, skip: tuple[str, ...] = ("presence",)) -> None:
        """Nothing (but frames in `skip`) arrives within `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            if await self.comm.receive_nothing(timeout=remaining, interval=0.01):
                return
            frame = await self.recv()
            assert frame.get("type") in skip, f"expected silence, got {frame}"

    async def closed(self, timeout: float = 3.0) -> int:
        """Wait for the server to close the socket; returns the close code."""
        while True:
            message = await self.comm.receive_output(timeout)
            if message["type"] == "websocket.close":
                return message.get("code")
            if message["type"] == "websocket.send" and message.get("text"):
                self._check(json.loads(message["text"]))

    async def close(self) -> None:
        await self.comm.disconnect()


def _answer_ref(frame: dict) -> str | None:
    """The `ref` the server echoes in the answers to `frame` (see docs/protocol/websocket.md)."""
    from chatsite.gateway import registry

    ref = frame.get("ref")
    if ref is not None:
        return ref if isinstance(ref, str) and len(ref) <= 64 else None
    spec = registry.get(frame["type"]) if isinstance(frame.get("type"), str) else None
    default = frame.get(spec.ref_field) if spec is not None and spec.ref_field else None
    return default if isinstance(default, str) and len(default) <= 64 else None


def ws_headers(origin: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


@pytest.fixture
async def ws_connect(transactional_db):
    """`await ws_connect(user)` → a WS that got its `hello` (token in the query string)."""
    from chatsite.asgi import application
    from tests.protocol.frames import check_server_frame

    opened: list[WebsocketCommunicator] = []
    sockets: list[WS] = []

    async def connect(user, *, token: str | None = None, origin: str | None = None, headers=()) -> WS:
        if token is None:
            token = (await sync_to_async(login_tokens)(user))["access"]
        comm = WebsocketCommunicator(application, f"/ws/?token={token}", headers=[*ws_headers(origin), *headers])
        opened.append(comm)
        connected, _ = await comm.connect(timeout=5)
        assert connected, "the handshake was refused"
        hello = await comm.receive_json_from(timeout=5)
        assert hello["type"] == "hello", hello
        check_server_frame(hello)
        ws = WS(comm, hello, user)
        sockets.append(ws)
        return ws

    yield connect
    unrefused = [line for ws in sockets for line in await ws.unrefused_frames()]
    for comm in opened:
        try:
            await comm.disconnect(timeout=2)
        except Exception:
            pass
    from chatsite.testing import shutdown_loop_tasks

    await shutdown_loop_tasks()
    if unrefused:
        pytest.fail(
            "frames that do not match docs/protocol/asyncapi.yaml were not refused by the server:\n  "
            + "\n  ".join(unrefused)
        )


# --------------------------------------------------------------------------- the message worker


@pytest.fixture(scope="session")
def message_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """With Kafka: one real `manage.py run_message_worker` process for the session,
    on the test database. In the embedded run the in-process bus stores messages
    itself and this is None."""
    if not REAL_KAFKA:
        yield None
        return
    import subprocess
    import sys
    import time
    from pathlib import Path

    with django_db_blocker.unblock():
        from django.db import connection

        db = connection.settings_dict
    url = f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = dict(os.environ, DATABASE_URL=url, LOG_LEVEL="INFO", NODE_ID="pytest-worker")
    env.pop("DATABASE_TEST_NAME", None)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_message_worker"],
        cwd=Path(__file__).parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while "assigned" not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the message worker did not start:\n{log_path.read_text()}")
        time.sleep(0.1)
    proc.log_path = log_path
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def search_indexer(message_worker, django_db_blocker, tmp_path_factory):
    """With Kafka: one real `manage.py run_indexer` process from first use to
    the end of the session (what a served product runs beside its workers);
    embedded, the in-process bus indexes and this is None."""
    if not REAL_KAFKA:
        yield None
        return
    from chatsite.testing import GroupProcess

    with django_db_blocker.unblock():
        proc = GroupProcess("run_indexer", tmp_path_factory.mktemp("indexer") / "indexer.log")
    yield proc
    proc.stop()


# --------------------------------------------------------------------------- a real server


@dataclasses.dataclass
class Served:
    url: str  # http://127.0.0.1:<port>
    port: int
    proc: object  # subprocess.Popen
    log_path: object  # pathlib.Path


@contextlib.contextmanager
def serving(server: str, django_db_blocker, directory, *, env: dict | None = None, name: str = "server"):
    """A real `server` process (uvicorn or daphne) on a free port serving this
    session's test database, with `env` on top of ours; yields a Served. SMS
    codes go to <directory>/sms.jsonl, the log to <directory>/<name>.log."""
    import socket
    import subprocess
    import time
    from pathlib import Path

    from chatsite.serve import command

    with django_db_blocker.unblock():
        from django.db import connection

        db = connection.settings_dict
    if db["ENGINE"].endswith("mysql"):
        url = f"mysql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    else:
        url = f"sqlite:///{Path(db['NAME']).resolve()}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = Path(directory) / f"{name}.log"
    environ = dict(os.environ, DATABASE_URL=url, NODE_ID=f"pytest-{server}-{name}", SMS_BACKEND="file")
    environ["SMS_FILE_PATH"] = str(log_path.parent / "sms.jsonl")
    environ.pop("DATABASE_TEST_NAME", None)
    environ.update({k: str(v) for k, v in (env or {}).items()})
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        command(server, "127.0.0.1", port), cwd=Path(__file__).parent, env=environ, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError(f"the server did not start:\n{log_path.read_text()}") from None
                time.sleep(0.1)
        yield Served(url=f"http://127.0.0.1:{port}", port=port, proc=proc, log_path=log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real server process (the production default, uvicorn, unless
    TEST_ASGI_SERVER=daphne) on a free port, serving this session's test
    database. Tests that use it must commit their data (django_db(transaction=True)).

    One per module, stopped when the module ends: in the embedded run servers
    share the SQLite file but not the in-memory layer, and a server left
    running ends other servers' due calls (its calls sweep reads the database)
    and tells only its own sockets (the WS fuzz test's neighbours missed
    `call.ended` and the call's message this way)."""
    with module_server(django_db_blocker, tmp_path_factory) as url:
        yield url


@contextlib.contextmanager
def module_server(django_db_blocker, tmp_path_factory, *, env: dict | None = None):
    """A module's server (`live_server_url`), with `env` on top of ours; yields its URL."""
    with serving(
        os.environ.get("TEST_ASGI_SERVER", "uvicorn"),
        django_db_blocker,
        tmp_path_factory.mktemp("liveserver"),
        env=env,
    ) as served:
        yield served.url
