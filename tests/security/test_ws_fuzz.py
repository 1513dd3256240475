"""WebSocket fuzzing (docs/ws-robustness.md): random and mutated frames at one
socket of a real server process while two neighbours chat on theirs.

- Every answer the fuzzed socket gets is a frame docs/protocol/asyncapi.yaml
  describes. A frame the document refuses gets exactly one `error` of a shape
  code (`bad_frame`, `invalid`, `too_large`), a frame it accepts gets at most
  one `error` of a code the socket may send; either echoes the frame's `ref`
  by the rule of docs/protocol/websocket.md. The socket closes only where the
  protocol says so (1007 for invalid UTF-8, 1009 over the transport cap),
  and a new socket works at once.
- The neighbours get every message of their conversations exactly once, and
  nothing the fuzzer's garbage could cause: what reaches them from the fuzzer
  is what its valid frames do (a message, a read, a typing, a recall, a call).
- The server stays up, with no traceback in its log.
- Afterwards, every `client_msg_id` that got `accepted` is stored exactly
  once, nothing refused is stored, and every conversation's `seq` runs 1..n.

The run is reproducible: `WS_FUZZ_SEED=<n>` replays the frames of a run (the
seed is printed; ids learnt from the server's answers, such as message ids,
depend on timing). `WS_FUZZ_FRAMES` and `WS_FUZZ_SECONDS` bound the random
part. A second test floods one socket and checks `rate_limited` and 4429.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
import websockets
from asgiref.sync import sync_to_async

from conftest import login_tokens, serving
from tests.protocol import frames as document

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

SEED = int(os.environ.get("WS_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
RANDOM_FRAMES = int(os.environ.get("WS_FUZZ_FRAMES", "100000"))
SECONDS = float(os.environ.get("WS_FUZZ_SECONDS", "20"))

MAX_FRAME = 64 * 1024  # MAX_FRAME_BYTES: over it, `too_large`
TRANSPORT_CAP = 1024 * 1024  # chatsite.serve.WS_TRANSPORT_MAX_BYTES: over it, close 1009

# The codes an `error` frame may carry (docs/protocol/errors.md, "on the socket").
SOCKET_CODES = frozenset(
    "invalid bad_frame forbidden not_found conflict blocked not_contact not_member group_disabled too_large"
    " rate_limited unavailable busy call_state".split()
)
# A frame the document refuses is refused with one of these.
SHAPE_REFUSALS = frozenset({"invalid", "bad_frame", "too_large"})
# `unavailable` is documented, but it means the server failed: nothing here is down.
ALLOWED_CODES = SOCKET_CODES - {"unavailable"}

# Limits out of the way: the fuzz is about robustness, not throttling (the
# flood test below is about throttling). Calls ring for 2 s, so the calls the
# fuzzer starts end (as missed) before the oracle reads the database.
FUZZ_ENV = {
    "LOG_LEVEL": "INFO",
    "LIMIT_FRAMES_PER_S": "100000",
    "LIMIT_FRAMES_BURST": "100000",
    "LIMIT_MESSAGES_PER_S": "100000",
    "LIMIT_MESSAGES_BURST": "100000",
    "LIMIT_CALL_SIGNALS_PER_S": "100000",
    "LIMIT_CALL_SIGNALS_BURST": "100000",
    "LIMIT_CALL_INVITES_PER_MIN": "100000",
    "LIMIT_WS_CONNECTS_PER_USER": "1000",
    "CALL_RING_TIMEOUT_S": "2",
}

# Values a field may be flipped to: every JSON type, edges of every number
# range (2**53 + 1 is not a double, 2**64 not an int64: the server reads it
# as a float), texts that are ids in another form.
HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 3.0, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 1e308,
    "", " ", "x", "\u0000", "\u202e", "😀" * 3, [], {}, ["x"], {"a": 1}, [[[[[]]]]],
    "00000000-0000-0000-0000-000000000000", "{" + str(uuid.UUID(int=1)) + "}", uuid.UUID(int=2).hex,
]  # fmt: skip
# `type` values that name server internals: a client's `type` must only ever
# select a registered frame handler, never a layer or ASGI handler.
INTERNAL_TYPES = [
    "chat.event", "ws.close", "websocket.connect", "websocket.receive", "websocket.send", "websocket.disconnect",
    "websocket.close", "websocket.accept", "http.request", "lifespan.startup", "hello", "pong", "error",
    "message.ack", "message.new", "sync.done", "call.ringing", "call.incoming", "__init__", "__class__",
    "dispatch", "receive", "close", "send_frame", "on_envelope", "PING", " ping", "ping\u0000", "message.send ",
    "message_send", "",
]  # fmt: skip
GARBAGE_KEYS = ["__proto__", "constructor", "type ", "Type", "TYPE", "$ref", "", "\u0000", "😀", "user_id", "sender"]

SDP = "v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
CANDIDATE = "candidate:842163049 1 udp 1677729535 192.0.2.7 54400 typ srflx raddr 0.0.0.0 rport 0"

# Raw texts: not JSON, not strict JSON, not an object, no string `type`, keys written twice.
RAW_TEXTS = [
    "",
    " ",
    "{",
    "}",
    "null",
    "true",
    "1",
    "-0",
    '"ping"',
    "[]",
    '[{"type":"ping"}]',
    '{"type":"ping",}',
    "{'type':'ping'}",
    '{type:"ping"}',
    '{"type":"ping"} x',
    '{"type":"ping"}{"type":"ping"}',
    '/* hi */{"type":"ping"}',
    '\ufeff{"type":"ping"}',
    "NaN",
    "Infinity",
    '{"type":"ping","x":NaN}',
    '{"type":"ping","x":Infinity}',
    '{"type":"ping","x":-Infinity}',
    '{"type":"ping","x":"\\ud800"}',
    '{"type":"ping","x":"\\udc00\\ud800"}',
    '{"type":"ping","ref":"\\ud83d"}',
    '{"type":"\\ud800"}',
    '{"type":"ping","x":1e400}',
    '{"type":"ping","x":-1e400}',
    '{"type":"ping","x":1' + "0" * 400 + "}",
    '{"type":"ping","x":0x10}',
    '{"type":"ping","x":01}',
    '{"type":"ping","x":.5}',
    '{"type":"ping","x":"\t"}',
    '{"type":"ping","x":"\\x41"}',
    '{"type":"ping"\u00a0}',
    '{"type":null}',
    '{"type":1}',
    '{"type":["ping"]}',
    '{"type":{"type":"ping"}}',
    '{"ref":"no type"}',
    "{}",
    '{"type":"ping","type":"chat.event"}',
    '{"type":"chat.event","type":"ping"}',
    '{"type":"ping","ref":"a","ref":2}',
    '{"type":"ping","ref":2,"ref":"dup-ref"}',
]


# --------------------------------------------------------------------------- what the server must answer


@dataclass
class Expect:
    close: int | None = None  # the socket must close with this code
    codes: frozenset[str] | None = None  # exactly one error, of one of these codes
    ref: str | None = None  # the `ref` every error and ack of it carries
    pong: bool = False  # a `pong` with `ref` must come
    view: Any = None  # the frame as the server parses it, when it parses
    problems: list[str] = field(default_factory=list)  # what the document has against it


def answer_ref(frame: dict) -> str | None:
    """The `ref` the server's answers carry (docs/protocol/websocket.md, "ref")."""
    from chatsite.gateway import registry

    ref = frame.get("ref")
    if ref is not None:
        return ref if isinstance(ref, str) and len(ref) <= 64 else None
    spec = registry.get(frame["type"]) if isinstance(frame.get("type"), str) else None
    default = frame.get(spec.ref_field) if spec is not None and spec.ref_field else None
    return default if isinstance(default, str) and len(default) <= 64 else None


