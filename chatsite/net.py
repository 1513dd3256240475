"""The client's address, trusting only the configured number of proxy hops."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _pick(forwarded_for: str | None, peer: str | None) -> str | None:
    hops = settings.TRUSTED_PROXY_COUNT
    if hops and forwarded_for:
        chain = [p.strip() for p in forwarded_for.split(",") if p.strip()]
        # Each trusted proxy appends the address it saw; the client is the
        # entry the outermost trusted proxy appended. Anything further left
        # was written by the client and is not trusted.
        if len(chain) >= hops:
            candidate = chain[-hops]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return peer
    return peer


def request_ip(request) -> str | None:
    return _pick(request.META.get("HTTP_X_FORWARDED_FOR"), request.META.get("REMOTE_ADDR"))


def scope_ip(scope: dict) -> str | None:
    headers = dict(scope.get("headers") or [])
    forwarded = headers.get(b"x-forwarded-for")
    client = scope.get("client") or (None, None)
    return _pick(forwarded.decode("latin-1") if forwarded else None, client[0])


def request_device(user_agent: str | None) -> str:
    return (user_agent or "")[:200]
