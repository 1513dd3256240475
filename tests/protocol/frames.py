"""Frames checked against docs/protocol/asyncapi.yaml.

The shared test clients (the `WS` of the root conftest.py and
tests/client.py's `ChatClient`) call `check_server_frame` on every frame they
receive and `check_client_frame` on the frames they send, so every frame the
suite really exchanges is held against the published schemas.

A message of the document is found by its direction (the operation `send`
holds the client frames, `receive` the server frames) and its `name`, which
is the frame's `type`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "asyncapi.yaml"
BASE = "urn:websocketchat:asyncapi"

CLIENT, SERVER = "send", "receive"


class FrameMismatch(AssertionError):
    """A frame that does not match the published protocol."""


@functools.cache
def document() -> dict[str, Any]:
    with DOCUMENT.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def resolve(ref: str) -> Any:
    """The object a local `$ref` ("#/a/b") points to in the document."""
    assert ref.startswith("#/"), ref
    node: Any = document()
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@functools.cache
def message_keys(direction: str) -> dict[str, str]:
    """Frame type → the key of its message under components/messages, for
    the operation `send` (client frames) or `receive` (server frames)."""
    out: dict[str, str] = {}
    for ref in document()["operations"][direction]["messages"]:
        channel_message = resolve(ref["$ref"])
        key = channel_message["$ref"].rsplit("/", 1)[-1]
        out[resolve(channel_message["$ref"])["name"]] = key
    return out


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource(BASE, Resource.from_contents(document(), default_specification=DRAFT7))


@functools.cache
def validator(direction: str, frame_type: str) -> Draft7Validator | None:
    key = message_keys(direction).get(frame_type)
    if key is None:
        return None
    return Draft7Validator({"$ref": f"{BASE}#/components/messages/{key}/payload"}, registry=_registry())


def problems(direction: str, frame: object) -> list[str]:
    """What is wrong with `frame` for `direction` (empty when it matches)."""
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return ["not a JSON object with a string `type`"]
    check = validator(direction, frame["type"])
    if check is None:
        return [
            f"no {'client' if direction == CLIENT else 'server'} frame of type {frame['type']!r} in {DOCUMENT.name}"
        ]
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(frame)'}: {error.message[:300]}"
        for error in sorted(check.iter_errors(frame), key=lambda e: list(map(str, e.absolute_path)))
    ]


def _raise(direction: str, frame: object, found: list[str]) -> None:
    who = "client → server" if direction == CLIENT else "server → client"
    text = repr(frame)
    if len(text) > 2000:
        text = text[:2000] + "…"
    raise FrameMismatch(f"{who} frame does not match {DOCUMENT.name}:\n  " + "\n  ".join(found) + f"\nframe: {text}")


def check_server_frame(frame: object) -> None:
    """Raise FrameMismatch unless `frame` is a server frame the document describes."""
    found = problems(SERVER, frame)
    if found:
        _raise(SERVER, frame, found)


def check_client_frame(frame: object) -> None:
    """Raise FrameMismatch unless `frame` is a client frame the document describes."""
    found = problems(CLIENT, frame)
    if found:
        _raise(CLIENT, frame, found)


def is_client_type(frame: object) -> bool:
    return isinstance(frame, dict) and frame.get("type") in message_keys(CLIENT)


def check_frame(direction: str, frame: object) -> None:
    """`check_client_frame` for "send", `check_server_frame` for "receive"."""
    if direction == CLIENT:
        check_client_frame(frame)
    else:
        check_server_frame(frame)