def expect(payload: str | bytes, *, binary: bool = False) -> Expect:
    """What the protocol says a socket gets for `payload`, from the frame as
    the server parses it (strict JSON, the last of duplicate keys wins)."""
    if binary:
        return Expect(codes=frozenset({"bad_frame"}))
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Expect(close=1007)
    if len(data) > TRANSPORT_CAP:
        return Expect(close=1009)
    if len(data) > MAX_FRAME:
        return Expect(codes=frozenset({"too_large"}))
    try:
        view = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Expect(codes=frozenset({"bad_frame"}))
    if not isinstance(view, dict):
        return Expect(codes=frozenset({"bad_frame"}), view=view)
    problems = document.problems(document.CLIENT, view)
    ref = answer_ref(view)
    if problems:
        return Expect(codes=SHAPE_REFUSALS, ref=ref, view=view, problems=problems)
    return Expect(ref=ref, pong=view.get("type") == "ping", view=view)


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    """The fuzzer `fuzz`; the neighbours `nina` and `noah`, contacts; `nina`
    is also the fuzzer's contact and a stranger `stan`'s. `group` (owner nina)
    holds the three; `stan_group` (owner stan) holds stan and nina."""

    users: dict[str, Any]
    ids: dict[str, str]  # name → user id
    conversations: dict[str, str]  # name → conversation id
    members: dict[str, set[str]]  # conversation id → member names
    groups: dict[str, str]  # name → group id
    tokens: dict[str, str]
    files: dict[str, str] = field(default_factory=dict)  # name → the id of a file they uploaded

    def conversations_of(self, name: str) -> set[str]:
        return {c for c, names in self.members.items() if name in names}


def build_world() -> World:
    from accounts.models import User
    from contacts.services import do_connect
    from groups.services import do_create_group

    tag = uuid.uuid4().hex[:6]
    users = {
        n: User.objects.create_user(f"{n}_{tag}", "a-long-password", nickname=n)
        for n in ("fuzz", "nina", "noah", "stan")
    }
    conversations, members, groups = {}, {}, {}
    for a, b in (("nina", "noah"), ("fuzz", "nina"), ("nina", "stan")):
        contact = do_connect(user=users[a], other=users[b])
        conversations[f"{a}_{b}"] = str(contact.conversation.uuid)
        members[conversations[f"{a}_{b}"]] = {a, b}
    for name, owner, others in (("group", "nina", ("noah", "fuzz")), ("stan_group", "stan", ("nina",))):
        group = do_create_group(owner=users[owner], name=name, members=[str(users[o].uuid) for o in others])
        conversations[name] = str(group.conversation.uuid)
        groups[name] = str(group.uuid)
        members[conversations[name]] = {owner, *others}
    return World(
        users=users,
        ids={n: str(u.uuid) for n, u in users.items()},
        conversations=conversations,
        members=members,
        groups=groups,
        tokens={n: login_tokens(u)["access"] for n, u in users.items()},
    )


@dataclass(frozen=True)
class Row:
    id: str
    conversation: str
    seq: int
    sender: str | None
    client_msg_id: str | None
    recalled: bool
    # For a system message: its event (edits and reactions are told by a frame of their own).
    event: str | None = None


def stored_rows(conversation_ids: list[str]) -> list[Row]:
    from conversations.models import Message

    return [
        Row(
            str(m["uuid"]),
            str(m["conversation__uuid"]),
            m["seq"],
            m["sender__uuid"] and str(m["sender__uuid"]),
            m["client_msg_id"],
            m["recalled"],
            (m["data"] or {}).get("event") if m["kind"] == "system" else None,
        )
        for m in Message.objects.filter(conversation__uuid__in=conversation_ids)
        .order_by("conversation_id", "seq")
        .values("uuid", "conversation__uuid", "seq", "sender__uuid", "client_msg_id", "recalled", "kind", "data")
    ]


def last_seqs(conversation_ids: list[str]) -> dict[str, int]:
    from conversations.models import Conversation

    return {
        str(u): s for u, s in Conversation.objects.filter(uuid__in=conversation_ids).values_list("uuid", "last_seq")
    }


def live_calls() -> int:
    from calls.models import Call, CallState

    return Call.objects.exclude(state=CallState.ENDED).count()


def call_parties(call_ids: set[str]) -> dict[str, tuple[str, str]]:
    from calls.models import Call

    return {
        str(c): (str(a), str(b))
        for c, a, b in Call.objects.filter(uuid__in=call_ids).values_list("uuid", "caller__uuid", "callee__uuid")
    }


