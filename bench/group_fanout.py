"""A message to a big group: latency to the LAST member, and deliveries per second.

    .venv/bin/python bench/group_fanout.py --target kafka --members 500 --rate 2 --seconds 20

Every member holds one socket (spread over the client processes and the
server nodes); the owner sends `rate` messages per second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
import stack  # noqa: E402


def measure(
    kind: str, *, members: int, rate: float, seconds: float, clients: int, nodes: int, workers: int, server: str
) -> dict:
    with stack.start(kind, nodes=nodes, workers=workers, server=server) as target:
        conversation, tokens = target.seed_group(members)
        urls = target.urls
        sender = (urls[0], tokens[0])
        others = [(urls[(n + 1) % len(urls)], token) for n, token in enumerate(tokens[1:])]
        before = {name: stack.cpu_seconds(pid) for name, pid in target.processes().items()}
        row = loadgen.run_group(sender, conversation, others, rate=rate, seconds=seconds, processes=clients)
        after = {name: stack.cpu_seconds(pid) for name, pid in target.processes().items()}
    row["server_cpu_pct"] = {k: round(100 * (after[k] - before[k]) / seconds, 1) for k in before}
    row.update(target=kind, members=members, rate=rate, nodes=nodes)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="kafka", choices=["embedded", "kafka"])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--rate", type=float, default=2, help="group messages per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    args = parser.parse_args()
    row = measure(
        args.target,
        members=args.members,
        rate=args.rate,
        seconds=args.seconds,
        clients=args.clients,
        nodes=args.nodes,
        workers=args.workers,
        server=args.server,
    )
    print(
        "| scenario | target | rate | last member p50/p99/max ms | each p50/p99 ms | deliveries/s | complete | lost | dup | server CPU % |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| group of {row['members']} | {row['target']} ({args.server}, {row['nodes']} node(s)) | {row['rate']:g}/s | "
        f"{row['last_p50_ms']:.0f} / {row['last_p99_ms']:.0f} / {row['last_max_ms']:.0f} | {row['each_p50_ms']:.0f} / {row['each_p99_ms']:.0f} | "
        f"{row['deliveries_per_s']:.0f} | {row['complete']}/{row['sent']} | {row['lost_deliveries']} | {row['duplicated']} | {row['server_cpu_pct']} |"
    )
    print(f"versions: {stack.versions()}")


if __name__ == "__main__":
    main()
