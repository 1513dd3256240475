"""1:1 end-to-end latency: sender's `message.send` → recipient's `message.new`.

    .venv/bin/python bench/latency_1to1.py --mode embedded --rate 200 --seconds 20
    .venv/bin/python bench/latency_1to1.py --mode kafka --rate 200 --seconds 20

`pairs` pairs of contacts each hold one socket per user; the senders share
`rate` messages per second on a fixed schedule (open loop: a slow server
builds a backlog and shows it as latency, it does not slow the sender).
Each message carries its send time; the recipient records now − sent.
Prints one table row: p50/p99/p99.9/max, throughput, errors, lost, duplicated.
Client and server share this machine's 2 cores: client CPU is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
import uuid
from pathlib import Path

import websockets
from hdrh.histogram import HdrHistogram

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack  # noqa: E402


async def run(base: str, pairs: list[dict], rate: float, seconds: float) -> dict:
    ws_base = base.replace("http://", "ws://") + "/ws/?token="
    histogram = HdrHistogram(1, 60_000_000, 3)  # microseconds
    sent: dict[str, int] = {}
    received: dict[str, int] = {}
    errors = 0
    done = asyncio.Event()

    senders, receivers = [], []
    for pair in pairs:
        senders.append(await websockets.connect(ws_base + pair["a"], max_size=2**22, compression=None))
        receivers.append(await websockets.connect(ws_base + pair["b"], max_size=2**22, compression=None))
    for ws in senders + receivers:
        json.loads(await ws.recv())  # hello

    async def receive(ws):
        nonlocal errors
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "message.new":
                now = time.time_ns()
                content = frame["message"]["content"]
                cmid = frame["message"]["client_msg_id"]
                received[cmid] = received.get(cmid, 0) + 1
                if received[cmid] == 1:
                    histogram.record_value(max(1, (now - int(content.split(":", 1)[0])) // 1000))
                if len(received) >= len(sent) and done.is_set():
                    return

    async def drain_sender(ws):
        nonlocal errors
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "error":
                errors += 1

    tasks = [asyncio.create_task(receive(ws)) for ws in receivers] + [
        asyncio.create_task(drain_sender(ws)) for ws in senders
    ]
    interval = 1.0 / rate
    total = int(rate * seconds)
    start = time.perf_counter()
    cpu_start = resource.getrusage(resource.RUSAGE_SELF)
    for n in range(total):
        target = start + n * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        k = n % len(pairs)
        cmid = str(uuid.uuid4())
        sent[cmid] = time.time_ns()
        await senders[k].send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": cmid,
                    "conversation": pairs[k]["conversation"],
                    "kind": "text",
                    "content": f"{sent[cmid]}:bench message {n}",
                }
            )
        )
    send_elapsed = time.perf_counter() - start
    done.set()
    deadline = time.monotonic() + 30
    while len(received) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    cpu_end = resource.getrusage(resource.RUSAGE_SELF)
    for task in tasks:
        task.cancel()
    for ws in senders + receivers:
        await ws.close()
    client_cpu = (cpu_end.ru_utime + cpu_end.ru_stime) - (cpu_start.ru_utime + cpu_start.ru_stime)
    return {
        "sent": len(sent),
        "received": len(received),
        "lost": len(sent) - len(received),
        "duplicated": sum(1 for c in received.values() if c > 1),
        "errors": errors,
        "p50_ms": histogram.get_value_at_percentile(50) / 1000,
        "p99_ms": histogram.get_value_at_percentile(99) / 1000,
        "p999_ms": histogram.get_value_at_percentile(99.9) / 1000,
        "max_ms": histogram.get_max_value() / 1000,
        "offered_rate": rate,
        "send_rate": len(sent) / send_elapsed,
        "throughput": len(received) / elapsed,
        "client_cpu_pct": 100 * client_cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["embedded", "kafka"], default="embedded")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with stack.stack(args.mode, workers=args.workers, server=args.server) as (base, env, procs):
        pairs = stack.seed_pairs(env, args.pairs)
        before = {p.pid: stack.cpu_seconds(p.pid) for p in procs}
        result = asyncio.run(run(base, pairs, args.rate, args.seconds))
        after = {p.pid: stack.cpu_seconds(p.pid) for p in procs}
    # CPU each server-side process spent per delivered message (robust to other load on the box).
    names = (["worker"] * (len(procs) - 1)) + ["server"]
    result["cpu_ms_per_msg"] = {
        f"{name}{n}": round(1000 * (after[p.pid] - before[p.pid]) / max(1, result["received"]), 3)
        for n, (name, p) in enumerate(zip(names, procs, strict=True))
    }
    row = (
        f"| 1:1 {args.mode} ({args.server}) | {args.rate:.0f}/s | {result['p50_ms']:.1f} | {result['p99_ms']:.1f} | "
        f"{result['p999_ms']:.1f} | {result['max_ms']:.1f} | {result['throughput']:.0f}/s | {result['errors']} | "
        f"{result['lost']} | {result['duplicated']} | {result['client_cpu_pct']:.0f}% |"
    )
    print("| scenario | offered | p50 ms | p99 ms | p99.9 ms | max ms | delivered | errors | lost | dup | client CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(row)
    print(f"server-side CPU per message (ms): {result['cpu_ms_per_msg']}")
    print(f"versions: {stack.versions()}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