def upload(base: str, token: str) -> str:
    """The id of a small PNG `token`'s user uploads."""
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    r = httpx.post(
        f"{base}/api/v1/files",
        files={"file": ("dot.png", out.getvalue(), "image/png")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


# --------------------------------------------------------------------------- sockets


def ws_url(base: str, token: str) -> str:
    return base.replace("http://", "ws://") + f"/ws/?token={token}"


async def until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


class Peer:
    """A real client socket that reads everything it is sent, checking every
    frame against the document; `on_frame` sees each in order."""

    def __init__(self, name: str, url: str, *, compression: str | None = "deflate") -> None:
        self.name = name
        self.url = url
        self.compression = compression
        self.ws: Any = None
        self.reader: asyncio.Task | None = None
        self.mismatches: list[str] = []
        self.close_code: int | None = None
        self.on_frame: Callable[[dict], None] = lambda frame: None

    async def open(self) -> dict:
        self.ws = await websockets.connect(self.url, open_timeout=10, max_size=None, compression=self.compression)
        hello = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert hello["type"] == "hello", hello
        self._check(hello)
        self.reader = asyncio.create_task(self._read())
        return hello

    def _check(self, frame: dict) -> None:
        found = document.problems(document.SERVER, frame)
        if found:
            self.mismatches.append(f"{self.name} got an undocumented frame {str(frame)[:300]}: {'; '.join(found)}")

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                self._check(frame)
                self.on_frame(frame)
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    @property
    def open_now(self) -> bool:
        return self.reader is not None and not self.reader.done()

    async def send(self, payload: str | bytes | dict, *, text: bool | None = None) -> bool:
        """False if the socket is closed (or closes while sending)."""
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        try:
            await self.ws.send(payload, text=text)
        except (websockets.ConnectionClosed, ConnectionError):
            return False
        return True

    async def closed(self, timeout: float) -> int | None:
        assert self.reader is not None
        try:
            await asyncio.wait_for(asyncio.shield(self.reader), timeout)
        except TimeoutError:
            return None
        return self.close_code

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.wait_for(self.reader, 5)


class Neighbour:
    """A user chatting on one socket: a message every `every` seconds, in
    turn to each conversation of `targets`; it records what it gets."""

    def __init__(self, name: str, url: str, world: World, targets: list[str], *, every: float) -> None:
        self.name = name
        self.world = world
        self.targets = targets
        self.every = every
        self.peer = Peer(name, url)
        self.peer.on_frame = self._on_frame
        self.sent: dict[str, str] = {}  # client_msg_id → conversation
        self.accepted: set[str] = set()
        self.stored: dict[str, dict] = {}  # client_msg_id → its Message
        self.new: list[dict] = []  # message.new frames
        self.others: list[dict] = []  # every other frame
        self.stopped = asyncio.Event()

    def _on_frame(self, frame: dict) -> None:
        if frame["type"] == "message.ack":
            if frame["status"] == "accepted":
                self.accepted.add(frame["client_msg_id"])
            else:
                self.stored[frame["client_msg_id"]] = frame["message"]
            if frame["client_msg_id"] not in self.sent or frame["ref"] != frame["client_msg_id"]:
                self.others.append(frame)
        elif frame["type"] == "message.new":
            self.new.append(frame)
        else:
            self.others.append(frame)

    async def chat(self) -> None:
        n = 0
        while not self.stopped.is_set():
            conversation = self.targets[n % len(self.targets)]
            cmid = str(uuid.uuid4())
            self.sent[cmid] = conversation
            frame = {"type": "message.send", "client_msg_id": cmid, "conversation": conversation, "kind": "text"}
            assert await self.peer.send({**frame, "content": f"{self.name} {n} 你好 😀"}), (
                f"{self.name}'s socket closed"
            )
            n += 1
            try:
                await asyncio.wait_for(self.stopped.wait(), self.every)
            except TimeoutError:
                pass


# --------------------------------------------------------------------------- the fuzzer

_DROP = object()


@dataclass
class Probe:
    n: int
    what: str
    payload: str | bytes
    binary: bool = False
    want: Expect = field(default_factory=Expect)
    answers: list[dict] = field(default_factory=list)
    window: bool = True  # followed by a ping that closes its window of answers

    def describe(self) -> str:
        shown = self.payload[:240] if isinstance(self.payload, str) else repr(self.payload[:80])
        size = len(self.payload)
        return f"#{self.n} {self.what} ({size} bytes{', binary' if self.binary else ''}): {shown!r}"


class Frames:
    """The seeded generator: valid frames of every registered type built
    from the world's ids, and what can be done to them."""

    def __init__(self, rng: random.Random, world: World, pools: dict[str, list[str]]) -> None:
        from chatsite.gateway import registry

        registry.autodiscover()
        self.types = registry.known_types()
        self.rng = rng
        self.world = world
        self.pools = pools
        self.cmids: list[str] = []
        self.mine = sorted(world.conversations_of("fuzz"))

    # ---------------------------------------------------------------- ids

    def any_id(self) -> str:
        rng = self.rng
        pool = rng.choice(["users", "conversations", "messages", "foreign_messages", "calls", "random"])
        if pool == "users":
            value = rng.choice(sorted(self.world.ids.values()))
        elif pool == "conversations":
            value = rng.choice(sorted(self.world.conversations.values()))
        elif pool == "random" or not self.pools[pool]:
            value = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        else:
            value = rng.choice(self.pools[pool])
        return value.upper() if rng.random() < 0.1 else value

    def cmid(self, *, fresh: bool = False) -> str:
        if self.cmids and not fresh and self.rng.random() < 0.1:
            return self.rng.choice(self.cmids)  # a resend: answered with the first copy's acks
        value = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.cmids.append(value)
        return value.upper() if self.rng.random() < 0.05 else value

    def text(self) -> str:
        rng = self.rng
        return rng.choice(
            [
                lambda: "hello",
                lambda: "你好, 世界 😀",
                lambda: "x" * rng.choice([1, 4999, 5000, 5001]),
                lambda: "😀" * rng.choice([2500, 5000, 5001]),
                lambda: "e\u0301" * 10,
                lambda: "\u202eevil\u202c",
                lambda: "\u200b",
                lambda: "   ",
                lambda: "a\u0000b",
                lambda: "<script>alert(1)</script>",
                lambda: (
                    "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(rng.randrange(1, 40)))
                    .encode("utf-8", "ignore")
                    .decode("utf-8", "ignore")
                    or "z"
                ),
            ]
        )()

    # ---------------------------------------------------------------- valid frames

    def base(self, frame_type: str) -> dict:
        rng, ids, mine = self.rng, self.world.ids, self.mine
        call_id = rng.choice(self.pools["calls"]) if self.pools["calls"] and rng.random() < 0.7 else self.any_id()
        if frame_type == "ping":
            frame: dict = {}
        elif frame_type == "message.send":
            frame = {"client_msg_id": self.cmid(), "kind": "text", "content": self.text()}
            if rng.random() < 0.2:
                files = self.world.files
                file = rng.choice([files["fuzz"], files["fuzz"], files["stan"], self.any_id()])
                frame.update(kind="file", file=file, content=rng.choice([None, "", "a caption"]))
            own = self.pools["own_messages"]
            extra = rng.random()
            if extra < 0.1:
                frame["reply_to"] = rng.choice(own) if own and rng.random() < 0.6 else self.any_id()
            elif extra < 0.2:
                frame["mentions"] = rng.sample(sorted(ids.values()), rng.randrange(1, 3))
            elif extra < 0.25:
                frame["mention_all"] = True
            elif extra < 0.3:
                frame = {
                    "client_msg_id": frame["client_msg_id"],
                    "forward_of": rng.choice(own) if own else self.any_id(),
                }
            elif extra < 0.35:
                picks = rng.sample(own, min(len(own), 3)) if own else [self.any_id(), self.any_id()]
                frame = {"client_msg_id": frame["client_msg_id"], "kind": "bundle", "bundle": picks}
            target = rng.random()
            if target < 0.6:
                frame["conversation"] = rng.choice(mine)
            elif target < 0.8:
                frame["to"] = {"user": ids["nina"]}
            else:
                frame["to"] = {"group": self._group_id()}
        elif frame_type == "message.recall":
            own = self.pools["own_messages"]
            frame = {"message": rng.choice(own) if own and rng.random() < 0.6 else self.any_id()}
        elif frame_type == "message.edit":
            own = self.pools["own_messages"]
            frame = {
                "message": rng.choice(own) if own and rng.random() < 0.6 else self.any_id(),
                "content": self.text(),
            }
        elif frame_type == "message.react":
            own = self.pools["own_messages"]
            frame = {
                "message": rng.choice(own) if own and rng.random() < 0.6 else self.any_id(),
                "emoji": rng.choice(["👍", "❤", "❤️", "👨‍👩‍👧", "🏽", "x", "👍👍"]),
                "op": rng.choice(["add", "add", "remove"]),
            }
        elif frame_type == "read":
            frame = {"conversation": rng.choice(mine), "seq": rng.randrange(0, 60)}
        elif frame_type == "typing":
            frame = {"conversation": rng.choice(mine)}
        elif frame_type == "command.run":
            # Built-ins only: the fuzzed user's conversations have no bots.
            frame = {
                "conversation": rng.choice(mine),
                "text": rng.choice(["/shrug", "/me waves", "/mute", "/unmute", "/invite @nina", "/nope", "/"]),
            }
        elif frame_type == "sync":
            # Mostly past the end: a sync from 0 answers up to 1000 frames.
            frame = {"cursors": {c: rng.choice([10**6, 10**6, 10**6, rng.randrange(0, 200)]) for c in mine}}
        elif frame_type == "presence.subscribe":
            frame = {"users": rng.sample(sorted(ids.values()), rng.randrange(1, len(ids) + 1))}
        elif frame_type == "call.invite":
            frame = {"to": ids["nina"], "media": rng.choice(["audio", "video"]), "sdp": {"type": "offer", "sdp": SDP}}
        elif frame_type == "call.accept":
            frame = {"call_id": call_id, "sdp": {"type": "answer", "sdp": SDP}}
        elif frame_type == "call.reject":
            frame = {"call_id": call_id, "reason": "busy elsewhere"}
        elif frame_type in ("call.cancel", "call.hangup"):
            frame = {"call_id": call_id}
        elif frame_type == "call.ice":
            frame = {"call_id": call_id, "candidate": {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0}}
        else:
            raise AssertionError(f"the fuzzer does not know the frame type {frame_type!r}: teach Frames.base")
        frame = {"type": frame_type, **frame}
        if rng.random() < 0.7:
            frame["ref"] = f"f{rng.getrandbits(40):x}"
        return frame

    def _group_id(self) -> str:
        return self.world.groups["group" if self.rng.random() < 0.8 else "stan_group"]

    # ---------------------------------------------------------------- mutations

    def hostile(self) -> Any:
        rng = self.rng
        choice = rng.random()
        if choice < 0.7:
            return copy.deepcopy(rng.choice(HOSTILE_VALUES))  # mutations edit values in place
        if choice < 0.8:
            return self.any_id()
        if choice < 0.9:
            return rng.choice(["a" * 65, "b" * 64, "c" * rng.randrange(1000, 20000)])
        nested: list = []
        for _ in range(rng.randrange(10, 800)):  # deep, within what Python's json writes
            nested = [nested]
        return nested

    def mutate(self, frame: dict) -> tuple[dict, str]:
        rng = self.rng
        keys = [k for k in frame if k != "type"]
        how = rng.choice(["drop", "retype", "garbage", "swap", "type", "ref", "nested", "number"])
        if how == "drop" and frame:
            key = rng.choice(list(frame))
            frame.pop(key)
            return frame, f"drop {key}"
        if how == "retype" and keys:
            key = rng.choice(keys)
            frame[key] = self.hostile()
            return frame, f"retype {key}"
        if how == "swap":
            id_keys = [k for k in keys if k in ("conversation", "message", "call_id", "to", "file", "client_msg_id")]
            if id_keys:
                key = rng.choice(id_keys)
                if key == "to" and isinstance(frame["to"], dict):
                    frame["to"] = {rng.choice(["user", "group"]): self.any_id()}
                else:
                    frame[key] = self.any_id()
                return frame, f"swap {key}"
        if how == "type":
            frame["type"] = rng.choice(
                [rng.choice(INTERNAL_TYPES), rng.choice(self.types), self.hostile(), str(frame.get("type", "")).upper()]
            )
            return frame, f"type {frame['type']!r}"[:80]
        if how == "ref":
            frame["ref"] = rng.choice([None, "", "r" * 64, "r" * 65, 7, ["r"], {"r": 1}, "😀" * 64, "😀" * 65])
            return frame, "ref"
        if how == "nested":
            for key in ("to", "sdp", "candidate", "cursors", "users"):
                if isinstance(frame.get(key), dict) and frame[key]:
                    inner = frame[key]
                    sub = rng.choice(list(inner))
                    action = rng.random()
                    if action < 0.3:
                        inner.pop(sub)
                    elif action < 0.7:
                        inner[sub] = self.hostile()
                    else:
                        inner[rng.choice(GARBAGE_KEYS + ["user", "group", "type", "sdpMLineIndex"])] = self.hostile()
                    return frame, f"nested {key}.{sub}"
                if isinstance(frame.get(key), list):
                    frame[key] = [self.hostile() for _ in range(rng.choice([1, 3, 501]))]
                    return frame, f"nested {key}[]"
        if how == "number":
            for key in ("seq", "sdpMLineIndex"):
                target = frame if key in frame else frame.get("candidate")
                if isinstance(target, dict) and key in target:
                    target[key] = rng.choice([3.0, 3.5, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 1e300, "3", True])
                    return frame, f"number {key}={target[key]!r}"[:80]
        for _ in range(rng.randrange(1, 4)):
            frame[rng.choice(GARBAGE_KEYS + [f"x{rng.randrange(100)}"])] = self.hostile()
        return frame, "garbage fields"

    # ---------------------------------------------------------------- probes

    def encode(self, frame: dict) -> str:
        text = json.dumps(frame, ensure_ascii=self.rng.random() < 0.5)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: written as an escape, as a client would
            text = json.dumps(frame)
        return text

    def duplicate_key(self, frame: dict) -> tuple[str, str]:
        """`frame` with one key written twice (the server keeps the last)."""
        key = self.rng.choice(list(frame))
        other = json.dumps({key: self.hostile()})[1:-1]
        body = json.dumps(frame)[1:-1]
        text = "{" + (f"{other}, {body}" if self.rng.random() < 0.5 else f"{body}, {other}") + "}"
        return text, f"duplicate {key}"

    def systematic(self) -> list[tuple[str, str | bytes, bool]]:
        """Every registered type: valid; each field missing; each field of
        each hostile type; a `ref` of each kind. Then the raw texts, binary
        frames, deep nesting, the size edges and invalid UTF-8."""
        out: list[tuple[str, str | bytes, bool]] = []
        for frame_type in self.types:
            out += self._fields_of(self.base(frame_type))
        for name in INTERNAL_TYPES:
            out.append((f"internal type {name!r}", self.encode({"type": name, "ref": "internal", "code": 1000}), False))
        out += [(f"raw {text[:40]!r}", text, False) for text in RAW_TEXTS]
        out += [
            ("binary ping", b'{"type":"ping","ref":"bin"}', True),
            ("binary garbage", bytes(self.rng.getrandbits(8) for _ in range(64)), True),
            ("binary empty", b"", True),
            ("nesting 1000 in a ping", '{"type":"ping","ref":"deep","x":' + "[" * 1000 + "]" * 1000 + "}", False),
            ("nesting 1100 in a ping", '{"type":"ping","ref":"deeper","x":' + "[" * 1100 + "]" * 1100 + "}", False),
            ("nesting 30,000", "[" * 30_000 + "]" * 30_000, False),
            ("nesting 10,000 objects", '{"a":' * 10_000 + "1" + "}" * 10_000, False),
            ("nesting 100,000", "[" * 100_000 + "]" * 100_000, False),
            ("nesting 100,000 unclosed", "{" * 100_000, False),
        ]
        out += [(f"{size} bytes", self.padded_ping(size), False) for size in self.sizes()]
        out += [
            (f"{size} bytes of {fill}", self.padded_ping(size, fill), False)
            for size in (MAX_FRAME, MAX_FRAME + 1)
            for fill in ("€", "😀")
        ]
        out.append(("60 KB of escaped lone surrogates", '{"type":"ping","x":"' + "\\ud800" * 10_000 + '"}', False))
        out += [(f"invalid UTF-8 {data[:12]!r}", data, False) for data in self.invalid_utf8()]
        return out

    def _fields_of(self, base: dict) -> list[tuple[str, str | bytes, bool]]:
        """`base`, then `base` with each field (and each field of its objects,
        each item of its lists) missing or of each hostile value."""
        name = base["type"]

        def variant(what: str, **changes: Any) -> tuple[str, str, bool]:
            frame = {**base, **changes}
            if name == "message.send" and "client_msg_id" not in changes:
                # A new message each time: a client_msg_id already stored skips every check.
                frame["client_msg_id"] = self.cmid(fresh=True)
            return f"{name} {what}"[:80], self.encode({k: v for k, v in frame.items() if v is not _DROP}), False

        out = [variant("valid")]
        for key, inner in base.items():
            if key == "type":
                continue
            out.append(variant(f"without {key}", **{key: _DROP}))
            out += [variant(f"{key}={value!r}", **{key: value}) for value in HOSTILE_VALUES]
            if isinstance(inner, dict):
                for sub in [*inner, "extra"]:
                    if sub in inner:
                        out.append(
                            variant(f"{key} without {sub}", **{key: {k: v for k, v in inner.items() if k != sub}})
                        )
                    out += [
                        variant(f"{key}.{sub}={value!r}", **{key: {**inner, sub: value}}) for value in HOSTILE_VALUES
                    ]
            elif isinstance(inner, list):
                out += [variant(f"{key}[0]={value!r}", **{key: [value, *inner]}) for value in HOSTILE_VALUES]
        out += [variant(f"ref={ref!r}", ref=ref) for ref in (None, "", "r" * 64, "r" * 65, 7, [], "😀" * 65)]
        return out

    @staticmethod
    def sizes() -> list[int]:
        return [MAX_FRAME - 1, MAX_FRAME, MAX_FRAME + 1, 500_000, TRANSPORT_CAP, TRANSPORT_CAP + 1, 3 * TRANSPORT_CAP]

    @staticmethod
    def padded_ping(size: int, fill: str = "p") -> str:
        """A ping of exactly `size` bytes of UTF-8, padded with `fill` (then ASCII)."""
        head, tail = '{"type":"ping","ref":"pad' + str(size) + '","x":"', '"}'
        room = size - len(head) - len(tail)
        width = len(fill.encode())
        return head + fill * (room // width) + "p" * (room % width) + tail

    @staticmethod
    def invalid_utf8() -> list[bytes]:
        return [
            b"\xff\xfe{}",
            b'{"type":"ping","x":"\xc0\xaf"}',  # overlong '/'
            b'{"type":"ping","x":"\xed\xa0\x80"}',  # a surrogate, encoded
            b'{"type":"ping","x":"\xe4\xbd"}',  # truncated
            b'{"type":"ping","x":"\xf4\x90\x80\x80"}',  # past U+10FFFF
        ]

    def random_probe(self) -> tuple[str, str | bytes, bool]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return "raw", rng.choice(RAW_TEXTS), False
        if roll < 0.07:
            return "binary", bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200))), True
        if roll < 0.075:
            return "invalid UTF-8", rng.choice(self.invalid_utf8()), False
        frame = self.base(rng.choice(self.types))
        if roll < 0.2:
            return f"valid {frame['type']}", self.encode(frame), False
        steps = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            frame, step = self.mutate(frame)
            steps.append(step)
        if frame and rng.random() < 0.1:
            text, step = self.duplicate_key(frame)
            return ", ".join([*steps, step]), text, False
        return ", ".join(steps), self.encode(frame), False


