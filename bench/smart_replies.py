"""Smart replies end to end: suggestion latency after `stored`, and the CPU a message costs.

    .venv/bin/python bench/smart_replies.py --target embedded --pairs 10 --rate 5 --seconds 60
    .venv/bin/python bench/smart_replies.py --target kafka --pairs 10 --rate 5 --seconds 60

1. Start the product (bench/stack.py: `embedded` is one process on SQLite
   with the in-process bus, whose `assistant` group runs on a thread;
   `kafka` is a server node and a message worker on MariaDB, Redis and the
   broker, plus `manage.py run_assistant` started here), with ASSISTANT=1 and
   the engine on `--threads` cores (OMP_NUM_THREADS).
2. Seed `--pairs` pairs of contacts; each recipient gets a history of
   `--history` messages received and answered in that chat, with vectors
   drawn from real embeddings of chat messages (so the history query and
   `suggest_replies` run over as many rows as a busy person's).
3. Warm up (one message per pair; the engine loads and embeds its built-in
   examples on the first), then the senders send text messages that call
   for a reply (greetings, thanks, questions; English and Chinese) at
   `--rate` per second in all, open loop, for `--seconds`. Latency: from the
   sender's `stored` ack to the recipient's `reply.suggestions` for that
   message (client clocks, same box).

Prints a table (rows start with "| ") and the CPU each process spent per
message (the assistant worker's alone with `kafka`). BENCH_SHOW_LOG=1 prints
the end of run_assistant's log too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stack  # noqa: E402
from embeddings import chat_messages  # noqa: E402

# Messages that call for a reply (the built-in intents catch them when the
# history has nothing closer), English and Chinese.
ASKING = (
    "hi!",
    "good morning",
    "how are you?",
    "thanks a lot!",
    "sorry, my fault",
    "where are you now?",
    "what time do we meet?",
    "want to grab lunch tomorrow?",
    "can you call me?",
    "did you get my email?",
    "good night!",
    "have you eaten?",
    "你好",
    "最近怎么样",
    "谢谢你！",
    "不好意思，我来晚了",
    "你现在在哪儿？",
    "几点开会？",
    "周末一起吃饭吗？",
    "你吃饭了吗",
    "晚安",
    "收到我的消息了吗？",
    "能帮我一个忙吗？",
    "哈哈哈哈",
)

SEED_HISTORY = """
import django, json, sys
django.setup()
import numpy as np
from django.utils import timezone
from assistant import embedding
from assistant.models import MessageVector
from conversations.models import Conversation, Message

conversations, per_recipient, texts = json.loads(sys.stdin.read())
pool = embedding.embed(texts)
rng = np.random.default_rng(7)
replies = ["ok", "好的", "on my way", "3pm?", "没问题", "sure, see you then"]
now = timezone.now()
for conversation_uuid in conversations:
    conv = Conversation.objects.get(uuid=conversation_uuid)
    sender, recipient = (int(x) for x in conv.direct_key.split(":"))  # seed_pairs makes the sender first
    rows, seq = [], conv.last_seq
    for i in range(per_recipient):
        rows.append(Message(conversation=conv, seq=seq + 1, sender_id=sender, kind="text",
                            text=texts[i % len(texts)], client_msg_id=f"h{conv.pk}-{i}", created_at=now))
        rows.append(Message(conversation=conv, seq=seq + 2, sender_id=recipient, kind="text",
                            text=replies[i % len(replies)], client_msg_id=f"r{conv.pk}-{i}", created_at=now))
        seq += 2
    Message.objects.bulk_create(rows, batch_size=1000)
    Conversation.objects.filter(pk=conv.pk).update(last_seq=seq)
    by_seq = dict(Message.objects.filter(conversation=conv).values_list("seq", "pk"))
    incoming = Message.objects.filter(conversation=conv, sender_id=sender).values_list("pk", "seq")
    MessageVector.objects.bulk_create(
        [MessageVector(message_id=pk, conversation=conv, seq=s, recipient_id=recipient, model=embedding.MODEL_ID,
                       vector=embedding.to_bytes(pool[rng.integers(len(pool))]), reply_id=by_seq[s + 1])
         for pk, s in incoming],
        batch_size=1000,
    )
