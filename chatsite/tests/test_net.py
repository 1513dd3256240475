"""Who the client is (chatsite.net): proxy headers only from TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress

import pytest

from chatsite.net import ClientAddressMiddleware, client_from_chain, resolve_scope

NETS = [ipaddress.ip_network("127.0.0.1"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    "peer, chain, proxies, client",
    [
        # No trusted proxies: the peer, whatever the headers say.
        ("127.0.0.1", ["203.0.113.77"], [], "127.0.0.1"),
        ("198.51.100.9", ["203.0.113.77"], NETS, "198.51.100.9"),  # an untrusted peer's header
        # One trusted proxy: the address it appended.
        ("127.0.0.1", ["203.0.113.77"], NETS, "203.0.113.77"),
        # A client-written entry to the left of the proxy's is ignored.
        ("127.0.0.1", ["6.6.6.6, 203.0.113.77"], NETS, "203.0.113.77"),
        ("127.0.0.1", ["6.6.6.6", "203.0.113.77"], NETS, "203.0.113.77"),  # two header lines
        # Two trusted hops (a load balancer in 10/8, then nginx on loopback).
        ("127.0.0.1", ["6.6.6.6, 203.0.113.77, 10.1.2.3"], NETS, "203.0.113.77"),
        # Every hop trusted: the leftmost.
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], NETS, "10.9.9.9"),
        # A malformed hop: nothing further left is believed.
        ("127.0.0.1", ["203.0.113.77, garbage"], NETS, "127.0.0.1"),
        ("127.0.0.1", ["garbage, 10.1.2.3"], NETS, "10.1.2.3"),
        # IPv6, and ports some proxies add.
        ("127.0.0.1", ["2001:db8::1"], NETS, "2001:db8::1"),
        ("127.0.0.1", ["[2001:db8::1]:4711"], NETS, "2001:db8::1"),
        ("127.0.0.1", ["203.0.113.77:4711"], NETS, "203.0.113.77"),
        ("::ffff:127.0.0.1", ["203.0.113.77"], NETS, "203.0.113.77"),  # a v4-mapped peer
        # No header from a trusted proxy: the proxy itself.
        ("127.0.0.1", [], NETS, "127.0.0.1"),
    ],
)
def test_client_from_chain(peer, chain, proxies, client):
    assert client_from_chain(peer, chain, proxies) == client


def http_scope(peer: str, *headers: tuple[bytes, bytes], kind: str = "http") -> dict:
    return {
        "type": kind,
        "client": (peer, 5555),
        "scheme": "http" if kind == "http" else "ws",
        "headers": list(headers),
    }


def test_scope_is_untouched_without_trusted_proxies(settings):
    settings.TRUSTED_PROXIES = []
    scope = http_scope("127.0.0.1", (b"x-forwarded-for", b"203.0.113.77"), (b"x-forwarded-proto", b"https"))
    assert resolve_scope(scope) is scope


def test_scope_from_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = NETS
    scope = http_scope(
        "127.0.0.1",
        (b"x-forwarded-for", b"6.6.6.6, 203.0.113.77"),
        (b"x-forwarded-proto", b"https"),
        (b"x-real-ip", b"1.1.1.1"),
    )
    resolved = resolve_scope(scope)
    assert resolved["client"] == ("203.0.113.77", 0) and resolved["scheme"] == "https"
    assert scope["client"] == ("127.0.0.1", 5555)  # the server's own scope is not changed
    ws = resolve_scope(http_scope("127.0.0.1", (b"x-forwarded-proto", b"https"), kind="websocket"))
    assert ws["scheme"] == "wss" and ws["client"] == ("127.0.0.1", 5555)
    bogus = resolve_scope(http_scope("127.0.0.1", (b"x-forwarded-proto", b"gopher")))
    assert bogus["scheme"] == "http"


async def test_middleware_rewrites_http_and_websocket_scopes(settings):
    settings.TRUSTED_PROXIES = NETS
    seen = []

    async def app(scope, receive, send):
        seen.append((scope["type"], scope.get("client")))

    middleware = ClientAddressMiddleware(app)
    for kind in ("http", "websocket"):
        await middleware(http_scope("10.0.0.2", (b"x-forwarded-for", b"203.0.113.77"), kind=kind), None, None)
    await middleware({"type": "lifespan"}, None, None)
    assert seen == [
        ("http", ("203.0.113.77", 0)),
        ("websocket", ("203.0.113.77", 0)),
        ("lifespan", None),
    ]