class Fuzzer:
    """One user's socket under fire: each probe is followed by a `ping` whose
    `pong` closes the probe's window, so every `error` is matched to the
    frame that caused it."""

    BATCH = 40

    def __init__(self, url: str, world: World, rng: random.Random, pools: dict[str, list[str]], *, server: str) -> None:
        self.url = url
        self.server = server
        self.world = world
        self.rng = rng
        self.pools = pools
        self.frames = Frames(rng, world, pools)
        self.probes: list[Probe] = []
        self.window: list[int] = []  # probes sent on the current socket and awaiting their pong
        self.stray: list[str] = []  # frames no probe explains
        self.accepted: set[str] = set()
        self.stored: set[str] = set()
        self.refs_of_cmid: dict[str, set[str | None]] = {}
        self.mismatches: list[str] = []
        self.sockets = 0
        self.peer: Peer | None = None

    async def connect(self) -> None:
        if self.peer is not None:
            self.mismatches += self.peer.mismatches
        # Each socket picks compression at random: the caps hold for what the server inflates too.
        self.peer = Peer("fuzz", self.url, compression=self.rng.choice(["deflate", None]))
        self.peer.on_frame = self._on_frame
        await self.peer.open()
        self.window = []
        self.sockets += 1

    def _on_frame(self, frame: dict) -> None:
        kind = frame["type"]
        if kind == "pong" and isinstance(frame.get("ref"), str) and frame["ref"].startswith("w:"):
            n = int(frame["ref"][2:])
            if not self.window or self.window[0] != n:
                self.stray.append(f"window pong {n} out of order (open: {self.window[:3]})")
                return
            self.window.pop(0)
            return
        if kind == "message.ack":
            cmid = frame["client_msg_id"]
            (self.accepted if frame["status"] == "accepted" else self.stored).add(cmid)
            if frame["status"] == "stored":
                self.pools["own_messages"].append(frame["message"]["id"])
            if frame["ref"] not in self.refs_of_cmid.get(cmid, set()):
                self.stray.append(f"an ack with a ref no send of {cmid} had: {frame}")
        if kind == "message.new":
            self.pools["messages"].append(frame["message"]["id"])
        if kind in ("call.ringing", "call.ended", "call.incoming", "call.accepted"):
            self.pools["calls"].append(frame["call_id"])
        if self.window:
            self.probes[self.window[0]].answers.append(frame)
        elif kind == "error":
            self.stray.append(f"an error outside any probe's window: {frame}")

    def _record_send(self, probe: Probe) -> None:
        view = probe.want.view
        if isinstance(view, dict) and view.get("type") == "message.send" and isinstance(view.get("client_msg_id"), str):
            cmid = view["client_msg_id"].lower()
            self.refs_of_cmid.setdefault(cmid, set()).add(probe.want.ref)

    async def drain(self, timeout: float = 20) -> None:
        """Wait until every probe sent on this socket had its window closed."""
        if not await until(lambda: not self.window or not self.peer.open_now, timeout):
            raise AssertionError(
                f"no answer within {timeout} s to {self.probes[self.window[0]].describe()} (seed {SEED})"
            )
        if self.window:
            raise AssertionError(
                f"the socket closed ({self.peer.close_code}) after {self.probes[self.window[0]].describe()} (seed {SEED})"
            )

    async def fire(self, what: str, payload: str | bytes, binary: bool) -> None:
        probe = Probe(len(self.probes), what, payload, binary, expect(payload, binary=binary))
        self.probes.append(probe)
        self._record_send(probe)
        if probe.want.close is not None:
            await self._fire_closing(probe)
            return
        self.window.append(probe.n)
        sent = await self.peer.send(payload, text=None if binary or isinstance(payload, str) else True)
        sent = sent and await self.peer.send({"type": "ping", "ref": f"w:{probe.n}"})
        if not sent:
            await self.peer.closed(5)
            raise AssertionError(f"the socket closed ({self.peer.close_code}) at {probe.describe()} (seed {SEED})")

    async def _fire_closing(self, probe: Probe) -> None:
        """A probe the socket may not survive: only it is in flight, the close
        code is the documented one, and a new socket works at once."""
        await self.drain()
        probe.window = False
        # Invalid UTF-8 goes out as a text frame of those very bytes.
        await self.peer.send(probe.payload, text=True if isinstance(probe.payload, bytes) else None)
        code = await self.peer.closed(10)
        # docs/protocol/websocket.md: a client still sending past the cap may
        # see a reset; daphne drops both kinds of connection without a close frame.
        allowed = {probe.want.close}
        if probe.want.close == 1009 or self.server == "daphne":
            allowed.add(1006)
        if code not in allowed:
            raise AssertionError(f"{probe.describe()} closed the socket with {code}, not {allowed} (seed {SEED})")
        probe.answers.append({"type": "close", "code": code})
        await self.connect()

    async def run(self, deadline: float) -> None:
        await self.connect()
        systematic = self.frames.systematic()
        self.rng.shuffle(systematic)
        random_part = [None] * RANDOM_FRAMES
        plan: list[tuple[str, str | bytes, bool] | None] = systematic + random_part
        for start in range(0, len(plan), self.BATCH):
            if start >= len(systematic) and time.monotonic() > deadline:
                break
            for item in plan[start : start + self.BATCH]:
                what, payload, binary = item if item is not None else self.frames.random_probe()
                await self.fire(what, payload, binary)
            await self.drain()
        await self.peer.send({"type": "ping", "ref": "last"})
        await self.drain()

    def _first_copy(self, probe: Probe) -> bool:
        """A `message.send` of a client_msg_id already stored is answered with
        the first copy's acks, whatever it says (docs/protocol/websocket.md)."""
        view = probe.want.view
        cmid = view.get("client_msg_id") if isinstance(view, dict) and view.get("type") == "message.send" else None
        return isinstance(cmid, str) and any(
            a["type"] == "message.ack"
            and a["status"] == "stored"
            and a["client_msg_id"] == cmid.lower()
            and a["ref"] == probe.want.ref
            for a in probe.answers
        )

    def verdicts(self) -> list[str]:
        """What is wrong with the answers, one line per probe."""
        wrong = []
        for probe in self.probes:
            if not probe.window:
                continue
            want = probe.want
            errors = [a for a in probe.answers if a["type"] == "error"]
            problems = []
            if len(errors) > 1:
                problems.append(f"{len(errors)} errors")
            for error in errors:
                allowed = want.codes | {"rate_limited"} if want.codes is not None else ALLOWED_CODES
                if error["code"] not in allowed:
                    problems.append(f"code {error['code']!r}, expected one of {sorted(allowed)}")
                if error["ref"] != want.ref:
                    problems.append(f"ref {error['ref']!r}, expected {want.ref!r}")
                if error["code"] == "rate_limited" and not isinstance(error.get("retry_after"), int):
                    problems.append("rate_limited without retry_after")
            if want.codes is not None and not errors and not self._first_copy(probe):
                why = "; ".join(want.problems) or "not a frame"
                problems.append(f"no error, expected one of {sorted(want.codes)} ({why[:200]})")
            if (
                want.pong
                and not errors
                and not any(a["type"] == "pong" and a["ref"] == want.ref for a in probe.answers)
            ):
                problems.append(f"no pong with ref {want.ref!r}")
            for answer in probe.answers:
                if answer["type"] in ("pong", "sync.done") and answer["ref"] != want.ref:
                    problems.append(f"{answer['type']} with ref {answer['ref']!r}, expected {want.ref!r}")
            if problems:
                got = [{k: a.get(k) for k in ("type", "code", "ref", "message") if k in a} for a in probe.answers]
                wrong.append(f"{probe.describe()}\n    -> {'; '.join(problems)}\n    answers: {got}")
        return wrong


