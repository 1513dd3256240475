"""Who the client is: the one place that decides, for every use of the address.

The socket's peer is the client, unless the peer is one of TRUSTED_PROXIES
(addresses or networks; none by default). Then, and only then, the proxy's
`X-Forwarded-For` and `X-Forwarded-Proto` are believed: the client is the
nearest address in the forwarded chain that is not itself a trusted proxy,
and the scheme is what the proxy says it received. Anything further left in
the chain was written by the client and is ignored; `X-Real-IP` and
`Forwarded` are ignored always.

`ClientAddressMiddleware` applies this once per connection at the top of the
ASGI stack, rewriting the scope's `client` and `scheme`. Everything below it
(Django's REMOTE_ADDR and `request.is_secure()`, the gateway, limits,
sessions, the access log) reads the scope, so no layer can believe a header
the others ignore. The ASGI servers' own proxy-header handling stays off
(chatsite.serve), since uvicorn's would otherwise trust any loopback peer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[v6]:port"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: str | None, proxies: Sequence[Network] | None = None) -> bool:
    proxies = settings.TRUSTED_PROXIES if proxies is None else proxies
    parsed = _address(address)
    return parsed is not None and any(parsed in network for network in proxies)


def client_from_chain(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str | None:
    """The client's address, given the socket's peer and the X-Forwarded-For
    values (in header order). Only trusted hops are believed: walking from the
    peer leftwards, the first address that is not a trusted proxy is the client."""
    if not is_trusted(peer, proxies):
        return peer
    chain = [item.strip() for value in forwarded_for for item in value.split(",") if item.strip()]
    client = peer
    for item in reversed(chain):
        address = _address(item)
        if address is None:
            break  # a malformed hop: believe nothing further left
        client = str(address)
        if not any(address in network for network in proxies):
            break
    return client


def _forwarded_scheme(value: str, websocket: bool) -> str | None:
    # Several values (proxies appending): the nearest proxy's is the last.
    proto = value.split(",")[-1].strip().lower()
    if proto not in ("http", "https", "ws", "wss"):
        return None
    secure = proto in ("https", "wss")
    if websocket:
        return "wss" if secure else "ws"
    return "https" if secure else "http"


def resolve_scope(scope: dict) -> dict:
    """The scope with `client` and `scheme` as a trusted proxy reports them
    (unchanged when the peer is not a trusted proxy)."""
    proxies = settings.TRUSTED_PROXIES
    client = scope.get("client")
    peer = client[0] if client else None
    if not proxies or not is_trusted(peer, proxies):
        return scope
    forwarded: list[str] = []
    proto: str | None = None
    for name, value in scope.get("headers") or ():
        if name == b"x-forwarded-for":
            forwarded.append(value.decode("latin-1"))
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1")
    resolved = dict(scope)
    ip = client_from_chain(peer, forwarded, proxies)
    if ip != peer:
        resolved["client"] = (ip, 0)
    if proto is not None:
        scheme = _forwarded_scheme(proto, scope["type"] == "websocket")
        if scheme is not None:
            resolved["scheme"] = scheme
    return resolved


class ClientAddressMiddleware:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope = resolve_scope(scope)
        return await self.app(scope, receive, send)


def request_ip(request) -> str | None:
    """The client's address of a Django request (already resolved by ClientAddressMiddleware)."""
    return request.META.get("REMOTE_ADDR") or None


def scope_ip(scope: dict) -> str | None:
    """The client's address of an ASGI scope (already resolved by ClientAddressMiddleware)."""
    client = scope.get("client") or (None, None)
    return client[0]


def request_device(user_agent: str | None) -> str:
    return (user_agent or "")[:200]
