"""Connections: idle capacity (memory and CPU per idle socket) and a connect/disconnect storm.

    .venv/bin/python bench/connections.py idle --targets ws-relay,kafka --sockets 20000 --nodes 2
    .venv/bin/python bench/connections.py storm --targets kafka --sockets 2000 --in-flight 200

idle: `sockets` authenticated sockets (users × sockets_per_user) spread over the
server nodes; RSS growth per socket on each node, and the servers' CPU while
the sockets sit idle (heartbeats only) for `--idle-seconds`.
storm: `sockets` connects with `in-flight` handshakes at a time; time until the
last `hello`, failures, then all disconnect; Redis client connections before,
during and after (they must come back to the baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import sys
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
import stack  # noqa: E402


async def _hold(jobs: list[tuple[str, str]], in_flight: int, hold_s: float, ready, release) -> dict:
    sem = asyncio.Semaphore(in_flight)
    sockets, failures = [], 0
    started = time.perf_counter()

    async def one(url: str, token: str):
        nonlocal failures
        async with sem:
            try:
                ws = await websockets.connect(
                    f"{url}?token={token}", compression=None, open_timeout=60, ping_interval=None, max_size=2**20
                )
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame.get("type") != "hello":
                    failures += 1
                    await ws.close()
                    return
                sockets.append(ws)
            except Exception:
                failures += 1

    await asyncio.gather(*(one(url, token) for url, token in jobs))
    connect_s = time.perf_counter() - started
    ready.set()
    while not release.is_set():
        await asyncio.sleep(0.1)
    started = time.perf_counter()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return {
        "connected": len(sockets),
        "failures": failures,
        "connect_s": connect_s,
        "close_s": time.perf_counter() - started,
    }


def _client(jobs, in_flight, hold_s, ready, release, queue) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        queue.put(("ok", asyncio.run(_hold(jobs, in_flight, hold_s, ready, release))))
    except Exception as exc:
        queue.put(("error", repr(exc)))


def redis_clients() -> int:
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    return int(client.info("clients")["connected_clients"])


def run(
    kind: str,
    mode: str,
    *,
    sockets: int,
    per_user: int,
    nodes: int,
    clients: int,
    in_flight: int,
    idle_s: float,
    server: str,
) -> dict:
    with stack.start(kind, nodes=nodes, workers=1, server=server) as target:
        users = target.seed_users(math.ceil(sockets / per_user))
        urls = target.urls
        jobs = [(urls[n % len(urls)], users[n % len(users)]) for n in range(sockets)]
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        ready_events = [ctx.Event() for _ in range(clients)]
        release = ctx.Event()
        servers = {f"server{n}": p.pid for n, p in enumerate(target.servers)}
        time.sleep(1)
        rss0 = {k: stack.rss_bytes(pid) for k, pid in servers.items()}
        redis0 = redis_clients()
        started = time.perf_counter()
        procs = []
        for c in range(clients):
            proc = ctx.Process(
                target=_client,
                args=(jobs[c::clients], max(1, in_flight // clients), idle_s, ready_events[c], release, queue),
                daemon=True,
            )
            proc.start()
            procs.append(proc)
        for event in ready_events:
            event.wait(timeout=600)
        connect_all_s = time.perf_counter() - started
        redis_peak = redis_clients()
        time.sleep(2)
        rss1 = {k: stack.rss_bytes(pid) for k, pid in servers.items()}
        cpu0 = {k: stack.cpu_seconds(pid) for k, pid in target.processes().items()}
        time.sleep(idle_s)
        cpu1 = {k: stack.cpu_seconds(pid) for k, pid in target.processes().items()}
        release.set()
        parts = loadgen.collect(procs, queue, 600)
        time.sleep(3)
        redis1 = redis_clients()
    connected = sum(p["connected"] for p in parts)
    per_node = connected / len(servers)
    return {
        "target": kind,
        "mode": mode,
        "sockets": sockets,
        "connected": connected,
        "failures": sum(p["failures"] for p in parts),
        "connect_all_s": round(connect_all_s, 2),
        "close_s": round(max(p["close_s"] for p in parts), 2),
        "rss_per_socket_kb": {k: round((rss1[k] - rss0[k]) / per_node / 1024, 1) for k in servers},
        "idle_cpu_pct": {k: round(100 * (cpu1[k] - cpu0[k]) / idle_s, 1) for k in cpu0},
        "redis_clients": f"{redis0} → {redis_peak} → {redis1}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["idle", "storm"])
    parser.add_argument("--targets", default="kafka")
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--per-user", type=int, default=10, help="sockets per user")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    args = parser.parse_args()
    print(
        "| scenario | target | sockets | connected | failures | connect all (s) | close (s) | RSS/socket KB | idle CPU % | Redis clients |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in args.targets.split(","):
        row = run(
            kind.strip(),
            args.mode,
            sockets=args.sockets,
            per_user=args.per_user,
            nodes=args.nodes,
            clients=args.clients,
            in_flight=args.in_flight,
            idle_s=args.idle_seconds if args.mode == "idle" else 2,
            server=args.server,
        )
        print(
            f"| {args.mode} | {row['target']} ({args.server}, {args.nodes} node(s)) | {row['sockets']} | {row['connected']} | {row['failures']} | "
            f"{row['connect_all_s']} | {row['close_s']} | {row['rss_per_socket_kb']} | {row['idle_cpu_pct']} | {row['redis_clients']} |",
            flush=True,
        )
    print(f"versions: {stack.versions()}")


if __name__ == "__main__":
    main()
