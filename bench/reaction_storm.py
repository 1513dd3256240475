"""A reaction storm and edits in a big group: latency to the LAST member.

    .venv/bin/python bench/reaction_storm.py --members 500 --rate 50 --seconds 20 --edits 10

Every member holds one socket (spread over the client processes and the
server nodes). The owner posts one message; then `reactors` members react
to it, `rate` reactions per second in all (add, then remove, cycling through
a few emoji; each reactor stays under the 5-changes-per-10-s limit), and the
owner edits it `edits` times, one per second. The socket that reacted learns
the reaction event's `seq` from the `message.reactions` answering it (its
`ref`); every member records when the `message.reactions` standing for that
`seq` (in its `seqs`: a burst is told together, REACTIONS_COALESCE_MS) or the
`message.edited` with it came. Per change: the time from sending it to the last member
holding it, and how many members got it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
import stack  # noqa: E402

EMOJI = ["👍", "❤️", "😂", "🎉", "👀"]


async def _storm(
    barrier,
    tag: int,
    members: list[tuple[str, str]],
    reactors: int,
    owner: tuple[str, str] | None,
    message_id: str,
    rate: float,
    seconds: float,
    edits: int,
    drain_s: float,
) -> dict:
    """One client process: some members' sockets, the first `reactors` of
    which react at `rate` per second in all; the owner's socket if given."""
    sockets = [await loadgen.connect(url, token) for url, token in members]
    owner_ws = await loadgen.connect(*owner) if owner else None
    # Every process has all its sockets open before anyone changes anything.
    await asyncio.to_thread(barrier.wait, 600)
    sent: dict[str, int] = {}  # ref -> send time (ns)
    seq_of: dict[str, int] = {}  # ref -> the event's seq, from the answer carrying the ref
    last: dict[int, int] = {}  # seq -> when the last of our sockets got it (ns)
    counts: dict[int, int] = {}  # seq -> how many of our sockets got it
    kinds: dict[int, str] = {}
    errors: list[str] = []
    frames = 0

    async def receive(ws) -> None:
        nonlocal frames
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind in ("message.reactions", "message.edited"):
                    now = time.time_ns()
                    if frame.get("ref"):
                        seq_of[frame["ref"]] = frame["seq"]
                        if kind == "message.reactions":
                            continue  # the asker's answer; its socket also gets the members' frame
                    frames += 1
                    # A members' reactions frame stands for every event seq in `seqs` (a burst told together).
                    for seq in frame.get("seqs") or [frame["seq"]]:
                        counts[seq] = counts.get(seq, 0) + 1
                        last[seq] = max(last.get(seq, 0), now)
                        kinds[seq] = kind
                elif kind == "error":
                    errors.append(frame.get("code"))
        except websockets.ConnectionClosed:
            pass

    everyone = sockets + ([owner_ws] if owner_ws else [])
    tasks = [asyncio.create_task(receive(ws)) for ws in everyone]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()

    async def react() -> None:
        held: dict[int, set[str]] = {}
        total = int(rate * seconds)
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            who = n % reactors
            mine = held.setdefault(who, set())
            emoji = EMOJI[(n // reactors) % len(EMOJI)]
            op = "remove" if emoji in mine else "add"
            (mine.discard if op == "remove" else mine.add)(emoji)
            ref = f"r{tag}-{n}"
            sent[ref] = time.time_ns()
            await sockets[who].send(
                json.dumps({"type": "message.react", "message": message_id, "emoji": emoji, "op": op, "ref": ref})
            )

    async def edit() -> None:
        for n in range(edits):
            delay = start + n - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            ref = f"e{n}"
            sent[ref] = time.time_ns()
            await owner_ws.send(
                json.dumps({"type": "message.edit", "message": message_id, "content": f"edit {n}", "ref": ref})
            )

    jobs = [react()] if reactors and rate else []
    if owner_ws is not None and edits:
        jobs.append(edit())
    await asyncio.gather(*jobs)
    deadline = time.monotonic() + drain_s
    while time.monotonic() < deadline and len(seq_of) < len(sent):
        await asyncio.sleep(0.05)
    await asyncio.sleep(min(drain_s, 3.0))  # the last members' frames
    elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for task in tasks:
        task.cancel()
    for ws in everyone:
        await ws.close()
    return {
        "sent": sent,
        "seq_of": seq_of,
        "last": last,
        "counts": counts,
        "kinds": kinds,
        "errors": errors,
        "frames": frames,
        "elapsed": elapsed,
        "cpu": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
    }


def _worker(args: tuple, queue: mp.Queue, barrier) -> None:
    try:
        queue.put(("ok", asyncio.run(_storm(barrier, *args))))
    except Exception as exc:
        queue.put(("error", repr(exc)))


async def _post(owner: tuple[str, str], conversation: str) -> str:
    ws = await loadgen.connect(*owner)
    await ws.send(
        json.dumps(
            {
                "type": "message.send",
                "client_msg_id": "7e1f0c1e-0000-4000-8000-000000000001",
                "conversation": conversation,
                "kind": "text",
                "content": "react to me",
            }
        )
    )
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == "message.ack" and frame.get("status") == "stored":
            await ws.close()
            return frame["message"]["id"]


def _summary(values_ms: list[float]) -> tuple[float, float, float]:
    if not values_ms:
        return (0.0, 0.0, 0.0)
    values = sorted(values_ms)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
    return pick(0.50), pick(0.99), values[-1]


def measure(
    *,
    members: int,
    reactors: int,
    rate: float,
    seconds: float,
    edits: int,
    clients: int,
    nodes: int,
    workers: int,
    server: str,
) -> dict:
    with stack.start("kafka", nodes=nodes, workers=workers, server=server) as target:
        conversation, tokens = target.seed_group(members)
        urls = target.urls
        owner = (urls[0], tokens[0])
        message_id = asyncio.run(_post(owner, conversation))
        others = [(urls[(n + 1) % len(urls)], token) for n, token in enumerate(tokens[1:])]
        ctx = mp.get_context("fork")
        queue: mp.Queue = ctx.Queue()
        barrier = ctx.Barrier(clients)
        procs = []
        for p in range(clients):
            share = others[p::clients]
            mine = len(range(p, reactors, clients))
            args = (p, share, mine, owner if p == 0 else None, message_id, rate * mine / reactors, seconds, edits, 30.0)
            proc = ctx.Process(target=_worker, args=(args, queue, barrier), daemon=True)
            proc.start()
            procs.append(proc)
        before = {name: stack.cpu_seconds(pid) for name, pid in target.processes().items()}
        parts = loadgen.collect(procs, queue, seconds + 120)
        after = {name: stack.cpu_seconds(pid) for name, pid in target.processes().items()}
    sent = {ref: t for part in parts for ref, t in part["sent"].items()}
    seq_of = {ref: s for part in parts for ref, s in part["seq_of"].items()}
    counts: dict[int, int] = {}
    last: dict[int, int] = {}
    kinds: dict[int, str] = {}
    for part in parts:
        for seq, n in part["counts"].items():
            counts[seq] = counts.get(seq, 0) + n
        for seq, t in part["last"].items():
            last[seq] = max(last.get(seq, 0), t)
        kinds.update(part["kinds"])
    expected = members  # every member's socket, the owner's included
    rows = {}
    for label, prefix in (("reactions", "r"), ("edits", "e")):
        refs = [ref for ref in sent if ref.startswith(prefix)]
        answered = [ref for ref in refs if ref in seq_of]
        complete = [ref for ref in answered if counts.get(seq_of[ref], 0) >= expected]
        latencies = [(last[seq_of[ref]] - sent[ref]) / 1e6 for ref in complete]
        p50, p99, worst = _summary(latencies)
        rows[label] = {
            "sent": len(refs),
            "answered": len(answered),
            "complete": len(complete),
            "short": sum(max(0, expected - counts.get(seq_of[ref], 0)) for ref in answered),
            "p50_ms": p50,
            "p99_ms": p99,
            "max_ms": worst,
        }
    elapsed = max(part["elapsed"] for part in parts)
    frames = sum(part["frames"] for part in parts)
    return {
        "rows": rows,
        "frames_per_s": frames / elapsed if elapsed else 0.0,
        "errors": [e for part in parts for e in part["errors"]],
        "server_cpu_pct": {k: round(100 * (after[k] - before[k]) / elapsed, 1) for k in before},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--reactors", type=int, default=200, help="members who react (each ≤ 5 changes per 10 s)")
    parser.add_argument("--rate", type=float, default=50, help="reactions per second, in all")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--edits", type=int, default=10, help="edits of the message by its sender, one per second")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    args = parser.parse_args()
    result = measure(
        members=args.members,
        reactors=min(args.reactors, args.members - 1),
        rate=args.rate,
        seconds=args.seconds,
        edits=args.edits,
        clients=args.clients,
        nodes=args.nodes,
        workers=args.workers,
        server=args.server,
    )
    print(
        "| scenario (change) | group | rate | sent | answered | reached every member | missing deliveries | last member p50 / p99 / max ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, row in result["rows"].items():
        rate = f"{args.rate:g}/s" if label == "reactions" else "1/s"
        print(
            f"| {label} | {args.members} ({args.nodes} node(s), {args.server}) | {rate} | {row['sent']} | {row['answered']} | "
            f"{row['complete']} | {row['short']} | {row['p50_ms']:.0f} / {row['p99_ms']:.0f} / {row['max_ms']:.0f} |"
        )
    print(
        f"frames to members/s: {result['frames_per_s']:.0f}; errors: {sorted(set(result['errors']))}; "
        f"server CPU %: {result['server_cpu_pct']}"
    )
    print(f"versions: {stack.versions()}")


if __name__ == "__main__":
    main()
