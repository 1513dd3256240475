"""A local stand-in for a Web Push service, for tests.

`PushService` runs an HTTP server on 127.0.0.1 that hands out browser-like
subscriptions (`new_subscription()`) and checks every push sent to them the way
a real push service would (RFC 8030 headers, RFC 8292 VAPID, RFC 8291 aes128gcm
encryption), then decrypts the payload with the subscription's private key so
tests can read what a browser would receive::

    with PushService(vapid_public_key=settings.VAPID_PUBLIC_KEY) as ps:
        sub = ps.new_subscription("alice-phone")
        ...  # register sub.info, make the product push
        [delivery] = ps.wait_for(1, subscription=sub)
        assert delivery.payload["type"] == "message"
        assert ps.rejected == []

`respond()` makes it answer like a push service in trouble (404/410 gone
subscriptions, 429 with Retry-After, 500, slow answers).

Only the RFC 8292 `Authorization: vapid t=<JWT>, k=<key>` form is accepted: it
is what pywebpush 2.5.0 sends for a key given as a string or a py_vapid
`Vapid`/`Vapid02`. The draft form (`Authorization: WebPush <JWT>` with
`Crypto-Key: p256ecdsa=<key>`) is sent only when a `Vapid01` object is passed,
and is rejected here.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = ["BrowserSubscription", "Delivery", "PushService", "b64url_decode", "b64url_encode"]

# Push services take at least 4096 bytes of (encrypted) payload (RFC 8030
# section 7.2) and the common ones take no more.
MAX_BODY = 4096
URGENCIES = ("very-low", "low", "normal", "high")
TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
# A VAPID token may be valid for at most 24 hours (RFC 8292 section 2).
MAX_EXP_AHEAD_S = 24 * 60 * 60
PATH = re.compile(r"^/push/([A-Za-z0-9_-]+)$")


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (as browsers and VAPID use it)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url, with or without padding; raises ValueError."""
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise ValueError("not base64url")
    text = text.rstrip("=")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(str(exc)) from None


