"""schemathesis against the API's own OpenAPI schema (docs/api-schema.md).

A real server process serves a small world: a user with a contact, a group
with a pending join request, a conversation with messages, an uploaded file,
a contact request waiting for them. schemathesis reads /api/schema/ and sends
what the schema allows and what it forbids, as that user (then the back
office's operations as an administrator), with every check it has: no 5xx,
every answer of a status, content type and shape the schema declares,
requests the schema forbids refused, requests it allows not refused as
malformed. The world's ids are mixed into the generated ids, so operations
on objects reach their rules, not only their 404.

The server's rate limits are raised so the fuzzer is not throttled into
seeing nothing but 429; the schema still declares 429 where a limit applies.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import httpx
import pytest

from chatsite.testing import image_bytes
from conftest import PASSWORD, make_user, serving

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Test cases per operation in the fuzzing phase (the coverage phase adds its
# own, from the schema's boundaries); the two runs take about two minutes here.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = os.environ.get("FUZZ_SEED", "")

UNTHROTTLED = {
    name: "1000000"
    for name in (
        "LIMIT_MESSAGES_PER_S",
        "LIMIT_MESSAGES_BURST",
        "LIMIT_LOGIN_FAILURES_PER_ACCOUNT",
        "LIMIT_LOGIN_FAILURES_PER_IP",
        "LIMIT_REGISTER_PER_IP",
        "LIMIT_SMS_PER_PHONE",
        "LIMIT_SMS_PER_IP",
        "LIMIT_SMS_VERIFY_PER_IP",
        "LIMIT_SEARCH_PER_MIN",
        "LIMIT_MESSAGE_SEARCH_PER_MIN",
    )
} | {"LIMIT_SMS_COOLDOWN_S": "0"}


class Api:
    """One user's HTTP client on the served product."""

    def __init__(self, base: str, username: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        r = self.http.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        self.http.headers["Authorization"] = f"Bearer {r.json()['access']}"

    def call(self, method: str, path: str, expect: int, **kwargs) -> dict:
        r = self.http.request(method, f"/api/v1{path}", **kwargs)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content else {}


def build_world(base: str) -> dict[str, list[str]]:
    """The fuzz user's world, made through the API; returns its ids by kind."""
    from contacts.services import do_connect

    me, bob, carol, dave = (make_user(f"fuzz_{n}", nickname=n) for n in ("me", "bob", "carol", "dave"))
    make_user("fuzz_admin", nickname="admin", is_staff=True, is_superuser=True)
    do_connect(user=me, other=bob)
    api, as_carol, as_dave = Api(base, "fuzz_me"), Api(base, "fuzz_carol"), Api(base, "fuzz_dave")

    image = api.call("POST", "/files", 201, files={"file": ("dot.png", image_bytes(size=(32, 24)), "image/png")})["id"]
    group = api.call("POST", "/groups", 201, json={"name": "Fuzz", "members": [str(bob.uuid)], "join_mode": "approval"})
    join = as_carol.call("POST", f"/groups/{group['id']}/join", 202, json={"message": "let me in"})["id"]
    invite = as_dave.call("POST", "/contact-requests", 201, json={"to": str(me.uuid)})["id"]
    direct = api.call("POST", "/conversations", 200, json={"peer": str(bob.uuid)})["id"]
    for text in ("hello", "quokka", "bye"):
        body = {"kind": "text", "content": text, "client_msg_id": str(uuid.uuid4())}
        api.call("POST", f"/conversations/{direct}/messages", 202, json=body)
    api.call(
        "POST",
        f"/conversations/{direct}/messages",
        202,
        json={"kind": "file", "file": image, "client_msg_id": str(uuid.uuid4())},
    )
    deadline = time.monotonic() + 20
    while len(messages := api.call("GET", f"/conversations/{direct}/messages", 200)["results"]) < 4:
        assert time.monotonic() < deadline, "the messages were not stored"
        time.sleep(0.2)
    return {
        "messages": [m["id"] for m in messages],
        "users": [str(u.uuid) for u in (bob, carol, dave, me)],
        "groups": [group["id"]],
        "conversations": [direct, group["conversation"]],
        "requests": [join, invite],
        "files": [image],
    }


# Where the world's ids go: (parameter, dictionary). A bound body field is
# put in every body that has it as an optional field, so fields that must not
# come together (`peer` and `group`, `file` in a text message) are left to
# the generated ids and the links schemathesis follows from answers.
BINDINGS = [
    ("path.user_id", "users"),
    ("path.group_id", "groups"),
    ("path.conversation_id", "conversations"),
    ("path.request_id", "requests"),
    ("path.file_id", "files"),
    ("query.conversation", "conversations"),
    ("body.to", "users"),
    ("body.user", "users"),
    ("body.users[*]", "users"),
    ("body.members[*]", "users"),
    ("body.avatar", "files"),
    ("path.message_id", "messages"),
    ("body.message", "messages"),
    ("body.reply_to", "messages"),
    ("body.forward_of", "messages"),
    ("body.bundle[*]", "messages"),
    ("body.mentions[*]", "users"),
]


def config_with(world: dict[str, list[str]], directory: Path) -> Path:
    """The repository's schemathesis.toml plus the world's ids, as dictionaries
    mixed into the ids the fuzzer generates."""
    config = tomllib.loads(CONFIG.read_text())
    config["dictionaries"] = {name: {"values": values} for name, values in world.items()}
    config.setdefault("parameters", {}).update(
        {key: {"dictionary": name, "probability": 0.5} for key, name in BINDINGS}
    )
    path = directory / "schemathesis.toml"
    path.write_text("".join(f"{key} = {_toml(value)}\n" for key, value in config.items()))
    return path


def _toml(value: object) -> str:
    """`value` as a one-line TOML value (a JSON string is a TOML basic string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict), value
    return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"


def schemathesis(base: str, config: Path, *, login: str, only: str | None = None, skip: str | None = None):
    """`st run` against the served schema as `login`; its exit code and report."""
    st = Path(sys.executable).with_name("st")
    args = [str(st), "--config-file", str(config), "--no-color", "run", f"{base}/api/schema/"]
    args += ["--max-examples", str(MAX_EXAMPLES), "--workers", "1", "--generation-database", "none"]
    if SEED:
        args += ["--seed", SEED]
    if only:
        args += ["--include-path-regex", only]
    if skip:
        args += ["--exclude-path-regex", skip]
    env = dict(os.environ, WSC_FUZZ_LOGIN=login, WSC_FUZZ_PASSWORD=PASSWORD)
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, cwd=config.parent)


@pytest.fixture(scope="module")
def fuzz_server(django_db_setup, django_db_blocker, tmp_path_factory):
    with serving("uvicorn", django_db_blocker, tmp_path_factory.mktemp("fuzz"), env=UNTHROTTLED) as served:
        yield served.url


@pytest.mark.timeout(600)
def test_the_api_answers_as_its_schema_says(fuzz_server, message_worker, tmp_path):
    world = build_world(fuzz_server)
    config = config_with(world, tmp_path)
    runs = {
        "as a user": schemathesis(fuzz_server, config, login="fuzz_me", skip="^/api/v1/admin/"),
        "as an administrator": schemathesis(fuzz_server, config, login="fuzz_admin", only="^/api/v1/admin/"),
    }
    failed = {who: run for who, run in runs.items() if run.returncode != 0}
    assert not failed, "\n\n".join(f"== schemathesis {who}:\n{run.stdout}{run.stderr}" for who, run in failed.items())


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# Cursors no list made: not base64, not JSON, not a list, the wrong number of
# keys, keys of the wrong type or out of any column's range.
HOSTILE_CURSORS = ["!", "=", "e30", "%%%", "\u00e9", "\x00"] + [
    _b64(value)
    for value in (
        "s", {"a": 1}, [], [None], ["x"], [1.5], [True], [-1], [0], [2**63], [2**64], [10**30], [[1], {}],
        [1, 2], [0, 0], [-1, -1], [1, "x"], ["x", "y"], [None, None], [2**63, 2**63],
        ["00000000-0000-0000-0000-000000000000"],
    )
]  # fmt: skip


def test_lists_refuse_cursors_they_did_not_make(fuzz_server, message_worker):
    """The fuzzer only asks for first pages (schemathesis.toml says why); here
    every list with a `cursor` gets hostile ones: 200, or 400 `invalid` naming
    `cursor`, never anything else."""
    world = build_world(fuzz_server)
    schema = httpx.get(f"{fuzz_server}/api/schema/", params={"format": "json"}).json()
    users = {"fuzz_me": Api(fuzz_server, "fuzz_me"), "fuzz_admin": Api(fuzz_server, "fuzz_admin")}
    wrong, lists = [], 0
    for path, operations in schema["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        if not any(p["name"] == "cursor" for p in parameters):
            continue
        lists += 1
        api = users["fuzz_admin" if path.startswith("/api/v1/admin/") else "fuzz_me"]
        url = (
            path.removeprefix("/api/v1")
            .replace("{group_id}", world["groups"][0])
            .replace("{message_id}", world["messages"][0])
        )
        # A required filter gets a value it takes: any text, or one emoji (who reacted).
        required = {
            p["name"]: ("👍" if p["name"] == "emoji" else "hello")
            for p in parameters
            if p["in"] == "query" and p.get("required")
        }
        for cursor in HOSTILE_CURSORS:
            r = api.http.get(f"/api/v1{url}", params={**required, "cursor": cursor})
            fine = r.status_code == 200 or (
                r.status_code == 400
                and r.json()["error"]["code"] == "invalid"
                and list(r.json()["error"]["fields"]) == ["cursor"]
            )
            if not fine:
                wrong.append(f"GET {path}?cursor={cursor!r}: {r.status_code} {r.text[:200]}")
    assert lists >= 10
    assert not wrong, "\n".join(wrong)
