"""1:1 end-to-end latency: sender's `message.send` → recipient's `message.new`.

    .venv/bin/python bench/latency_1to1.py --targets ws-relay,channels-pubsub,kafka --rate 200 --seconds 20

`pairs` pairs of users each hold one socket per user (spread over the
server nodes); the senders share `rate` messages per second on a fixed
schedule (open loop: a slow server builds a backlog and shows it as latency;
it does not slow the senders). Client processes: `--clients`.
Prints a table row per target, with the CPU each server-side process spent
per message (robust to other load on the box).

`--rates 1000,1500,2000` climbs a ladder of rates per target (stopping at
the first rate it fails) and prints each target's highest rate with p99
within `--p99-limit` ms and nothing lost, and the product's rate against
the `channels-pubsub` relay's. `--nodes` applies to the Channels relays as
to the product (their nodes share the layer's groups):

    .venv/bin/python bench/latency_1to1.py --targets kafka,channels-pubsub --rates 1000,1500,2000 --nodes 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
import stack  # noqa: E402

HEADER = (
    "| scenario | target | offered | p50 ms | p99 ms | p99.9 ms | max ms | delivered/s | errors | lost | dup | CPU ms/msg by process |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def measure(
    kind: str, *, rate: float, seconds: float, pairs: int, clients: int, nodes: int, workers: int, server: str
) -> dict:
    with stack.start(kind, nodes=nodes, workers=workers, server=server) as target:
        seeded = target.seed_pairs(pairs)
        urls = target.urls
        # With several nodes the sender and the receiver sit on different nodes: cross-node delivery.
        senders = [(urls[n % len(urls)], s, c) for n, (s, c, _) in enumerate(seeded)]
        receivers = [(urls[(n + 1) % len(urls)], r) for n, (_, _, r) in enumerate(seeded)]
        watched = {**target.processes(), **stack.infra_pids()}
        before = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
        result = loadgen.run_sends(senders, receivers, rate=rate, seconds=seconds, processes=clients)
        after = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
    row = result.row()
    row["cpu_ms_per_msg"] = {k: round(1000 * (after[k] - before[k]) / max(1, result.received), 3) for k in before}
    row["cpu_ms_per_msg"]["clients"] = round(1000 * result.client_cpu / max(1, result.received), 3)
    row.update(target=kind, rate=rate, server=server, nodes=nodes, workers=workers)
    return row


def format_row(scenario: str, row: dict) -> str:
    cpu = ", ".join(f"{k} {v}" for k, v in row["cpu_ms_per_msg"].items())
    label = row["target"] + (
        f" ({row['server']})" if row["target"] == "ws-relay" else f" ({row['server']}, {row['nodes']} node(s))"
    )
    return (
        f"| {scenario} | {label} | {row['rate']:.0f}/s | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['p999_ms']:.1f} | "
        f"{row['max_ms']:.1f} | {row['throughput']:.0f} | {row['errors']} | {row['lost']} | {row['duplicated']} | {cpu} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="kafka", help=f"comma-separated, from {', '.join(stack.TARGETS)}")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--rates", default="", help="comma-separated rates to climb per target (instead of --rate)")
    parser.add_argument("--p99-limit", type=float, default=250, help="ms: a ladder's rate passes within it")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    parser.add_argument("--json", action="store_true", help="also print each row as JSON")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r.strip()] or [args.rate]
    print(HEADER)
    highest: dict[str, float] = {}
    for kind in (k.strip() for k in args.targets.split(",")):
        for rate in rates:
            row = measure(
                kind,
                rate=rate,
                seconds=args.seconds,
                pairs=args.pairs,
                clients=args.clients,
                nodes=args.nodes,
                workers=args.workers,
                server=args.server,
            )
            print(format_row("1:1", row), flush=True)
            if args.json:
                print(json.dumps(row))
            if row["p99_ms"] > args.p99_limit or row["lost"] or row["duplicated"] or row["errors"]:
                break
            highest[kind] = rate
    if len(rates) > 1:
        for kind in (k.strip() for k in args.targets.split(",")):
            got = f"{highest[kind]:.0f}/s" if kind in highest else f"below {rates[0]:.0f}/s"
            print(f"highest rate with p99 <= {args.p99_limit:.0f} ms, nothing lost: {kind} {got}")
        if "kafka" in highest and "channels-pubsub" in highest:
            ratio = highest["kafka"] / highest["channels-pubsub"]
            print(f"product / channels-pubsub relay: {ratio:.2f} (on the ladder {args.rates})")
    print(f"versions: {stack.versions()}")


if __name__ == "__main__":
    main()
