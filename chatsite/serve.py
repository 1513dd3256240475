"""Serve chatsite.asgi with the configured ASGI server.

    python -m chatsite.serve [--host H] [--port P] [--server uvicorn|daphne]

ASGI_SERVER picks the server: `uvicorn` (the default: measured faster here,
see docs/performance.md) or `daphne` (supported). HOST and PORT are the
defaults for --host and --port. Both run one process; run several (one per
core, behind a load balancer) for more: see docs/operations.md.

Neither server is allowed to believe proxy headers itself: chatsite.net
decides who the client is from TRUSTED_PROXIES, for every layer. uvicorn runs
in this process with the protocols of chatsite.asgi_server (request-head
caps, slow readers dropped). Both servers cap a WebSocket message at
WS_TRANSPORT_MAX_BYTES: a message above it closes the socket with 1009 before
it is buffered in full; messages between the contract's 64 KiB
(MAX_FRAME_BYTES) and this cap are answered `too_large` and the socket stays
open.
"""

from __future__ import annotations

import argparse
import os
import sys

SERVERS = ("uvicorn", "daphne")
APP = "chatsite.asgi:application"
WS_TRANSPORT_MAX_BYTES = 1024 * 1024


def command(server: str, host: str, port: int) -> list[str]:
    """The argv that serves the product on host:port with `server`."""
    if server == "daphne":
        # daphne ignores X-Forwarded-* unless given --proxy-headers. Its own
        # access log is off, as uvicorn's: chatsite.access and the gateway
        # log each request and socket with the client chatsite.net resolved.
        return [
            sys.executable, "-m", "daphne", "-b", host, "-p", str(port), "--websocket_timeout", "-1",
            "--websocket-max-message-size", str(WS_TRANSPORT_MAX_BYTES),
            "--websocket-max-frame-size", str(WS_TRANSPORT_MAX_BYTES),
            "--access-log", os.devnull, APP,
        ]  # fmt: skip
    if server == "uvicorn":
        return [sys.executable, "-m", "chatsite.serve", "--server", "uvicorn", "--host", host, "--port", str(port)]
    raise SystemExit(f"ASGI_SERVER must be one of {', '.join(SERVERS)} (got {server!r})")


def run_uvicorn(host: str, port: int) -> None:
    # Loaded only when this server is the one chosen (daphne needs neither).
    import uvicorn

    from chatsite.asgi_server import HttpProtocol, WebSocketProtocol

    config = uvicorn.Config(
        APP,
        host=host,
        port=port,
        http=HttpProtocol,
        ws=WebSocketProtocol,
        ws_max_size=WS_TRANSPORT_MAX_BYTES,
        lifespan="on",  # chatsite.lifespan: the background tasks start and stop with the server
        proxy_headers=False,
        server_header=False,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    # Load the application (Django, the apps) and the URL patterns (the
    # views), then leave all of it out of the collector's walks (chatsite.heap).
    config.load()
    # After config.load(): this module is imported before Django is set up (bench/stack too).
    from django.urls import get_resolver

    from chatsite.heap import freeze_startup_heap

    get_resolver().url_patterns  # noqa: B018 (imports every view)
    freeze_startup_heap()
    uvicorn.Server(config).run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--server", default=os.environ.get("ASGI_SERVER", "uvicorn"))
    args = parser.parse_args()
    os.environ["HOST"] = args.host  # the settings derive ALLOWED_HOSTS from it
    if args.server == "uvicorn":
        run_uvicorn(args.host, args.port)
        return
    argv = command(args.server, args.host, args.port)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