@dataclasses.dataclass(eq=False)
class BrowserSubscription:
    """What a browser keeps for one `PushManager.subscribe()`."""

    endpoint: str
    token: str
    name: str
    private_key: ec.EllipticCurvePrivateKey = dataclasses.field(repr=False)
    auth_secret: bytes = dataclasses.field(repr=False)

    @property
    def public_key(self) -> bytes:
        """The uncompressed 65-byte P-256 point (`p256dh`)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @property
    def info(self) -> dict:
        """The JSON of `PushSubscription.toJSON()`, as a page would post it."""
        return {
            "endpoint": self.endpoint,
            "keys": {"p256dh": b64url_encode(self.public_key), "auth": b64url_encode(self.auth_secret)},
        }

    def decrypt(self, body: bytes) -> bytes:
        """Decrypt an aes128gcm push body as the browser would."""
        return http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm")


@dataclasses.dataclass
class Delivery:
    """One push that passed every check, and what the service answered."""

    subscription: BrowserSubscription
    payload: dict
    ttl: int
    urgency: str | None
    topic: str | None
    status: int
    claims: dict
    at: float  # time.time() when the request arrived (before any delay)


@dataclasses.dataclass
class _Rule:
    status: int
    delay: float
    times: int | None
    retry_after: int


class _Reject(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class PushService:
    """A push service on 127.0.0.1 (a context manager; see the module docstring).

    `vapid_public_key` (base64url of the uncompressed point), when given, is the
    only application server key accepted (403 for another), as for
    subscriptions made with that `applicationServerKey`.
    """

    def __init__(self, vapid_public_key: str | None = None) -> None:
        self.vapid_public_key = vapid_public_key
        self._vapid_key_raw = b64url_decode(vapid_public_key) if vapid_public_key else None
        self.received: list[Delivery] = []
        self.rejected: list[tuple[str, str]] = []
        self._subscriptions: dict[str, BrowserSubscription] = {}
        self._rules: dict[str | None, _Rule] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.origin = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> PushService:
        service = self

        class Handler(_Handler):
            push_service = service

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="push-service", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # ends pending delays
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> PushService:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ set-up

    def new_subscription(self, name: str = "") -> BrowserSubscription:
        """A fresh subscription (key pair, auth secret, endpoint) as a browser makes one."""
        if not self.origin:
            raise RuntimeError("PushService is not started (use `with PushService() as ps:`)")
        token = secrets.token_urlsafe(24)
        with self._lock:
            sub = BrowserSubscription(
                endpoint=f"{self.origin}/push/{token}",
                token=token,
                name=name or f"sub-{len(self._subscriptions) + 1}",
                private_key=ec.generate_private_key(ec.SECP256R1()),
                auth_secret=secrets.token_bytes(16),
            )
            self._subscriptions[token] = sub
        return sub

    def respond(
        self,
        subscription: BrowserSubscription | None,
        status: int = 201,
        delay: float = 0.0,
        times: int | None = None,
        *,
        retry_after: int = 1,
    ) -> None:
        """Answer valid pushes to `subscription` (None: to any) with `status`
        after sleeping `delay` seconds, for the next `times` pushes (None:
        until changed). A 429 carries `Retry-After: <retry_after>`.

        A subscription's own rule comes before the one for all; a used-up rule
        is dropped, so answers fall back to the rule for all, then to 201.
        """
        key = subscription.token if subscription is not None else None
        with self._lock:
            self._rules[key] = _Rule(status=status, delay=delay, times=times, retry_after=retry_after)

    def reset(self) -> None:
        """Forget deliveries, rejections and `respond()` rules (subscriptions stay valid)."""
        with self._lock:
            self.received.clear()
            self.rejected.clear()
            self._rules.clear()

    # ------------------------------------------------------------------ results

    def deliveries(self, subscription: BrowserSubscription | None = None, status: int | None = 201) -> list[Delivery]:
        """Recorded deliveries, in arrival order, for `subscription` (None: all)
        answered with `status` (None: any)."""
        with self._lock:
            found = list(self.received)
        return [
            d
            for d in found
            if (subscription is None or d.subscription is subscription) and (status is None or d.status == status)
        ]

    def wait_for(
        self,
        n: int,
        timeout: float = 10.0,
        subscription: BrowserSubscription | None = None,
        status: int | None = 201,
    ) -> list[Delivery]:
        """Wait until at least `n` deliveries match (see `deliveries()`), and return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(subscription, status)
            if len(found) >= n:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {n} push(es) to {subscription.name if subscription else 'any subscription'} "
                    f"answered {status}, got {len(found)} after {timeout}s.\n{self.describe()}"
                )
            time.sleep(0.01)

    def describe(self) -> str:
        """Everything received and rejected so far, one line each (for failure messages)."""
        with self._lock:
            received, rejected = list(self.received), list(self.rejected)
        lines = [f"received ({len(received)}):"]
        lines += [
            f"  {d.subscription.name} -> {d.status} ttl={d.ttl} urgency={d.urgency} topic={d.topic} {d.payload!r}"
            for d in received
        ]
        lines.append(f"rejected ({len(rejected)}):")
        lines += [f"  {token}: {reason}" for token, reason in rejected]
        return "\n".join(lines)

    # ------------------------------------------------------------------ checks (handler threads)

    def _rule_for(self, token: str) -> _Rule | None:
        """The rule answering this push (using one of its `times`); caller holds the lock."""
        for key in (token, None):
            rule = self._rules.get(key)
            if rule is None:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    del self._rules[key]
            return rule
        return None

    def _check(self, token: str, headers, body: bytes) -> tuple[BrowserSubscription, dict, dict]:
        """Check one push like a push service; returns (subscription, claims, fields) or raises _Reject."""
        with self._lock:
            sub = self._subscriptions.get(token)
        if sub is None:
            raise _Reject(404, "no such subscription (endpoint never issued by this push service)")

        claims = self._check_vapid(headers.get("Authorization"), headers.get("Crypto-Key"))

        ttl_text = headers.get("TTL")
        if ttl_text is None:
            raise _Reject(400, "missing TTL header")
        if not re.fullmatch(r"\d+", ttl_text.strip()):
            raise _Reject(400, f"TTL is not a non-negative integer: {ttl_text!r}")
        urgency = headers.get("Urgency")
        if urgency is not None and urgency not in URGENCIES:
            raise _Reject(400, f"bad Urgency {urgency!r} (one of {', '.join(URGENCIES)})")
        topic = headers.get("Topic")
        if topic is not None and not TOPIC.match(topic):
            raise _Reject(400, f"bad Topic {topic!r} (1 to 32 base64url characters)")

        encoding = headers.get("Content-Encoding")
        if (encoding or "").strip().lower() != "aes128gcm":
            raise _Reject(400, f"Content-Encoding is {encoding!r}, not 'aes128gcm'")
        if not body:
            raise _Reject(400, "empty body (this stand-in expects an encrypted JSON payload)")
        if len(body) > MAX_BODY:
            raise _Reject(413, f"body of {len(body)} bytes is over {MAX_BODY}")
        try:
            plaintext = sub.decrypt(body)
        except Exception as exc:  # http_ece raises ECEException, cryptography InvalidTag, ...
            raise _Reject(400, f"cannot decrypt aes128gcm body: {type(exc).__name__}: {exc}") from None
        try:
            payload = json.loads(plaintext.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Reject(400, f"decrypted payload is not JSON: {exc}: {plaintext[:100]!r}") from None
        if not isinstance(payload, dict):
            raise _Reject(400, f"decrypted payload is not a JSON object: {payload!r}")
        return sub, claims, {"payload": payload, "ttl": int(ttl_text), "urgency": urgency, "topic": topic}

    def _check_vapid(self, authorization: str | None, crypto_key: str | None) -> dict:
        """Check an RFC 8292 `vapid t=..., k=...` header; returns the JWT claims."""
        if not authorization:
            raise _Reject(401, "missing Authorization header (VAPID)")
        scheme, _, params = authorization.strip().partition(" ")
        if scheme.lower() == "webpush":
            raise _Reject(
                401,
                f"draft VAPID form 'Authorization: WebPush <JWT>' (Crypto-Key: {crypto_key!r}); "
                "RFC 8292 is 'vapid t=<JWT>, k=<key>' (pywebpush sends the draft form only for a Vapid01 key)",
            )
        if scheme.lower() != "vapid":
            raise _Reject(401, f"Authorization scheme is {scheme!r}, not 'vapid'")
        fields = {}
        for part in params.split(","):
            name, sep, value = part.strip().partition("=")
            if sep:
                fields[name.strip().lower()] = value.strip()
        if "t" not in fields or "k" not in fields:
            raise _Reject(401, f"Authorization lacks t= or k=: {authorization!r}")
        try:
            key_raw = b64url_decode(fields["k"])
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_raw)
        except ValueError as exc:
            raise _Reject(401, f"k= is not a P-256 public key: {exc}") from None
        if self._vapid_key_raw is not None and key_raw != self._vapid_key_raw:
            raise _Reject(403, f"signed with VAPID key {fields['k']}, the subscription is for {self.vapid_public_key}")

        segments = fields["t"].split(".")
        if len(segments) != 3:
            raise _Reject(401, "t= is not a JWS compact token (header.claims.signature)")
        try:
            header = json.loads(b64url_decode(segments[0]))
            claims = json.loads(b64url_decode(segments[1]))
            signature = b64url_decode(segments[2])
        except ValueError as exc:
            raise _Reject(401, f"t= does not decode: {exc}") from None
        if not isinstance(header, dict) or header.get("alg") != "ES256":
            raise _Reject(401, f"JWT alg is not ES256: {header!r}")
        if len(signature) != 64:
            raise _Reject(401, f"ES256 signature is {len(signature)} bytes, not 64 (r||s)")
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        signed = f"{segments[0]}.{segments[1]}".encode("ascii")
        try:
            public_key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _Reject(401, "JWT signature does not verify with k=") from None

        if not isinstance(claims, dict):
            raise _Reject(401, f"JWT claims are not an object: {claims!r}")
        if claims.get("aud") != self.origin:
            raise _Reject(401, f"JWT aud is {claims.get('aud')!r}, not the push service origin {self.origin!r}")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise _Reject(401, f"JWT exp is not a number: {exp!r}")
        if exp <= now:
            raise _Reject(401, f"JWT expired {now - exp:.0f}s ago")
        if exp > now + MAX_EXP_AHEAD_S:
            raise _Reject(401, f"JWT exp is {exp - now:.0f}s ahead, more than 24 hours")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
            raise _Reject(401, f"JWT sub is not a mailto: or https: URL: {sub!r}")
        return claims

    def _handle(self, path: str, headers, body: bytes) -> tuple[int, dict[str, str], float]:
        """Check, record and choose the answer: (status, extra headers, delay)."""
        match = PATH.match(path)
        token = match.group(1) if match else path
        try:
            if not match:
                raise _Reject(404, "not a push endpoint path (/push/<token>)")
            sub, claims, fields = self._check(token, headers, body)
        except _Reject as exc:
            with self._lock:
                self.rejected.append((token, f"{exc.status} {exc.reason}"))
            return exc.status, {}, 0.0
        with self._lock:
            rule = self._rule_for(token)
            status = rule.status if rule else 201
            self.received.append(Delivery(subscription=sub, claims=claims, status=status, at=time.time(), **fields))
        extra = {}
        if status == 201:
            extra["Location"] = f"{self.origin}/message/{secrets.token_urlsafe(12)}"
        if status == 429:
            extra["Retry-After"] = str(rule.retry_after)
        return status, extra, rule.delay if rule else 0.0


class _Handler(BaseHTTPRequestHandler):
    push_service: PushService
    # HTTP/1.0: one request per connection, so nothing outlives the service.

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            body = b""
            status, extra, delay = 411, {}, 0.0
            with self.push_service._lock:
                self.push_service.rejected.append((self.path, "411 no Content-Length"))
        else:
            body = self.rfile.read(int(length))
            status, extra, delay = self.push_service._handle(self.path, self.headers, body)
        if delay:
            self.push_service._closing.wait(delay)
        try:
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting (its timeout was shorter than `delay`)

    def do_GET(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass
