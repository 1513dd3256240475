"""Serve chatsite.asgi with the configured ASGI server.

    python -m chatsite.serve [--host H] [--port P]

ASGI_SERVER picks the server: `uvicorn` (the default: measured faster here,
see docs/performance.md) or `daphne` (supported). HOST and PORT are the
defaults for --host and --port. Both run one process; run several (one per
core, behind a load balancer) for more: see docs/operations.md.
"""

from __future__ import annotations

import argparse
import os
import sys

SERVERS = ("uvicorn", "daphne")


def command(server: str, host: str, port: int) -> list[str]:
    """The argv that serves the product on host:port with `server`."""
    app = "chatsite.asgi:application"
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "--websocket_timeout", "-1", app]
    if server == "uvicorn":
        return [
            sys.executable, "-m", "uvicorn", "--host", host, "--port", str(port),
            "--lifespan", "off", "--ws", "websockets-sansio", "--ws-max-size", str(1024 * 1024),
            "--no-access-log", "--timeout-graceful-shutdown", "5", app,
        ]  # fmt: skip
    raise SystemExit(f"ASGI_SERVER must be one of {', '.join(SERVERS)} (got {server!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--server", default=os.environ.get("ASGI_SERVER", "uvicorn"))
    args = parser.parse_args()
    argv = command(args.server, args.host, args.port)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
