"""Requests to URLs that users supply (bots' outgoing webhooks with
post_json, push endpoints with vetted_session): the one way the server makes
them, so that none reaches the server's own network.

Every hop (the URL given, then each redirect) passes the same policy:

- http:// or https://, a host, no `user:pass@`, a port from 1 to 65535, at
  most MAX_URL_LENGTH characters, no spaces or control characters;
- every address the host resolves to is public: `is_global` and not multicast,
  so no private, loopback, link-local (169.254.169.254, the cloud metadata
  service), CGNAT, unspecified or reserved address. An IPv6 address that
  carries an IPv4 one (mapped, compatible, NAT64 64:ff9b::/96, 6to4) is judged
  by the IPv4 address its packets end up at. WEBHOOK_ALLOW_PRIVATE lists the
  networks let through anyway (tests allow 127.0.0.0/8; `1` allows all).

The host is resolved once, here, and the connection goes to the address that
was vetted: no HTTP client resolves it again, so DNS rebinding cannot swap the
address between the check and the connect. The Host header, TLS SNI and the
certificate check use the URL's host name. Proxy variables are not read.

One deadline (WEBHOOK_TIMEOUT_S) covers resolving, connecting, TLS, sending
and reading, across redirects; a watchdog shuts the socket when it passes,
since a socket timeout bounds each read but not their sum. The request body
is capped at WEBHOOK_MAX_REQUEST_BYTES and the response body at
WEBHOOK_MAX_RESPONSE_BYTES (read no further).

Why http.client and not httpx: httpx resolves the name itself, so pinning
would mean rewriting the URL to the address, adding the Host header and the
`sni_hostname` extension, and turning off its proxy variables; it has no
whole-request deadline either. http.client over the socket connected here
pins the address by construction, in a few lines.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import ssl
import string
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from chatsite.errors import Invalid

MAX_URL_LENGTH = 2000
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "WebsocketChat-Webhook/1"
# Headers http.client and this module own: a caller's would be sent twice or lie.
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK = ipaddress.ip_address("127.0.0.1")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# getaddrinfo has no timeout of its own: it runs here so the deadline holds
# (a resolution that outlives it finishes in the background, unread). A
# forked child gets its own pool: the parent's threads do not cross a fork.
_resolver: ThreadPoolExecutor


def _new_resolver() -> None:
    global _resolver
    _resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")


_new_resolver()
os.register_at_fork(after_in_child=_new_resolver)


class OutboundError(Exception):
    """A request that produced no response. `reason` is short and safe to
    log: never the URL's path or query, a header, a body or a resolved address."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class OutboundRefused(OutboundError):
    """The policy refused this hop (or the request) before anything was sent to it."""


