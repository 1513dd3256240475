"""Baseline: a bare `websockets` relay of the same frames (no auth, no storage).

    python bench/baselines/ws_relay.py --port 9001

A client connects to /ws/?token=<name>; `message.send` with `conversation`
set to the recipient's name is answered with a `stored` ack to the sender and
`message.new` to every socket of the recipient. This is the Python ceiling
for the relay: everything the product adds (auth, checks, Kafka, MySQL, the
Redis fan-out) costs latency on top of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from collections import defaultdict
from urllib.parse import parse_qs, urlsplit

import websockets

sockets: dict[str, set] = defaultdict(set)
seqs: dict[tuple[str, str], int] = defaultdict(int)


async def handler(ws) -> None:
    name = parse_qs(urlsplit(ws.request.path).query).get("token", [""])[0]
    sockets[name].add(ws)
    try:
        await ws.send(json.dumps({"type": "hello", "user": {"id": name}}))
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "ping":
                await ws.send(json.dumps({"type": "pong", "ref": frame.get("ref")}))
                continue
            if frame.get("type") != "message.send":
                continue
            peer = frame["conversation"]
            key = tuple(sorted((name, peer)))
            seqs[key] += 1
            message = {
                "id": str(uuid.uuid4()),
                "conversation": peer,
                "seq": seqs[key],
                "sender": {"id": name},
                "kind": "text",
                "content": frame.get("content"),
                "client_msg_id": frame.get("client_msg_id"),
            }
            cmid = frame.get("client_msg_id")
            await ws.send(json.dumps({"type": "message.ack", "client_msg_id": cmid, "ref": cmid, "status": "accepted"}))
            await ws.send(
                json.dumps(
                    {"type": "message.ack", "client_msg_id": cmid, "ref": cmid, "status": "stored", "message": message}
                )
            )
            text = json.dumps({"type": "message.new", "message": message})
            websockets.broadcast(sockets.get(peer, ()), text)
    finally:
        sockets[name].discard(ws)


async def main(port: int) -> None:
    async with websockets.serve(handler, "127.0.0.1", port, compression=None, max_size=2**20):
        await asyncio.Future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(main(parser.parse_args().port))
