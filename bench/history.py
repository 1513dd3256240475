"""History pages over many messages: GET /conversations/{id}/messages?before=<seq>&limit=50.

    .venv/bin/python bench/history.py --messages 1000000 --rate 200 --seconds 20

Seeds `messages` messages (manage.py seed_history) into direct conversations,
then requests pages at `rate` per second (open loop) from random conversations
at random depths (deep pages included), over HTTP through the real server
with a Bearer token. Beside it, the floor: the same keyset query straight to
MariaDB with mysqlclient, no HTTP, no Django.

The load client speaks HTTP/1.1 itself over keep-alive connections (64 per
node; a request waits for a free one, and that wait counts in its time).
httpx, used before, cost ~3 ms of CPU per request on this box, as much as
the node serving it, and at 200 req/s it was the client that could not keep
up; `--client httpx` runs it again for comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
from hdrh.histogram import HdrHistogram

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack  # noqa: E402

SESSIONS = (
    "import django, json, sys\n"
    "django.setup()\n"
    "from accounts.models import User\n"
    "from accounts.actions.sessions import Client, start_session\n"
    "from contacts.models import Contact\n"
    "out = []\n"
    "for c in Contact.objects.filter(owner__username__startswith='bench_h').select_related('conversation', 'owner').order_by('id'):\n"
    "    if c.owner_id < c.other_id:\n"
    "        token = start_session(user=c.owner, client=Client(ip='127.0.0.1', device='bench')).tokens.access\n"
    "        out.append([token, str(c.conversation.uuid), c.conversation.last_seq, c.conversation_id])\n"
    "json.dump(out, sys.stdout)\n"
)


class _Connections:
    """Keep-alive HTTP/1.1 connections to one node, at most `size` open."""

    def __init__(self, base: str, size: int) -> None:
        url = urlsplit(base)
        self.host, self.port = url.hostname, url.port or 80
        self.free: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(None)  # a slot; the connection opens on first use

    async def get(self, path: str, token: str) -> tuple[int, bytes]:
        conn = await self.free.get()
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            reader, writer = conn
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n".encode()
            )
            status = int((await reader.readline()).split()[1])
            length, chunked, close = 0, False, False
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name, value = name.strip().lower(), value.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value:
                    chunked = True
                elif name == "connection" and value == "close":
                    close = True
            if chunked:
                parts = []
                while size := int((await reader.readline()).strip(), 16):
                    parts.append(await reader.readexactly(size + 2))
                await reader.readline()
                body = b"".join(p[:-2] for p in parts)
            else:
                body = await reader.readexactly(length)
            if close:
                writer.close()
                conn = None
            return status, body
        except BaseException:  # a timeout's cancellation too: a half-read answer spoils the connection
            if conn is not None:
                conn[1].close()
            conn = None
            raise
        finally:
            self.free.put_nowait(conn)

    async def close(self) -> None:
        while not self.free.empty():
            conn = self.free.get_nowait()
            if conn is not None:
                conn[1].close()


async def http_load(
    bases: list[str], targets: list, rate: float, seconds: float, client: str = "raw", endpoint: str = "history"
) -> dict:
    """Requests at `rate` per second (open loop), spread over the server nodes:
    history pages, or (`endpoint="me"`) the smallest authenticated request,
    `GET /api/v1/me`, to show what the framework costs without a page."""
    histogram = HdrHistogram(1, 60_000_000, 3)
    errors = 0
    if client == "httpx":
        pools = [httpx.AsyncClient(base_url=b, timeout=30, limits=httpx.Limits(max_connections=64)) for b in bases]
    else:
        pools = [_Connections(b, 64) for b in bases]

    async def fetch(n: int, path: str, token: str) -> tuple[int, bytes]:
        pool = pools[n % len(pools)]
        if client == "httpx":
            r = await pool.get(path, headers={"Authorization": f"Bearer {token}"})
            return r.status_code, r.content
        return await asyncio.wait_for(pool.get(path, token), 30)

    async def one(token, conversation, before, n):
        nonlocal errors
        started = time.perf_counter_ns()
        try:
            path = (
                "/api/v1/me"
                if endpoint == "me"
                else f"/api/v1/conversations/{conversation}/messages?before={before}&limit=50"
            )
            status, body = await fetch(n, path, token)
        except (TimeoutError, httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            # An overloaded stack shows up as errors in the table, not as a crashed benchmark.
            errors += 1
            return
        elapsed = (time.perf_counter_ns() - started) // 1000
        if status != 200 or (endpoint == "history" and len(orjson.loads(body)["results"]) == 0):
            errors += 1
        histogram.record_value(max(1, elapsed))

    tasks = []
    try:
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            token, conversation, last_seq, _ = random.choice(targets)
            before = random.randint(52, last_seq + 1)
            tasks.append(asyncio.create_task(one(token, conversation, before, n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    finally:
        for pool in pools:
            await (pool.aclose() if client == "httpx" else pool.close())
    return {"histogram": histogram, "errors": errors, "throughput": len(tasks) / elapsed}


def sql_floor(env: dict, targets: list, count: int) -> HdrHistogram:
    from urllib.parse import urlsplit

    import MySQLdb

    url = urlsplit(env["DATABASE_URL"])
    db = MySQLdb.connect(
        host=url.hostname,
        port=url.port or 3306,
        user=url.username or "root",
        passwd=url.password or "",
        db=url.path.lstrip("/"),
        charset="utf8mb4",
    )
    cursor = db.cursor()
    histogram = HdrHistogram(1, 60_000_000, 3)
    for _ in range(count):
        _, _, last_seq, conv_id = random.choice(targets)
        before = random.randint(52, last_seq + 1)
        started = time.perf_counter_ns()
        cursor.execute(
            "SELECT * FROM conversations_message FORCE INDEX (message_seq_unique) WHERE conversation_id = %s AND seq < %s ORDER BY seq DESC LIMIT 51",
            (conv_id, before),
        )
        cursor.fetchall()
        histogram.record_value(max(1, (time.perf_counter_ns() - started) // 1000))
    db.close()
    return histogram


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    parser.add_argument("--nodes", type=int, default=2, help="server processes the requests are spread over")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="the load client (see above)")
    parser.add_argument(
        "--endpoint",
        choices=["history", "me"],
        default="history",
        help="`me`: GET /api/v1/me instead, the framework's cost (auth, middleware, DRF, ASGI) without a page",
    )
    args = parser.parse_args()
    with stack.start("kafka", server=args.server, nodes=args.nodes) as target:
        started = time.monotonic()
        stack.manage(target.env, "seed_history", "--messages", str(args.messages), "--users", str(args.users))
        seed_s = time.monotonic() - started
        targets = json.loads(target._django(SESSIONS))
        bases = [url.replace("ws://", "http://").removesuffix("/ws/") for url in target.urls]
        stack.settle()
        watched = {**target.processes(), **stack.infra_pids()}
        before = {k: stack.cpu_seconds(pid) for k, pid in watched.items()}
        import resource

        client0 = resource.getrusage(resource.RUSAGE_SELF)
        result = asyncio.run(http_load(bases, targets, args.rate, args.seconds, args.client, args.endpoint))
        client1 = resource.getrusage(resource.RUSAGE_SELF)
        after = {k: stack.cpu_seconds(pid) for k, pid in watched.items()}
        requests = result["throughput"] * args.seconds
        cpu = {k: round(1000 * (after[k] - before[k]) / max(1, requests), 2) for k in before}
        cpu["client"] = round(
            1000 * ((client1.ru_utime + client1.ru_stime) - (client0.ru_utime + client0.ru_stime)) / max(1, requests), 2
        )
        floor = sql_floor(target.env, targets, 2000)
    h = result["histogram"]
    print("| scenario | target | rate | p50 ms | p99 ms | p99.9 ms | max ms | req/s | errors |")
    print("|---|---|---|---|---|---|---|---|---|")
    scenario = "GET /api/v1/me (no page)" if args.endpoint == "me" else f"history page (50 of {args.messages} messages)"
    print(
        f"| {scenario} | kafka stack, {args.server}, {args.nodes} node(s), {args.client} client | {args.rate:.0f}/s | "
        f"{h.get_value_at_percentile(50) / 1000:.1f} | {h.get_value_at_percentile(99) / 1000:.1f} | "
        f"{h.get_value_at_percentile(99.9) / 1000:.1f} | {h.get_max_value() / 1000:.1f} | {result['throughput']:.0f} | {result['errors']} |"
    )
    print(
        f"| floor: the same keyset query, mysqlclient | MariaDB | sequential | {floor.get_value_at_percentile(50) / 1000:.2f} | "
        f"{floor.get_value_at_percentile(99) / 1000:.2f} | {floor.get_value_at_percentile(99.9) / 1000:.2f} | {floor.get_max_value() / 1000:.2f} | - | 0 |"
    )
    print(f"CPU ms per request by process: {cpu}")
    print(f"seeding {args.messages} messages took {seed_s:.0f} s")
    print(f"versions: {stack.versions()}")


if __name__ == "__main__":
    main()