# --------------------------------------------------------------------------- the test


def check_log(path, start: int = 0) -> None:
    text = path.read_text(errors="replace")[start:]
    assert "Traceback" not in text, text[text.index("Traceback") - 500 :][:6000]
    errors = [line for line in text.splitlines() if " ERROR " in line or " CRITICAL " in line]
    assert not errors, "\n".join(errors[:20])


def test_fuzzed_socket_neighbours_and_data(message_worker, django_db_blocker, tmp_path):
    print(f"\nWS_FUZZ_SEED={SEED}")
    rng = random.Random(SEED)
    world = build_world()
    everything = sorted(world.conversations.values())
    before = last_seqs(everything)
    worker_log = message_worker.log_path if message_worker is not None else None
    worker_start = len(worker_log.read_text()) if worker_log else 0
    server = os.environ.get("TEST_ASGI_SERVER", "uvicorn")
    with serving(server, django_db_blocker, tmp_path, env=FUZZ_ENV) as served:
        url = lambda name: ws_url(served.url, world.tokens[name])  # noqa: E731
        c = world.conversations
        nina = Neighbour(
            "nina",
            url("nina"),
            world,
            [c["nina_noah"], c["group"], c["fuzz_nina"], c["nina_stan"], c["stan_group"]],
            every=0.05,
        )
        noah = Neighbour("noah", url("noah"), world, [c["nina_noah"], c["group"]], every=0.05)
        pools: dict[str, list[str]] = {"messages": [], "own_messages": [], "foreign_messages": [], "calls": []}
        world.files = {name: upload(served.url, world.tokens[name]) for name in ("fuzz", "stan")}
        fuzzer = Fuzzer(url("fuzz"), world, rng, pools, server=server)
        started = time.monotonic()

        async def main() -> None:
            for neighbour in (nina, noah):
                await neighbour.peer.open()
            chats = [asyncio.create_task(n.chat()) for n in (nina, noah)]

            def learn(n: Neighbour) -> None:
                # Ids of other people's messages, some in conversations the fuzzer is not in.
                pools["foreign_messages"][:] = [m["id"] for m in n.stored.values()][-200:]

            try:
                feeder = asyncio.create_task(_every(0.5, lambda: learn(nina)))
                await fuzzer.run(started + SECONDS)
                feeder.cancel()
                # The calls the fuzzer started end (missed) and store their messages.
                assert await until_db(live_calls, lambda n: n == 0, 15), "calls still live 15 s after the fuzz"
            finally:
                for n in (nina, noah):
                    n.stopped.set()
                await asyncio.gather(*chats)
            for n in (nina, noah):
                assert await until(lambda n=n: set(n.stored) == set(n.sent), 30), (
                    f"{n.name}: {len(set(n.sent) - set(n.stored))} of {len(n.sent)} messages never stored: "
                    f"{[f for f in n.others if f['type'] == 'error'][:5]}"
                )
            # Real-time delivery is asynchronous: wait until what is stored has arrived (or time is up).
            rows = await sync_to_async(stored_rows)(everything)
            await until(lambda: all(not missing(n, world, rows, before) for n in (nina, noah)), 20)
            for n in (nina, noah):
                assert n.peer.open_now, f"{n.name}'s socket closed ({n.peer.close_code})"
                await n.peer.close()
            await fuzzer.peer.close()

        asyncio.run(main())
        took = time.monotonic() - started
        rows = stored_rows(everything)
        assert served.proc.poll() is None, "the server died"
        assert httpx.get(f"{served.url}/healthz").status_code == 200
        print(f"{len(fuzzer.probes)} probes on {fuzzer.sockets} sockets in {took:.1f} s; {len(rows)} messages stored")
        for n in (nina, noah):
            print(f"{n.name}: sent {len(n.sent)}, got {len(n.new)} message.new, {Counter(f['type'] for f in n.others)}")
        print(Counter(a.get("code") or a["type"] for p in fuzzer.probes for a in p.answers).most_common())

        # The fuzzed socket: documented frames only, each probe answered as the protocol says.
        mismatches = fuzzer.mismatches + fuzzer.peer.mismatches
        assert not mismatches, f"seed {SEED}:\n" + "\n".join(mismatches[:20])
        wrong = fuzzer.verdicts()
        if wrong:
            (tmp_path / "wrong.txt").write_text("\n".join(wrong))
        assert not wrong, f"seed {SEED}, {len(wrong)} probes answered wrongly:\n" + "\n".join(wrong[:25])
        assert not fuzzer.stray, f"seed {SEED}:\n" + "\n".join(fuzzer.stray[:20])

        # The neighbours: every message, once; nothing the fuzzer's frames may not cause.
        calls = call_parties({f["call_id"] for n in (nina, noah) for f in n.others if f["type"].startswith("call.")})
        for n in (nina, noah):
            assert not n.peer.mismatches, f"seed {SEED}:\n" + "\n".join(n.peer.mismatches[:20])
            problems = missing(n, world, rows, before) + unexplained(n, world, rows, calls)
            assert not problems, f"seed {SEED}, {n.name}:\n" + "\n".join(problems[:25])

        # The data oracle.
        oracle(world, rows, before, [nina, noah], fuzzer)
        check_log(served.log_path)
    if worker_log is not None:
        check_log(worker_log, worker_start)