print(json.dumps(MessageVector.objects.count()))
"""


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50": at(50), "p95": at(95), "p99": at(99), "max": ordered[-1]}


async def connect(url: str, token: str):
    ws = await websockets.connect(f"{url}?token={token}", max_size=2**22, open_timeout=60, ping_interval=None)
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws


async def run_load(
    pairs, *, rate: float, seconds: float, warm_up: bool, drain_s: float = 10.0, settle_s: float = 3.0
) -> dict:
    """Send at `rate` for `seconds`; {stored, suggested, latencies_ms, no_suggestion}."""
    senders = [await connect(url, token) for url, token, _, _ in pairs]
    receivers = [await connect(url, token) for url, _, _, token in pairs]
    stored_at: dict[str, float] = {}  # message id -> perf_counter of its `stored` ack
    by_cmid: dict[str, float] = {}
    suggested_at: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    async def read_sender(ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "message.ack" and frame.get("status") == "stored":
                stored_at[frame["message"]["id"]] = loop.time()
                by_cmid.pop(frame["client_msg_id"], None)

    async def read_receiver(ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame.get("type") == "reply.suggestions":
                suggested_at[frame["message"]] = loop.time()

    readers = [asyncio.create_task(read_sender(ws)) for ws in senders]
    readers += [asyncio.create_task(read_receiver(ws)) for ws in receivers]
    n = len(pairs) if warm_up else int(rate * seconds)
    started = loop.time()
    for i in range(n):
        due = started + (0 if warm_up else i / rate)
        await asyncio.sleep(max(0.0, due - loop.time()))
        _, _, conversation, _ = pairs[i % len(pairs)]
        cmid = str(uuid.uuid4())
        by_cmid[cmid] = loop.time()
        text = ASKING[(i * 7) % len(ASKING)]
        frame = {"type": "message.send", "client_msg_id": cmid, "conversation": conversation, "kind": "text"}
        await senders[i % len(pairs)].send(json.dumps({**frame, "content": text}))
    # Until every message is stored and suggested for, or `settle_s` after the
    # last was stored (a message may rightly get no suggestion), at most `drain_s`.
    deadline, settled = loop.time() + drain_s, None
    while loop.time() < deadline:
        if not by_cmid:
            if set(stored_at) <= set(suggested_at):
                break
            settled = settled or loop.time() + settle_s
            if loop.time() > settled:
                break
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    for ws in senders + receivers:
        await ws.close()
    latencies = [(suggested_at[m] - t) * 1000 for m, t in stored_at.items() if m in suggested_at]
    return {
        "sent": n,
        "stored": len(stored_at),
        "suggested": len(latencies),
        "latency_ms": percentiles(latencies),
        "elapsed_s": loop.time() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("embedded", "kafka"), default="embedded")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--history", type=int, default=2000, help="history messages each recipient answered")
    parser.add_argument("--rate", type=float, default=5.0, help="messages per second, all senders together")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the engine (0: all cores)")
    args = parser.parse_args()

    extra = {"ASSISTANT": "1"}
    if args.threads:
        extra["OMP_NUM_THREADS"] = str(args.threads)
    with stack.start(args.target, extra_env=extra) as target:
        assistant = None
        if args.target == "kafka":
            log = Path(target.env["VAR_DIR"]) / "assistant.log"
            with open(log, "w") as out:
                assistant = subprocess.Popen(
                    [stack.PY, "manage.py", "run_assistant", f"--threads={args.threads or os.cpu_count()}"],
                    cwd=stack.ROOT,
                    env=dict(target.env, LOG_LEVEL="INFO"),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + 60
            while "assigned" not in log.read_text():
                if assistant.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"run_assistant did not start:\n{log.read_text()}")
                time.sleep(0.1)
            time.sleep(1.0)  # a new group starts at the end of the topic: let it find the end first
        try:
            seeded = target.seed_pairs(args.pairs)
            started = time.perf_counter()
            vectors = json.loads(
                subprocess.run(
                    [stack.PY, "-c", SEED_HISTORY],
                    input=json.dumps([[c for _, c, _ in seeded], args.history, chat_messages(300, 3)]),
                    cwd=stack.ROOT,
                    env=dict(target.env, LOG_LEVEL="WARNING"),
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            seed_s = time.perf_counter() - started
            url = target.urls[0]
            pairs = [(url, sender, conversation, receiver) for sender, conversation, receiver in seeded]
            watched = dict(target.processes())
            if assistant is not None:
                watched["assistant"] = assistant.pid
            warm = asyncio.run(run_load(pairs, rate=args.rate, seconds=0, warm_up=True, drain_s=60, settle_s=30))
            before = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
            result = asyncio.run(run_load(pairs, rate=args.rate, seconds=args.seconds, warm_up=False))
            after = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
        finally:
            if assistant is not None:
                assistant.terminate()
                assistant.wait(15)
                if os.environ.get("BENCH_SHOW_LOG"):
                    print(log.read_text()[-6000:])
    lat = result["latency_ms"]
    cpu = {name: 1000 * (after[name] - before[name]) / max(1, result["stored"]) for name in before}
    print("| target | offered | stored | suggested | p50 ms | p95 ms | p99 ms | max ms | CPU ms/msg by process |")
    print("|---|---|---|---|---|---|---|---|---|")
    if lat["n"]:
        cells = f"{lat['p50']:.1f} | {lat['p95']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f}"
    else:
        cells = "- | - | - | -"
    print(
        f"| {args.target} | {args.rate:g}/s for {args.seconds:g} s ({args.pairs} pairs) | {result['stored']} | "
        f"{result['suggested']} | {cells} | {', '.join(f'{k} {v:.1f}' for k, v in cpu.items())} |"
    )
    print(
        f"- latency: the sender's `stored` ack to the recipient's `reply.suggestions` for that message; each "
        f"recipient's history: {args.history:,} answered messages with vectors ({vectors:,} vectors in all, seeded "
        f"in {seed_s:.1f} s); warm-up: {warm['suggested']} of {warm['stored']} suggested (the engine loads there)"
    )
    print(
        f"- engine threads: {args.threads or 'all'} of {os.cpu_count()} cores; load average at the end: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (the box is shared)"
    )


if __name__ == "__main__":
    main()
