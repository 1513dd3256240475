"""`make bench`: every scenario beside its baselines, one table.

Quick by default (a few minutes); `--full` runs the sizes of the targets in
docs/performance.md (20,000 idle sockets, 1,000,000 messages of history and
of search, 1,000 msg/s...), which takes much longer. Each scenario is a script of its
own in bench/ that can be run alone with more options.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


def run(args: list[str]) -> list[str]:
    print(f"$ {' '.join(['bench/' + args[0], *args[1:]])}", file=sys.stderr, flush=True)
    out = subprocess.run([PY, str(HERE / args[0]), *args[1:]], capture_output=True, text=True)
    if out.returncode != 0:
        return [
            f"| {args[0]} | failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode} |"
        ]
    return [line for line in out.stdout.splitlines() if line.startswith("| ") and not line.startswith("| scenario")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    full = args.full
    rows: list[str] = []
    seconds = "20" if full else "10"
    rows += run(
        [
            "latency_1to1.py",
            "--targets",
            "ws-relay,channels-pubsub,channels-core,embedded,kafka",
            "--rate",
            "200",
            "--seconds",
            seconds,
        ]
    )
    rows += run(
        [
            "latency_1to1.py",
            "--targets",
            "ws-relay,channels-pubsub,kafka",
            "--rate",
            "1000" if full else "500",
            "--seconds",
            seconds,
            "--nodes",
            "2",
            "--clients",
            "2",
        ]
    )
    rows += run(["group_fanout.py", "--target", "kafka", "--members", "500", "--rate", "2", "--seconds", seconds])
    rows += run(
        [
            "group_fanout.py",
            "--target",
            "kafka",
            "--members",
            "500",
            "--rate",
            "10" if full else "8",
            "--seconds",
            seconds,
            "--nodes",
            "2",
        ]
    )
    rows += run(["reaction_storm.py", "--members", "500", "--rate", "50", "--seconds", seconds, "--edits", "10"])
    rows += run(
        [
            "connections.py",
            "idle",
            "--targets",
            "ws-relay,channels-pubsub,kafka",
            "--sockets",
            "20000" if full else "4000",
            "--nodes",
            "2",
            "--clients",
            "4",
        ]
    )
    rows += run(["connections.py", "storm", "--targets", "ws-relay,kafka", "--sockets", "2000", "--nodes", "2"])
    rows += run(["push_notifier.py", "--rate", "100", "--seconds", seconds])
    rows += run(["history.py", "--messages", "1000000" if full else "100000", "--rate", "200", "--seconds", seconds])
    rows += run(["reconnect_sync.py", "--clients", "5000" if full else "1000", "--nodes", "2"])
    # Message search: a kept corpus per size (wsc_bench_search, wsc_bench_search_100000), so reruns skip seeding.
    search = ["--messages", "1000000", "--duration", "60", "--lag-seconds", "30"]
    if not full:
        search = ["--messages", "100000", "--users", "2000", "--conversations", "5000", "--duration", "20"]
        search += ["--lag-seconds", "10", "--like-queries", "10", "--fts5-messages", "50000"]
    rows += run(["search.py", *search, "--rate", "20", "--lag-rate", "200"])
    print("| scenario | target | ... (columns per scenario: see each script's header) |")
    print("|---|---|---|")
    for row in rows:
        print(row)
    out = subprocess.run(
        [PY, "-c", "import sys; sys.path.insert(0, 'bench'); import stack; print(stack.versions())"],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
    )
    print(f"versions: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
