"""Many clients reconnecting at once (a server restart) and catching up with `sync`.

    .venv/bin/python bench/reconnect_sync.py --clients 5000 --missed 20 --nodes 2

`clients` users in pairs, each pair with a conversation holding `missed`
messages they have not read. All clients connect at once (at most
`in-flight` handshakes at a time), send `sync` with no cursors, and count the
`message.new` frames until `sync.done`. Reports the time until the last
client is caught up, failures, and messages received against expected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
import stack  # noqa: E402

TOKENS = (
    "import django, json, sys\n"
    "django.setup()\n"
    "from datetime import timedelta\n"
    "from django.utils import timezone\n"
    "from accounts.models import User, LoginSession\n"
    "from accounts import tokens\n"
    "users = list(User.objects.filter(username__startswith='bench_h').order_by('id'))\n"
    "now = timezone.now()\n"
    "LoginSession.objects.bulk_create([LoginSession(user=u, device='bench', created_at=now, last_seen_at=now, expires_at=now + timedelta(days=1)) for u in users], batch_size=1000)\n"
    "sessions = list(LoginSession.objects.filter(user__in=users).select_related('user').order_by('id'))\n"
    "json.dump([tokens.issue(s).access for s in sessions], sys.stdout)\n"
)


async def _catch_up(jobs: list[tuple[str, str]], in_flight: int, start_at: float) -> dict:
    sem = asyncio.Semaphore(in_flight)
    received = failures = 0
    done_at: list[float] = []
    while time.time() < start_at:
        await asyncio.sleep(0.01)
    started = time.perf_counter()

    async def one(url: str, token: str) -> None:
        nonlocal received, failures
        async with sem:
            try:
                ws = await websockets.connect(
                    f"{url}?token={token}", compression=None, open_timeout=60, ping_interval=None, max_size=2**22
                )
            except Exception:
                failures += 1
                return
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert hello["type"] == "hello"
            await ws.send(json.dumps({"type": "sync", "cursors": {}}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if frame["type"] == "message.new":
                    received += 1
                elif frame["type"] == "sync.done":
                    done_at.append(time.perf_counter() - started)
                    break
        except Exception:
            failures += 1
        finally:
            await ws.close()

    await asyncio.gather(*(one(url, token) for url, token in jobs))
    return {"received": received, "failures": failures, "done": done_at}


def _client(jobs, in_flight, start_at, queue) -> None:
    try:
        result = asyncio.run(_catch_up(jobs, in_flight, start_at))
        result["cpu"] = time.process_time()
        queue.put(("ok", result))
    except Exception as exc:
        queue.put(("error", repr(exc)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--missed", type=int, default=20, help="messages per conversation")
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--in-flight", type=int, default=400)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    args = parser.parse_args()
    users = args.clients + args.clients % 2
    with stack.start("kafka", nodes=args.nodes, server=args.server) as target:
        stack.manage(target.env, "seed_history", "--messages", str(users // 2 * args.missed), "--users", str(users))
        tokens = json.loads(target._django(TOKENS))[: args.clients]
        urls = target.urls
        jobs = [(urls[n % len(urls)], token) for n, token in enumerate(tokens)]
        stack.settle()
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        start_at = time.time() + 2
        procs = [
            ctx.Process(
                target=_client,
                args=(jobs[p :: args.processes], max(1, args.in_flight // args.processes), start_at, queue),
                daemon=True,
            )
            for p in range(args.processes)
        ]
        watched = {**target.processes(), **stack.infra_pids()}
        before = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
        for proc in procs:
            proc.start()
        parts = loadgen.collect(procs, queue, 900)
        after = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
    done = sorted(t for part in parts for t in part["done"])
    received = sum(part["received"] for part in parts)
    expected = args.clients * args.missed
    print("| scenario | target | clients | all caught up (s) | median (s) | failures | messages received/expected |")
    print("|---|---|---|---|---|---|---|")
    print(
        f"| reconnect + sync | kafka ({args.server}, {args.nodes} node(s)) | {args.clients} | {done[-1] if done else float('nan'):.1f} | "
        f"{done[len(done) // 2] if done else float('nan'):.1f} | {sum(part['failures'] for part in parts)} | {received}/{expected} |"
    )
    cpu = {name: after[name] - before[name] for name in watched}
    cpu["clients"] = sum(part["cpu"] for part in parts)
    print("CPU seconds during the run: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
    print(f"versions: {stack.versions()}")


if __name__ == "__main__":
    main()