class OutboundFailed(OutboundError):
    """The network or the server failed: resolution, connection, TLS, the
    deadline, a response too large or malformed, too many redirects."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header's values joined with ", "
    body: bytes
    url: str  # the URL that answered, after redirects (it may hold the hook's secret path: don't log it)


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA), without brackets: for the Host header, SNI and resolving
    port: int
    path: str  # path and query as sent, non-ASCII percent-encoded

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


# --------------------------------------------------------------------------- the policy


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or int(ip) >> 32 == 0:  # NAT64, or IPv4-compatible ::a.b.c.d (and ::, ::1)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_allowed(ip: Address, allowed: Sequence[Network] | None = None) -> bool:
    """Whether a request may go to this address: a public one, or one in
    `allowed` (default WEBHOOK_ALLOW_PRIVATE)."""
    allowed = settings.WEBHOOK_ALLOW_PRIVATE if allowed is None else allowed
    if any(ip in network for network in allowed):
        return True
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if inner is not None:
        return is_allowed(inner, allowed)
    return ip.is_global and not ip.is_multicast


def _literal_address(host: str) -> Address | None:
    """The address a host written as an address stands for, in any form the
    resolver accepts (`2130706433` and `127.1` are 127.0.0.1); None for names."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _target(url: str) -> _Target:
    """The URL's parts, or OutboundRefused saying what is wrong. No DNS."""
    if not isinstance(url, str) or not url:
        raise OutboundRefused("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines; refuse them (and spaces) instead.
    if any(c <= " " or c == "\x7f" for c in url):
        raise OutboundRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise OutboundRefused("the URL is malformed") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise OutboundRefused("only http:// and https:// URLs are allowed")
    if "@" in parts.netloc:
        raise OutboundRefused("the URL must not contain a user name or password")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise OutboundRefused("the URL's port must be a number from 1 to 65535")
    host = parts.hostname
    if not host:
        raise OutboundRefused("the URL has no host")
    address = _literal_address(host)
    if address is None:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise OutboundRefused("the URL's host is not a valid name") from None
        if host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
            address = _LOOPBACK  # RFC 6761: always loopback, whatever DNS says
    if address is not None and not is_allowed(address):
        raise OutboundRefused("the URL's host is not a public address")
    scheme = parts.scheme.lower()
    # Non-ASCII is percent-encoded; everything else (escapes included) is sent as given.
    path = quote(parts.path or "/", safe=string.punctuation)
    if parts.query:
        path += "?" + quote(parts.query, safe=string.punctuation)
    return _Target(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def validate_url(url: str, *, field: str = "url") -> str:
    """A webhook URL checked at registration, returned unchanged: http or
    https, a host, no user info, a port in range, at most MAX_URL_LENGTH
    characters, and a host that is not a non-public address (or `localhost`)
    unless WEBHOOK_ALLOW_PRIVATE allows it. Names are not resolved here (DNS
    changes; post_json checks every address on every request). Raises
    Invalid naming `field` and what is wrong."""
    try:
        _target(url)
    except OutboundRefused as exc:
        raise Invalid.field(field, exc.reason[0].upper() + exc.reason[1:] + ".") from None
    return url


# --------------------------------------------------------------------------- the request


class _Deadline:
    """One deadline for a whole request. `left()` is what remains of it (and
    raises once it has passed); a watchdog shuts the guarded socket down when
    it passes, which ends a read blocked on a server that trickles bytes."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise OutboundFailed("timed out")
        return left

    def guard(self, sock: socket.socket | None) -> None:
        """Watch `sock` (None: stop watching, before it is closed) and let each
        of its operations wait at most what is left (past the deadline: they
        time out at once)."""
        with self._lock:
            self._sock = sock
            if sock is not None:
                sock.settimeout(max(self.at - time.monotonic(), 0.001))

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                try:
                    # The plain socket's shutdown, also for TLS: it only wakes the reader.
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)
                except OSError:
                    pass

    def cancel(self) -> None:
        self._timer.cancel()


def _resolve(target: _Target, deadline: _Deadline) -> list[tuple]:
    """The host's addresses, each of them allowed, else OutboundRefused."""
    future = _resolver.submit(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=deadline.left())
    except TimeoutError:
        raise OutboundFailed("timed out resolving the host") from None
    except (OSError, UnicodeError):
        raise OutboundFailed("the host does not resolve") from None
    if not infos:
        raise OutboundFailed("the host does not resolve")
    for *_, sockaddr in infos:
        # A link-local address comes back with its zone ("fe80::1%eth0").
        if not is_allowed(ipaddress.ip_address(sockaddr[0].split("%", 1)[0])):
            raise OutboundRefused("the host resolves to a non-public address")
    return infos


def _connect(target: _Target, infos: list[tuple], deadline: _Deadline) -> socket.socket:
    """A socket connected to one of the vetted addresses (tried in order), TLS
    verified for the URL's host name on https. Guarded by the deadline."""
    error: OSError = OSError("no address")
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        deadline.guard(sock)
        try:
            sock.connect(sockaddr)
            break
        except OSError as exc:
            deadline.guard(None)
            sock.close()
            error = exc
    else:
        raise error
    if target.scheme == "http":
        return sock
    try:
        # The system's CA store (SSL_CERT_FILE is honoured); SNI and the
        # certificate's name are the URL's host, not the address dialled.
        context = ssl.create_default_context()
        sock = context.wrap_socket(sock, server_hostname=target.host, do_handshake_on_connect=False)
        deadline.guard(sock)
        sock.do_handshake()
        return sock
    except BaseException:
        deadline.guard(None)
        sock.close()
        raise


def _exchange(
    target: _Target, method: str, body: bytes | None, headers: dict[str, str], deadline: _Deadline, max_bytes: int
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection to the vetted address: status,
    headers and, unless it is a redirect, the body (at most max_bytes)."""
    infos = _resolve(target, deadline)
    sock = _connect(target, infos, deadline)
    response: http.client.HTTPResponse | None = None
    try:
        connection = http.client.HTTPConnection(target.host, target.port)
        connection.sock = sock  # connected above: http.client never resolves or connects
        connection.request(method, target.path, body=body, headers={"Host": target.host_header, **headers})
        response = connection.getresponse()
        status = response.status
        response_headers: dict[str, str] = {}
        for name, value in response.getheaders():
            name = name.lower()
            response_headers[name] = f"{response_headers[name]}, {value}" if name in response_headers else value
        if status in REDIRECT_STATUSES and "location" in response_headers:
            return status, response_headers, b""
        length = response_headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise OutboundFailed(f"the response is larger than {max_bytes} bytes")
        content = response.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise OutboundFailed(f"the response is larger than {max_bytes} bytes")
        return status, response_headers, content
    finally:
        deadline.guard(None)
        if response is not None:
            response.close()  # it holds the socket's file: closing the socket alone would not free it
        sock.close()


def post_json(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_s: float | None = None,
    max_response_bytes: int | None = None,
) -> Response:
    """POST `body` (JSON) to a user-supplied URL and return the response,
    whatever its status. Synchronous: call it from a worker thread or process.

    Guarantees: nothing is sent to an address the policy refuses (the module
    docstring), checked for every address the host resolves to and on every
    redirect; the connection goes to the address that was checked. Up to
    MAX_REDIRECTS redirects are followed (307/308 repeat the POST; 301/302/303
    become a GET without the body); a redirect from https to http is refused,
    and Authorization is not sent to another origin. The whole call, redirects
    included, takes at most `timeout_s` (default WEBHOOK_TIMEOUT_S); a body
    over WEBHOOK_MAX_REQUEST_BYTES is not sent, and a response body over
    `max_response_bytes` (default WEBHOOK_MAX_RESPONSE_BYTES) is not read.

    Raises OutboundRefused (the policy said no; nothing was sent to that hop)
    or OutboundFailed (network, TLS, timeout, too large, too many redirects),
    both OutboundError with a `reason` safe to log. A header named Host,
    Content-Length, Transfer-Encoding or Connection is a caller's bug:
    ValueError."""
    timeout_s = settings.WEBHOOK_TIMEOUT_S if timeout_s is None else timeout_s
    max_bytes = settings.WEBHOOK_MAX_RESPONSE_BYTES if max_response_bytes is None else max_response_bytes
    given = {name.lower() for name in headers}
    if reserved := sorted(given & _RESERVED_HEADERS):
        raise ValueError(f"post_json sets these headers itself: {', '.join(reserved)}")
    if len(body) > settings.WEBHOOK_MAX_REQUEST_BYTES:
        raise OutboundRefused(f"the request body is larger than {settings.WEBHOOK_MAX_REQUEST_BYTES} bytes")
    target = _target(url)
    defaults = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
    request_headers = {k: v for k, v in defaults.items() if k.lower() not in given} | headers | {"Connection": "close"}
    method, payload = "POST", body
    redirects = 0
    deadline = _Deadline(timeout_s)
    try:
        while True:
            try:
                status, response_headers, content = _exchange(
                    target, method, payload, request_headers, deadline, max_bytes
                )
            except OutboundRefused as exc:
                if redirects:  # the URL given was fine; where it led is not
                    raise OutboundRefused(f"redirect refused: {exc.reason}") from None
                raise
            if not (status in REDIRECT_STATUSES and "location" in response_headers):
                return Response(status=status, headers=response_headers, body=content, url=url)
            if redirects == MAX_REDIRECTS:
                raise OutboundFailed(f"more than {MAX_REDIRECTS} redirects")
            redirects += 1
            url = urljoin(url, response_headers["location"])
            try:
                following = _target(url)
            except OutboundRefused as exc:
                raise OutboundRefused(f"redirect refused: {exc.reason}") from None
            if target.scheme == "https" and following.scheme == "http":
                raise OutboundRefused("redirect refused: from https to http")
            if following.origin != target.origin:
                request_headers = _without(request_headers, "authorization")
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, payload = "GET", None
                request_headers = _without(request_headers, "content-type")
            target = following
    except (OSError, http.client.HTTPException) as exc:
        raise OutboundFailed(_failure(exc, deadline)) from None
    finally:
        deadline.cancel()


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name}


def _failure(exc: Exception, deadline: _Deadline) -> str:
    """A short reason for a network error (never its text: it may hold addresses)."""
    if deadline.expired or isinstance(exc, TimeoutError):
        return "timed out"  # after the watchdog, a read ends in whatever error the socket gives
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "the server's TLS certificate is not valid for its host"
    if isinstance(exc, ssl.SSLError):
        return "TLS failed"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without a response"
    if isinstance(exc, http.client.HTTPException):
        return "the server's response is malformed"
    return "connection failed"


# --------------------------------------------------------------------------- a pooled session (push)
#
# Push services take many requests to few hosts, so the notifier keeps its
# connections (requests' pool) instead of post_json's one connection per
# request. The pool's connections pass the same policy: each new connection
# resolves the host once, refuses it unless every address is allowed, and
# connects to one of those addresses (TLS still checks the URL's host name),
# so DNS rebinding cannot swap the address between the check and the connect.


class RefusedAddress(NewConnectionError):
    """A vetted connection refused by the policy (nothing was sent)."""

    reason = "the host resolves to a non-public address"


def refusal(exc: BaseException) -> str | None:
    """The policy's reason if a vetted session's request failed because of it
    (requests wraps it in urllib3's MaxRetryError), else None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, RefusedAddress):
            return RefusedAddress.reason
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException):
            inner = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else seen.__cause__
        seen = inner
    return None


class _Vetted:
    """urllib3 connection mixin: `_new_conn` resolves, vets and connects to
    the vetted address. `allowance()` is the networks let through."""

    allowance: Callable[[], Sequence[Network]]

    def _new_conn(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise NewConnectionError(self, "the host does not resolve") from exc
        allowed = self.allowance()
        if not infos or not all(is_allowed(ipaddress.ip_address(i[4][0].split("%", 1)[0]), allowed) for i in infos):
            raise RefusedAddress(self, f"refused: {RefusedAddress.reason}")
        error: OSError = OSError("no address")
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            for option in self.socket_options or ():
                sock.setsockopt(*option)
            if isinstance(self.timeout, int | float):
                sock.settimeout(self.timeout)
            try:
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(self, "timed out connecting") from error
        raise NewConnectionError(self, f"connection failed: {type(error).__name__}") from error


def vetted_session(allowance: Callable[[], Sequence[Network]]) -> requests.Session:
    """A requests Session whose every connection passes the policy (the
    networks `allowance()` returns let through, else public addresses only),
    that follows no redirect and reads no proxy variables."""

    class VettedHTTP(_Vetted, HTTPConnection):
        pass

    class VettedHTTPS(_Vetted, HTTPSConnection):
        pass

    VettedHTTP.allowance = VettedHTTPS.allowance = staticmethod(allowance)
    pools = {
        "http": type("VettedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": VettedHTTP}),
        "https": type("VettedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": VettedHTTPS}),
    }

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

    class Session(requests.Session):
        def request(self, *args, **kwargs):
            kwargs["allow_redirects"] = False  # a redirect could point anywhere
            return super().request(*args, **kwargs)

    session = Session()
    session.trust_env = False  # a proxy would be the address dialled, not the host vetted
    adapter = Adapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