async def _every(seconds: float, fn: Callable[[], None]) -> None:
    while True:
        fn()
        await asyncio.sleep(seconds)


async def until_db(query: Callable[[], Any], ok: Callable[[Any], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not ok(await sync_to_async(query)()):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def missing(n: Neighbour, world: World, rows: list[Row], before: dict[str, int]) -> list[str]:
    """The stored messages `n` should have had in real time and did not, or had twice."""
    me = world.ids[n.name]
    mine = world.conversations_of(n.name)
    fresh = [r for r in rows if r.conversation in mine and r.seq > before[r.conversation]]
    got = Counter(f["message"]["id"] for f in n.new)
    problems = [f"message.new {mid} arrived {k} times" for mid, k in got.items() if k > 1]
    # Edits and reactions reach the members as message.edited / message.reactions
    # carrying the event's seq, not as a message.new of the event.
    by_frame = {r.id for r in fresh if r.event in ("edit", "reaction")}
    # A coalesced message.reactions frame stands for every event seq in its `seqs`.
    told = {
        (f["conversation"], seq)
        for f in n.others
        if f["type"] in ("message.edited", "message.reactions")
        for seq in f.get("seqs") or [f["seq"]]
    }
    expected_new = {r.id for r in fresh if r.sender != me and r.id not in by_frame}
    problems += [f"no message.new for {r}" for r in fresh if r.id in expected_new and r.id not in got]
    problems += [f"no frame for {r}" for r in fresh if r.id in by_frame and (r.conversation, r.seq) not in told]
    problems += [f"a message.new for {r}" for r in fresh if r.id in by_frame and r.id in got]
    acked = {m["id"] for m in n.stored.values()}
    problems += [f"no stored ack for {r}" for r in fresh if r.sender == me and r.id not in acked]
    return problems


def unexplained(n: Neighbour, world: World, rows: list[Row], calls: dict[str, tuple[str, str]]) -> list[str]:
    """Frames `n` got that nothing legitimate explains: each must be about a
    stored message, a conversation `n` is in, another member, a call `n` is in."""
    by_id = {r.id: r for r in rows}
    last = Counter({r.conversation: r.seq for r in rows})
    mine = world.conversations_of(n.name)
    me = world.ids[n.name]
    others = set(world.ids.values()) - {me}

    def explained(frame: dict) -> bool:
        kind = frame["type"]
        if kind == "message.new":
            row = by_id.get(frame["message"]["id"])
            return (
                not frame.get("sync")
                and row is not None
                and (row.conversation, row.seq) == (frame["message"]["conversation"], frame["message"]["seq"])
            )
        if kind in ("typing", "read"):
            in_place = frame["conversation"] in mine and frame["user"] in others
            return in_place and (kind == "typing" or frame["seq"] <= last[frame["conversation"]])
        if kind == "message.recalled":
            row = by_id.get(frame["message"])
            return (
                row is not None
                and row.recalled
                and row.conversation == frame["conversation"]
                and row.conversation in mine
            )
        if kind in ("message.edited", "message.reactions"):
            # An edit or a reaction of a stored message of a conversation `n` is in,
            # carrying the seq of an event stored in that conversation after it.
            about = frame["message"]["id"] if kind == "message.edited" else frame["message"]
            row = by_id.get(about)
            event = next((r for r in rows if r.conversation == frame["conversation"] and r.seq == frame["seq"]), None)
            return (
                row is not None
                and row.conversation == frame["conversation"] in mine
                and event is not None
                and event.seq > row.seq
                and event.sender is not None
            )
        if kind == "conversation.updated":
            return frame["conversation"]["id"] in mine
        if kind.startswith("call."):
            return me in calls.get(frame["call_id"], ())
        return False  # acks of sends it did not make, errors, presence, anything else

    return [f"an unexplained frame: {str(f)[:300]}" for f in [*n.new, *n.others] if not explained(f)]


def oracle(world: World, rows: list[Row], before: dict[str, int], neighbours: list[Neighbour], fuzzer: Fuzzer) -> None:
    """Every accepted client_msg_id is stored exactly once; a send answered
    only with an error is not stored; every conversation's seq is 1..n."""
    problems = []
    count = Counter((r.sender, (r.client_msg_id or "").lower()) for r in rows if r.client_msg_id)
    for n in neighbours:
        assert n.accepted == set(n.sent), f"{n.name}: sends without `accepted`"
    accepted = {(world.ids[n.name], cmid) for n in neighbours for cmid in n.accepted}
    accepted |= {(world.ids["fuzz"], cmid.lower()) for cmid in fuzzer.accepted}
    problems += [f"accepted {key} is stored {count[key]} times" for key in sorted(accepted) if count[key] != 1]
    refused = {
        cmid
        for cmid, refs in fuzzer.refs_of_cmid.items()
        if cmid not in fuzzer.accepted
        and all(
            any(a["type"] == "error" for a in p.answers)
            for p in fuzzer.probes
            if isinstance(p.want.view, dict)
            and isinstance(p.want.view.get("client_msg_id"), str)
            and p.want.view["client_msg_id"].lower() == cmid
        )
    }
    problems += [f"refused {cmid} is stored" for cmid in sorted(refused) if count[(world.ids["fuzz"], cmid)]]
    last = last_seqs(list(before))
    for conversation in before:
        seqs = [r.seq for r in rows if r.conversation == conversation]
        if seqs != list(range(1, len(seqs) + 1)) or last[conversation] != len(seqs):
            problems.append(f"{conversation}: seq {seqs[:5]}…{seqs[-5:]} (last_seq {last[conversation]})")
    assert not problems, f"seed {SEED}:\n" + "\n".join(problems[:25])
    assert accepted, "nothing was accepted"


# --------------------------------------------------------------------------- flooding


FLOOD_ENV = {
    "LOG_LEVEL": "INFO",
    "LIMIT_FRAMES_PER_S": "5",
    "LIMIT_FRAMES_BURST": "20",
    "LIMIT_FRAMES_STRIKES": "10",
    "LIMIT_MESSAGES_PER_S": "1",
    "LIMIT_MESSAGES_BURST": "5",
    "LIMIT_WS_CONNECTS_PER_USER": "4",
}


def test_a_flood_is_refused_then_closed_while_neighbours_chat(message_worker, django_db_blocker, tmp_path):
    """Past the message budget: `rate_limited` with `retry_after` and the
    send's ref, and nothing stored. Past the frame budget: `rate_limited`
    for LIMIT_FRAMES_STRIKES - 1 frames in a row, then 4429. Past the
    connection budget: 4429 instead of `hello`. The neighbours, whose budgets
    are their own, chat on untouched."""
    world = build_world()
    c = world.conversations
    everything = sorted(c.values())
    before = last_seqs(everything)
    with serving(os.environ.get("TEST_ASGI_SERVER", "uvicorn"), django_db_blocker, tmp_path, env=FLOOD_ENV) as served:
        url = lambda name: ws_url(served.url, world.tokens[name])  # noqa: E731
        nina = Neighbour("nina", url("nina"), world, [c["nina_noah"], c["group"]], every=0.7)
        noah = Neighbour("noah", url("noah"), world, [c["nina_noah"]], every=0.7)
        refused_cmids: list[str] = []

        async def main() -> None:
            for n in (nina, noah):
                await n.peer.open()
            chats = [asyncio.create_task(n.chat()) for n in (nina, noah)]
            answers: list[dict] = []
            fuzz = Peer("fuzz", url("fuzz"))
            fuzz.on_frame = answers.append
            await fuzz.open()
            # The message budget: a burst of 5, then refusals that do not count as strikes.
            cmids = [str(uuid.uuid4()) for _ in range(8)]
            for cmid in cmids:
                frame = {"type": "message.send", "client_msg_id": cmid, "conversation": c["group"], "kind": "text"}
                await fuzz.send({**frame, "content": "burst"})
            assert await until(
                lambda: sum(a["type"] == "error" or a.get("status") == "stored" for a in answers) == 8, 10
            ), answers
            limited = [a for a in answers if a["type"] == "error"]
            assert [a["code"] for a in limited] == ["rate_limited"] * 3, answers
            assert all(a["retry_after"] >= 1 and a["ref"] in cmids for a in limited), limited
            refused_cmids.extend(a["ref"] for a in limited)
            # The frame budget: pings as fast as they go, until the socket is closed.
            answers.clear()
            n = 0
            while fuzz.open_now and n < 2000:
                if not await fuzz.send({"type": "ping", "ref": f"p{n}"}):
                    break
                n += 1
                if n % 50 == 0:
                    await asyncio.sleep(0)
            assert await fuzz.closed(10) == 4429
            strikes = int(FLOOD_ENV["LIMIT_FRAMES_STRIKES"])
            tail = answers[-(strikes - 1) :]
            assert all(a["type"] == "error" and a["code"] == "rate_limited" for a in tail), answers[-strikes:]
            assert all(a["retry_after"] >= 1 and a["ref"].startswith("p") for a in tail), tail
            assert [a["ref"] for a in tail] == sorted({a["ref"] for a in tail}, key=lambda r: int(r[1:]))
            # Connections: this user opened 1 of 4; three more are fine, the fifth is refused.
            for attempt in range(4):
                peer = Peer("fuzz", url("fuzz"))
                if attempt < 3:
                    await peer.open()
                    assert await peer.send({"type": "ping", "ref": "again"})
                    await asyncio.sleep(0.1)
                    await peer.close()
                else:
                    async with websockets.connect(url("fuzz")) as ws:
                        with pytest.raises(websockets.ConnectionClosed) as closed:
                            await asyncio.wait_for(ws.recv(), 5)
                        assert closed.value.rcvd.code == 4429
            # The neighbours chatted all along, and go on a little.
            assert await until(lambda: min(len(nina.sent), len(noah.sent)) >= 5, 10)
            for n_ in (nina, noah):
                n_.stopped.set()
            await asyncio.gather(*chats)
            for n_ in (nina, noah):
                assert await until(lambda n_=n_: set(n_.stored) == set(n_.sent), 15), n_.others
            rows = await sync_to_async(stored_rows)(everything)
            await until(lambda: all(not missing(x, world, rows, before) for x in (nina, noah)), 10)
            for n_ in (nina, noah):
                assert n_.peer.open_now
                await n_.peer.close()

        asyncio.run(main())
        rows = stored_rows(everything)
        assert served.proc.poll() is None
        for n in (nina, noah):
            assert not n.peer.mismatches, n.peer.mismatches
            problems = missing(n, world, rows, before) + unexplained(n, world, rows, {})
            assert not problems, "\n".join(problems)
        stored_cmids = {r.client_msg_id for r in rows}
        assert not stored_cmids & set(refused_cmids), "a rate-limited message was stored"
        check_log(served.log_path)
