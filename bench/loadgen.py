"""The load generator: asyncio WebSocket clients in several processes.

Speaks the contract (hello, message.send with client_msg_id, acks,
message.new). Every message carries its send time (ns) in its text; the
receiving client records now − sent in an HdrHistogram (microseconds) and
counts what arrived, lost and duplicated by client_msg_id. Histograms from
the processes are merged in the parent.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field

import websockets
from hdrh.histogram import HdrHistogram

HIST_MAX_US = 120_000_000
# BENCH_TRACE=<file>: every delivery's send time (ns) and latency (us), for finding stalls.
TRACE = open(os.environ["BENCH_TRACE"], "a") if os.environ.get("BENCH_TRACE") else None  # noqa: SIM115


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIST_MAX_US, 3)


@dataclass
class Result:
    sent: int = 0
    received: int = 0  # distinct messages that reached every intended recipient socket at least once
    deliveries: int = 0  # message.new frames received (all recipients)
    duplicated: int = 0
    errors: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    histogram: HdrHistogram = field(default_factory=new_histogram)
    extra: dict = field(default_factory=dict)

    def merge(self, other: Result) -> None:
        self.sent += other.sent
        self.received += other.received
        self.deliveries += other.deliveries
        self.duplicated += other.duplicated
        self.errors += other.errors
        self.elapsed = max(self.elapsed, other.elapsed)
        self.client_cpu += other.client_cpu
        self.histogram.add(other.histogram)
        for key, value in other.extra.items():
            self.extra[key] = self.extra.get(key, 0) + value

    def row(self) -> dict:
        h = self.histogram
        return {
            "sent": self.sent,
            "received": self.received,
            "deliveries": self.deliveries,
            "lost": self.sent - self.received,
            "duplicated": self.duplicated,
            "errors": self.errors,
            "p50_ms": h.get_value_at_percentile(50) / 1000,
            "p99_ms": h.get_value_at_percentile(99) / 1000,
            "p999_ms": h.get_value_at_percentile(99.9) / 1000,
            "max_ms": h.get_max_value() / 1000,
            "throughput": self.received / self.elapsed if self.elapsed else 0.0,
            "deliveries_per_s": self.deliveries / self.elapsed if self.elapsed else 0.0,
            "client_cpu_pct": 100 * self.client_cpu / self.elapsed if self.elapsed else 0.0,
            **self.extra,
        }


async def connect(url: str, token: str):
    ws = await websockets.connect(
        f"{url}?token={token}", max_size=2**22, compression=None, open_timeout=60, ping_interval=None
    )
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws


# --------------------------------------------------------------------------- 1:1 and group sends


async def _send_load(
    senders: list[tuple[str, str, str]],
    receivers: list[tuple[str, str]],
    rate: float,
    seconds: float,
    drain_s: float,
) -> Result:
    """1:1: sender i (url, token, conversation) sends to conversation i, whose
    other member is receiver i (url, token); senders take turns at `rate`
    messages per second in all (open loop)."""
    result = Result()
    send_sockets = [await connect(url, token) for url, token, _ in senders]
    recv_sockets = [await connect(url, token) for url, token in receivers]
    sent_at: dict[str, int] = {}
    seen: dict[str, int] = {}

    async def receive(ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") != "message.new":
                    continue
                now = time.time_ns()
                message = frame["message"]
                cmid = message.get("client_msg_id")
                if cmid is None:
                    continue
                result.deliveries += 1
                count = seen.get(cmid, 0) + 1
                seen[cmid] = count
                content = message.get("content") or ""
                stamp = content.split(":", 1)[0]
                if stamp.isdigit():
                    result.histogram.record_value(max(1, min(HIST_MAX_US, (now - int(stamp)) // 1000)))
                    if TRACE is not None:
                        TRACE.write(f"{stamp} {(now - int(stamp)) // 1000}\n")
        except websockets.ConnectionClosed:
            pass

    async def drain(ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") == "error":
                    result.errors += 1
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(receive(ws)) for ws in recv_sockets] + [
        asyncio.create_task(drain(ws)) for ws in send_sockets
    ]
    interval = 1.0 / rate if rate > 0 else 0
    total = int(rate * seconds)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for n in range(total):
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        k = n % len(senders)
        cmid = str(uuid.uuid4())
        sent_at[cmid] = time.time_ns()
        await send_sockets[k].send(
            json.dumps(
                {
                    "type": "message.send",
                    "client_msg_id": cmid,
                    "conversation": senders[k][2],
                    "kind": "text",
                    "content": f"{sent_at[cmid]}:load {n}",
                }
            )
        )
    deadline = time.monotonic() + drain_s
    want = len(sent_at)
    while result.deliveries < want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    result.elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.client_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    for task in tasks:
        task.cancel()
    for ws in send_sockets + recv_sockets:
        await ws.close()
    result.sent = len(sent_at)
    result.received = sum(1 for cmid in sent_at if seen.get(cmid, 0) >= 1)
    missing = [cmid for cmid in sent_at if cmid not in seen]
    if missing:
        # To look each one up (BENCH_KEEP=1 keeps the run's database and logs).
        print(f"never delivered: {missing[:20]}", file=sys.stderr)
    result.duplicated = sum(max(0, c - 1) for c in seen.values())
    return result


def _worker(args: tuple, queue: mp.Queue) -> None:
    try:
        result = asyncio.run(_send_load(*args))
        queue.put(("ok", _encode(result)))
    except Exception as exc:  # report, don't hang the parent
        queue.put(("error", repr(exc)))


def _encode(result: Result) -> dict:
    data = dict(result.__dict__)
    data["histogram"] = result.histogram.encode()
    return data


def _decode(data: dict) -> Result:
    histogram = HdrHistogram.decode(data.pop("histogram"))
    merged = new_histogram()
    merged.add(histogram)
    return Result(histogram=merged, **data)


def collect(procs: list, queue, timeout: float) -> list:
    """The payload each client process put on `queue` ("ok", payload), in the
    order they finished; a process that reported a failure fails the run."""
    parts = []
    for _ in procs:
        status, payload = queue.get(timeout=timeout)
        if status != "ok":
            raise RuntimeError(f"a client process failed: {payload}")
        parts.append(payload)
    for proc in procs:
        proc.join(30)
    return parts


def run_sends(
    senders: list[tuple[str, str, str]],
    receivers: list[tuple[str, str]],
    *,
    rate: float,
    seconds: float,
    processes: int = 2,
    drain_s: float = 30.0,
) -> Result:
    """Split the pairs over `processes` client processes (a pair stays in one
    process), each sending its share of `rate`; merge their results."""
    processes = max(1, min(processes, len(senders)))
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    procs = []
    for p in range(processes):
        my_senders = senders[p::processes]
        my_receivers = receivers[p::processes]
        args = (my_senders, my_receivers, rate / processes, seconds, drain_s)
        proc = ctx.Process(target=_worker, args=(args, queue), daemon=True)
        proc.start()
        procs.append(proc)
    total = Result()
    for payload in collect(procs, queue, seconds + drain_s + 300):
        total.merge(_decode(payload))
    return total


# --------------------------------------------------------------------------- group fan-out


async def _group_load(
    sender: tuple[str, str] | None,
    conversation: str,
    members: list[tuple[str, str]],
    rate: float,
    seconds: float,
    drain_s: float,
    expected_total: int,
) -> dict:
    """One process: maybe the sender, and some members' sockets. Returns the
    send times (if sender) and, per message, how many of our members got it
    and when the last of them did."""
    sockets = [await connect(url, token) for url, token in members]
    send_ws = await connect(*sender) if sender else None
    sent_at: dict[str, int] = {}
    last: dict[str, int] = {}
    counts: dict[str, int] = {}
    histogram = new_histogram()
    deliveries = 0

    async def receive(ws) -> None:
        nonlocal deliveries
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("type") != "message.new":
                    continue
                now = time.time_ns()
                message = frame["message"]
                cmid = message.get("client_msg_id")
                stamp = (message.get("content") or "").split(":", 1)[0]
                if not cmid or not stamp.isdigit():
                    continue
                deliveries += 1
                counts[cmid] = counts.get(cmid, 0) + 1
                last[cmid] = max(last.get(cmid, 0), now)
                histogram.record_value(max(1, min(HIST_MAX_US, (now - int(stamp)) // 1000)))
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(receive(ws)) for ws in sockets]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    if send_ws is not None:
        drain_task = asyncio.create_task(_discard(send_ws))
        total = int(rate * seconds)
        for n in range(total):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            cmid = str(uuid.uuid4())
            sent_at[cmid] = time.time_ns()
            await send_ws.send(
                json.dumps(
                    {
                        "type": "message.send",
                        "client_msg_id": cmid,
                        "conversation": conversation,
                        "kind": "text",
                        "content": f"{sent_at[cmid]}:group {n}",
                    }
                )
            )
    else:
        drain_task = None
    deadline = time.monotonic() + seconds + drain_s
    while deliveries < expected_total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    for task in tasks + ([drain_task] if drain_task else []):
        task.cancel()
    for ws in sockets + ([send_ws] if send_ws else []):
        await ws.close()
    return {
        "sent_at": sent_at,
        "last": last,
        "counts": counts,
        "deliveries": deliveries,
        "histogram": histogram.encode(),
        "elapsed": elapsed,
        "cpu": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
    }


async def _discard(ws) -> None:
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


def _group_worker(args: tuple, queue: mp.Queue) -> None:
    try:
        queue.put(("ok", asyncio.run(_group_load(*args))))
    except Exception as exc:
        queue.put(("error", repr(exc)))


def run_group(
    sender: tuple[str, str],
    conversation: str,
    members: list[tuple[str, str]],
    *,
    rate: float,
    seconds: float,
    processes: int = 2,
    drain_s: float = 30.0,
) -> dict:
    """One sender posts `rate` messages/s to a group whose other members'
    sockets are spread over `processes` client processes. Reports the latency
    to the LAST member per message, every delivery's latency, deliveries/s."""
    ctx = mp.get_context("fork")
    queue: mp.Queue = ctx.Queue()
    expected_per_message = len(members)
    procs = []
    for p in range(processes):
        share = members[p::processes]
        args = (
            sender if p == 0 else None,
            conversation,
            share,
            rate,
            seconds,
            drain_s,
            int(rate * seconds) * len(share),
        )
        proc = ctx.Process(target=_group_worker, args=(args, queue), daemon=True)
        proc.start()
        procs.append(proc)
    parts = collect(procs, queue, seconds + drain_s + 600)
    sent_at = {k: v for part in parts for k, v in part["sent_at"].items()}
    last_member = new_histogram()
    every = new_histogram()
    complete = 0
    duplicated = 0
    for cmid, sent in sent_at.items():
        got = sum(part["counts"].get(cmid, 0) for part in parts)
        duplicated += max(0, got - expected_per_message)
        if got >= expected_per_message:
            complete += 1
            finish = max(part["last"].get(cmid, 0) for part in parts)
            last_member.record_value(max(1, min(HIST_MAX_US, (finish - sent) // 1000)))
    for part in parts:
        every.add(HdrHistogram.decode(part["histogram"]))
    elapsed = max(part["elapsed"] for part in parts)
    deliveries = sum(part["deliveries"] for part in parts)
    return {
        "sent": len(sent_at),
        "complete": complete,
        "lost_deliveries": len(sent_at) * expected_per_message - deliveries + duplicated,
        "duplicated": duplicated,
        "last_p50_ms": last_member.get_value_at_percentile(50) / 1000,
        "last_p99_ms": last_member.get_value_at_percentile(99) / 1000,
        "last_max_ms": last_member.get_max_value() / 1000,
        "each_p50_ms": every.get_value_at_percentile(50) / 1000,
        "each_p99_ms": every.get_value_at_percentile(99) / 1000,
        "deliveries_per_s": deliveries / elapsed if elapsed else 0.0,
        "client_cpu_pct": 100 * sum(part["cpu"] for part in parts) / elapsed if elapsed else 0.0,
    }
