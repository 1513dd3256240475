"""Web Push: the notifier's throughput and CPU per push, and the message
pipeline's latency with the notifier running versus not, in the same run.

    .venv/bin/python bench/push_notifier.py --rate 200 --seconds 20

Two runs of the 1:1 latency scenario on the Kafka stack (MariaDB, Redis, the
broker, one server node, one message worker) at the same offered rate:

1. no notifier, nobody subscribed: the baseline;
2. one notifier, every recipient subscribed to a local push service stand-in
   (notifications/tests/pushservice.py, which checks VAPID and decrypts every
   push, as a push service would), with PUSH_DELAY_S=0 so that every message
   pushes although its recipient is online: the heaviest push load.

Rows: the pipeline's latency in each run; then the pushes the stand-in
received, pushes/s while the notifier worked through them, and the CPU each
process spent per push. The stand-in runs in this process: its CPU (HTTP,
VAPID check, decryption) is the push service's, not the product's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
import stack  # noqa: E402

from notifications.tests.pushservice import PushService  # noqa: E402  (Django-free)
from notifications.vapid import public_key  # noqa: E402  (Django-free)

HEADER = (
    "| scenario | target | offered | p50 ms | p99 ms | max ms | delivered/s | lost | pushes | pushes/s | "
    "push lag p50 / p99 s | CPU ms/push by process |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def subscribe(http: str, token: str, info: dict) -> None:
    request = urllib.request.Request(
        f"{http}/api/v1/push/subscriptions",
        data=json.dumps(info).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Origin": http},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(*, notifier: bool, rate: float, seconds: float, pairs: int, clients: int) -> dict:
    extra = {"PUSH_ALLOW_HTTP": "1", "PUSH_DELAY_S": "0"}
    with stack.start("kafka", nodes=1, workers=1, notifiers=1 if notifier else 0, extra_env=extra) as target:
        seeded = target.seed_pairs(pairs)
        url = target.urls[0]
        http = url.replace("ws://", "http://").removesuffix("/ws/")
        service = PushService(vapid_public_key=public_key(target.env["VAPID_PRIVATE_KEY"])).start()
        try:
            if notifier:
                for _, _, receiver in seeded:
                    subscribe(http, receiver, service.new_subscription().info)
            senders = [(url, s, c) for s, c, _ in seeded]
            receivers = [(url, r) for _, _, r in seeded]
            watched = target.processes()
            before = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
            started = time.time()
            result = loadgen.run_sends(senders, receivers, rate=rate, seconds=seconds, processes=clients)
            expected = result.received if notifier else 0
            deadline = time.monotonic() + 120
            while notifier and len(service.received) < expected and time.monotonic() < deadline:
                time.sleep(0.2)
            after = {name: stack.cpu_seconds(pid) for name, pid in watched.items()}
            arrivals = sorted(d.at for d in service.received)
        finally:
            service.close()
            rejected = list(service.rejected)
    row = result.row()
    pushes = len(arrivals)
    row.update(notifier=notifier, rate=rate, pushes=pushes, rejected=len(rejected))
    # Pushes/s while the notifier worked: from the first push to the last.
    span = (arrivals[-1] - arrivals[0]) if pushes > 1 else 0.0
    row["pushes_per_s"] = pushes / span if span > 0 else 0.0
    # How long after the send window began each push arrived, minus its place in the schedule.
    row["push_lag"] = [a - started - (n / rate) for n, a in enumerate(arrivals)]
    row["cpu_ms_per_push"] = {k: round(1000 * (after[k] - before[k]) / max(1, pushes), 3) for k in before}
    return row


def format_row(row: dict) -> str:
    label = "kafka + notifier, every recipient subscribed" if row["notifier"] else "kafka, no notifier"
    lag = row["push_lag"]
    cpu = ", ".join(f"{k} {v}" for k, v in row["cpu_ms_per_push"].items()) if row["pushes"] else "-"
    pushes = f"{row['pushes']}" + (f" ({row['rejected']} rejected)" if row["rejected"] else "")
    return (
        f"| push notifier | {label} | {row['rate']:.0f}/s | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
        f"{row['max_ms']:.1f} | {row['throughput']:.0f} | {row['lost']} | {pushes} | {row['pushes_per_s']:.0f} | "
        f"{percentile(lag, 0.5):.2f} / {percentile(lag, 0.99):.2f} | {cpu} |"
        if row["pushes"]
        else f"| push notifier | {label} | {row['rate']:.0f}/s | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | "
        f"{row['max_ms']:.1f} | {row['throughput']:.0f} | {row['lost']} | - | - | - | - |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    print(HEADER)
    for notifier in (False, True):
        row = measure(notifier=notifier, rate=args.rate, seconds=args.seconds, pairs=args.pairs, clients=args.clients)
        print(format_row(row), flush=True)


if __name__ == "__main__":
    main()
