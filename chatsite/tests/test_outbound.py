"""Outgoing webhooks (chatsite/outbound.py, chatsite/signing.py) against real
local HTTP(S) servers on 127.0.0.1. Only the resolver is faked, for made-up
names (it is outside the product); the policy, the pinning, the redirects and
the limits run as in production, with WEBHOOK_ALLOW_PRIVATE letting loopback
through where a test needs to reach its own server."""

from __future__ import annotations

import collections
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import override_settings

from chatsite import signing
from chatsite.errors import Invalid
from chatsite.outbound import OutboundFailed, OutboundRefused, post_json, validate_url

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
NOTHING: list = []


# --------------------------------------------------------------------------- servers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            types.SimpleNamespace(method=self.command, path=self.path, headers=self.headers, body=body)
        )
        stopping = self.server.stopping
        if parts.path == "/echo":
            self.reply(200, b'{"ok": true}', ("Content-Type", "application/json"), ("X-Reply", "a"), ("X-Reply", "b"))
        elif parts.path == "/status/500":
            self.reply(500, b"nope")
        elif parts.path == "/redirect":
            self.reply(int(query.get("code", "302")), b"", ("Location", query["to"]))
        elif parts.path.startswith("/chain/"):
            left = int(parts.path.rsplit("/", 1)[1])
            if left == 0:
                self.reply(200, b"end of chain")
            else:
                self.reply(302, b"", ("Location", f"/chain/{left - 1}"))
        elif parts.path == "/sleep":
            stopping.wait(3)
            self.reply(200, b"late")
        elif parts.path == "/trickle":  # one byte of headers at a time, never finishing in time
            for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 200:
                if stopping.wait(0.05):
                    return
                self.wfile.write(bytes([byte]))
        elif parts.path == "/big":
            self.reply(200, b"x" * 5000)
        elif parts.path == "/big-unsized":  # no Content-Length: the body ends when the connection does
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            for _ in range(1000):
                if stopping.is_set():
                    return
                self.wfile.write(b"x" * 1024)
        else:
            self.reply(404, b"")

    def reply(self, status: int, body: bytes, *headers: tuple[str, str]) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class TLSHandler(Handler):
    def handle(self) -> None:
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        super().handle()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[Handler], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.seen: list[types.SimpleNamespace] = []
        self.accepted = 0
        self.stopping = threading.Event()
        self.sni: list[str | None] = []
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.server_address[1]

    def verify_request(self, request, client_address) -> bool:
        self.accepted += 1
        return True

    def handle_error(self, request, client_address) -> None:
        pass  # clients that give up (timeouts, size limits) are what several tests do

    def url(self, path: str, *, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@pytest.fixture
def serve():
    """Starts local servers; all are stopped after the test."""
    servers: list[Server] = []

    def start(handler: type[Handler] = Handler, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler, tls)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stopping.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(serve) -> Server:
    return serve()


@pytest.fixture
def dns(monkeypatch):
    """Answers for made-up names, without a DNS server; other names go to the
    real resolver. answers[name] is a list of answers, one per lookup (the
    last repeats); calls[name] counts the lookups."""
    real = socket.getaddrinfo
    answers: dict[str, list[list[str]]] = {}
    calls: collections.Counter[str] = collections.Counter()

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            return real(host, port, family, type, proto, flags)
        calls[host] += 1
        ips = answers[host][min(calls[host], len(answers[host])) - 1]
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, port))
            for ip in ips
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return types.SimpleNamespace(answers=answers, calls=calls)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and a certificate it issued for hooks.example.test."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.example.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.example.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder


@pytest.fixture
def tls_server(serve, pki, dns, monkeypatch) -> Server:
    """An https server for hooks.example.test (resolving to 127.0.0.1), its CA trusted
    through SSL_CERT_FILE as an operator would; it records the SNI it is sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "leaf.pem", pki / "leaf.key")
    server = serve(TLSHandler, context)
    context.sni_callback = lambda _sock, name, _ctx: server.sni.append(name)
    dns.answers["hooks.example.test"] = [["127.0.0.1"]]
    dns.answers["other.example.test"] = [["127.0.0.1"]]
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    return server


def elapsed(since: float) -> float:
    return time.monotonic() - since


# --------------------------------------------------------------------------- requests


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_a_post_arrives_with_its_headers_and_body(server):
    body = json.dumps({"type": "message.created", "text": "hi"}).encode()

    response = post_json(server.url("/echo?x=1"), body, {"X-Slack-Signature": "v0=abc"})

    assert response.status == 200
    assert response.body == b'{"ok": true}'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-reply"] == "a, b"
    [seen] = server.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/echo?x=1", body)
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Slack-Signature"] == "v0=abc"
    assert seen.headers["Accept-Encoding"] == "identity"  # no compressed bodies (no decompression bombs)
    assert seen.headers["User-Agent"].startswith("WebsocketChat-Webhook/")


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_a_non_2xx_status_is_returned_not_raised(server):
    response = post_json(server.url("/status/500"), b"{}", {})

    assert (response.status, response.body) == (500, b"nope")


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_a_server_that_does_not_answer_in_time_fails_with_a_timeout(server):
    start = time.monotonic()
    with pytest.raises(OutboundFailed) as caught:
        post_json(server.url("/sleep"), b"{}", {}, timeout_s=0.3)

    assert caught.value.reason == "timed out"
    assert elapsed(start) < 1.5


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_the_deadline_bounds_the_whole_request_not_each_read(server):
    """Every read gets a byte well within the socket timeout; the sum does not."""
    start = time.monotonic()
    with pytest.raises(OutboundFailed) as caught:
        post_json(server.url("/trickle"), b"{}", {}, timeout_s=0.5)

    assert caught.value.reason == "timed out"
    assert elapsed(start) < 1.5


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_a_response_over_the_cap_fails(server, path):
    with pytest.raises(OutboundFailed) as caught:
        post_json(server.url(path), b"{}", {}, max_response_bytes=1024)

    assert caught.value.reason == "the response is larger than 1024 bytes"


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK, WEBHOOK_MAX_RESPONSE_BYTES=5000)
def test_a_response_at_the_cap_is_read_whole(server):
    assert post_json(server.url("/big"), b"{}", {}).body == b"x" * 5000


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK, WEBHOOK_MAX_REQUEST_BYTES=16)
def test_a_request_body_over_the_cap_is_not_sent(server):
    with pytest.raises(OutboundRefused):
        post_json(server.url("/echo"), b"x" * 17, {})

    assert server.accepted == 0


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_headers_the_module_sets_itself_are_a_callers_bug(server):
    with pytest.raises(ValueError):
        post_json(server.url("/echo"), b"{}", {"Host": "internal.example"})


# --------------------------------------------------------------------------- redirects


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_a_307_repeats_the_post_and_a_303_becomes_a_get(server):
    response = post_json(server.url(f"/redirect?code=307&to={quote(server.url('/echo'))}"), b'{"a":1}', {})

    assert response.status == 200
    assert response.url == server.url("/echo")
    assert [(s.method, s.body) for s in server.seen] == [("POST", b'{"a":1}'), ("POST", b'{"a":1}')]

    server.seen.clear()
    post_json(server.url("/redirect?code=303&to=/echo"), b'{"a":1}', {})

    assert [(s.method, s.body) for s in server.seen] == [("POST", b'{"a":1}'), ("GET", b"")]
    assert "Content-Type" not in server.seen[1].headers


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_three_redirects_are_followed_and_a_fourth_is_not(server):
    assert post_json(server.url("/chain/3"), b"{}", {}).body == b"end of chain"

    server.seen.clear()
    with pytest.raises(OutboundFailed) as caught:
        post_json(server.url("/chain/4"), b"{}", {})

    assert caught.value.reason == "more than 3 redirects"
    assert [s.path for s in server.seen] == ["/chain/4", "/chain/3", "/chain/2", "/chain/1"]


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_authorization_is_not_sent_to_another_origin(serve):
    first, second = serve(), serve()

    post_json(first.url("/redirect?code=307&to=/echo"), b"{}", {"Authorization": "Bearer s3cret"})
    post_json(
        first.url(f"/redirect?code=307&to={quote(second.url('/echo'))}"), b"{}", {"Authorization": "Bearer s3cret"}
    )

    assert first.seen[1].headers["Authorization"] == "Bearer s3cret"  # same origin
    assert "Authorization" not in second.seen[0].headers


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/echo",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.example.test/",  # a name resolving to the metadata service
        "http://mixed.example.test/",  # one public and one private address
        "ftp://127.0.0.1:{port}/echo",
        "http://user:pw@127.0.0.1:{port}/echo",
    ],
)
def test_a_redirect_is_checked_like_the_first_hop(server, dns, target):
    """Loopback is allowed, so the first hop reaches the local server; where
    it redirects is refused before any connection (10.0.0.1 would hang)."""
    dns.answers["metadata.example.test"] = [["169.254.169.254"]]
    dns.answers["mixed.example.test"] = [["93.184.216.34", "10.0.0.1"]]
    start = time.monotonic()

    with pytest.raises(OutboundRefused) as caught:
        post_json(server.url(f"/redirect?to={quote(target.format(port=server.port))}"), b"{}", {}, timeout_s=3)

    assert caught.value.reason.startswith("redirect refused")
    assert elapsed(start) < 1
    assert [s.path.split("?")[0] for s in server.seen] == ["/redirect"]


# --------------------------------------------------------------------------- the policy


REFUSED_HOSTS = [
    "127.0.0.1:{port}",
    "localhost:{port}",
    "app.localhost:{port}",
    "10.1.2.3:{port}",
    "192.168.1.1",
    "172.16.0.1",
    "169.254.169.254",
    "[::1]:{port}",
    "[::ffff:127.0.0.1]:{port}",
    "0.0.0.0:{port}",
    "100.64.0.1",
    "2130706433:{port}",  # 127.0.0.1 as one number
    "127.1:{port}",
    "0x7f.0.0.1:{port}",
    "[::127.0.0.1]:{port}",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[fe80::1]",
    "[fc00::1]",
    "[::]",
    "224.0.0.1",
    "[ff02::1]",
    "240.0.0.1",
    "255.255.255.255",
]


@override_settings(WEBHOOK_ALLOW_PRIVATE=NOTHING)
@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_non_public_targets_are_refused_without_connecting(server, host):
    url = f"http://{host.format(port=server.port)}/echo"

    with pytest.raises(OutboundRefused):
        post_json(url, b"{}", {})
    with pytest.raises(Invalid):
        validate_url(url)

    assert server.accepted == 0


@override_settings(WEBHOOK_ALLOW_PRIVATE=NOTHING)
def test_a_name_is_refused_if_any_of_its_addresses_is_not_public(dns):
    dns.answers["mixed.example.test"] = [["93.184.216.34", "10.0.0.1"]]
    dns.answers["mapped.example.test"] = [["2606:4700::1111", "::ffff:192.168.0.1"]]

    for name in ("mixed.example.test", "mapped.example.test"):
        with pytest.raises(OutboundRefused) as caught:
            post_json(f"https://{name}/hook", b"{}", {})
        assert caught.value.reason == "the host resolves to a non-public address"
        validate_url(f"https://{name}/hook")  # names are not resolved at registration


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_the_address_checked_is_the_address_connected_to(server, dns):
    """DNS rebinding: the name answers loopback (allowed) once, then the
    metadata service. It is resolved once and the request goes to the first
    answer, with the name in the Host header."""
    dns.answers["rebind.example.test"] = [["127.0.0.1"], ["169.254.169.254"]]

    response = post_json(server.url("/echo", host="rebind.example.test"), b"{}", {})

    assert response.status == 200
    assert dns.calls["rebind.example.test"] == 1
    assert server.seen[0].headers["Host"] == f"rebind.example.test:{server.port}"


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_allowed_networks_let_only_themselves_through():
    assert validate_url("http://127.0.0.1:8000/hook") == "http://127.0.0.1:8000/hook"
    assert validate_url("http://localhost:8000/hook") == "http://localhost:8000/hook"
    with pytest.raises(Invalid):
        validate_url("http://10.0.0.1/hook")
    with pytest.raises(Invalid):
        validate_url("http://[::1]/hook")


@override_settings(WEBHOOK_ALLOW_PRIVATE=NOTHING)
@pytest.mark.parametrize(
    "url, says",
    [
        ("ftp://example.com/hook", "http"),
        ("javascript:alert(1)", "http"),
        ("//example.com/hook", "http"),
        ("https://user:pass@example.com/hook", "user name or password"),
        ("https://token@example.com/hook", "user name or password"),
        ("https://example.com:99999/hook", "port"),
        ("https://example.com:0/hook", "port"),
        ("https://example.com:https/hook", "port"),
        ("http:///hook", "no host"),
        ("https://example.com/" + "a" * 2000, "longer than 2000"),
        ("https://exa mple.com/hook", "spaces or control characters"),
        ("https://example.com/hook\r\nX-Injected: 1", "spaces or control characters"),
        ("https://exam\tple.com/hook", "spaces or control characters"),
        ("", "empty"),
    ],
)
def test_a_malformed_url_is_refused_saying_what_is_wrong(url, says):
    with pytest.raises(Invalid) as caught:
        validate_url(url)

    assert caught.value.code == "invalid"
    [message] = caught.value.fields["url"]
    assert says in message
    with pytest.raises(OutboundRefused):
        post_json(url, b"{}", {})


@override_settings(WEBHOOK_ALLOW_PRIVATE=NOTHING)
def test_public_urls_pass_unchanged():
    for url in (
        "https://hooks.example.com/services/T0/B0/XXXX?x=1",
        "http://bücher.example:8080/hook",
        "https://8.8.8.8/",
    ):
        assert validate_url(url) == url


# --------------------------------------------------------------------------- TLS


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_https_dials_the_vetted_address_but_speaks_to_the_name(tls_server):
    response = post_json(tls_server.url("/echo", host="hooks.example.test", scheme="https"), b"{}", {})

    assert response.status == 200
    assert tls_server.sni == ["hooks.example.test"]
    assert tls_server.seen[0].headers["Host"] == f"hooks.example.test:{tls_server.port}"


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_a_certificate_for_another_name_or_an_unknown_ca_fails(tls_server, monkeypatch):
    with pytest.raises(OutboundFailed) as caught:
        post_json(tls_server.url("/echo", host="other.example.test", scheme="https"), b"{}", {})
    assert caught.value.reason == "the server's TLS certificate is not valid for its host"

    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(OutboundFailed) as caught:
        post_json(tls_server.url("/echo", host="hooks.example.test", scheme="https"), b"{}", {})
    assert caught.value.reason == "the server's TLS certificate is not valid for its host"
    assert tls_server.seen == []


@override_settings(WEBHOOK_ALLOW_PRIVATE=LOOPBACK)
def test_a_redirect_from_https_to_http_is_refused(tls_server, server):
    to = quote(server.url("/echo"))

    with pytest.raises(OutboundRefused):
        post_json(tls_server.url(f"/redirect?code=307&to={to}", host="hooks.example.test", scheme="https"), b"{}", {})

    assert server.accepted == 0


# --------------------------------------------------------------------------- the setting


@pytest.mark.one_config
def test_webhook_allow_private_takes_0_1_or_networks(tmp_path):
    def read(value: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "KAFKA_"))}
        env.update(VAR_DIR=str(tmp_path), WEBHOOK_ALLOW_PRIVATE=value)
        code = "from chatsite import settings as s; print(sorted(map(str, s.WEBHOOK_ALLOW_PRIVATE)))"
        return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)

    assert read("0").stdout.strip() == "[]"
    assert read("1").stdout.strip() == "['0.0.0.0/0', '::/0']"
    assert read("127.0.0.0/8, ::1").stdout.strip() == "['127.0.0.0/8', '::1/128']"
    bad = read("loopback")
    assert bad.returncode != 0 and "WEBHOOK_ALLOW_PRIVATE" in bad.stderr


# --------------------------------------------------------------------------- signing

# Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TIMESTAMP = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_signatures_match_slacks_published_example():
    assert signing.sign(SLACK_SECRET, SLACK_TIMESTAMP, SLACK_BODY) == SLACK_SIGNATURE
    assert signing.verify(SLACK_SECRET, str(SLACK_TIMESTAMP), SLACK_SIGNATURE, SLACK_BODY, now=SLACK_TIMESTAMP)


def test_a_signature_round_trips_and_a_tampered_one_does_not():
    body = b'{"type":"message.created"}'
    headers = signing.signed_headers("s3cret", body)
    timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]

    assert signing.verify("s3cret", timestamp, signature, body)
    assert not signing.verify("s3cret", timestamp, signature, body + b" ")
    assert not signing.verify("other", timestamp, signature, body)
    assert not signing.verify("s3cret", str(int(timestamp) + 1), signature, body)
    flipped = signature[:-1] + ("1" if signature.endswith("0") else "0")
    assert not signing.verify("s3cret", timestamp, flipped, body)


@pytest.mark.parametrize("skew, valid", [(-301, False), (-300, True), (0, True), (300, True), (301, False)])
def test_stale_and_future_timestamps_are_refused(skew, valid):
    signature = signing.sign("s3cret", 1_700_000_000, b"{}")

    assert signing.verify("s3cret", "1700000000", signature, b"{}", now=1_700_000_000 + skew) is valid


@pytest.mark.parametrize(
    "timestamp, signature", [(None, "v0=00"), ("", "v0=00"), ("12a", "v0=00"), ("-5", "v0=00"), ("1700000000", None)]
)
def test_missing_or_malformed_headers_do_not_verify(timestamp, signature):
    assert not signing.verify("s3cret", timestamp, signature, b"{}", now=1_700_000_000)


def test_an_empty_secret_neither_signs_nor_verifies():
    with pytest.raises(ValueError):
        signing.sign("", 1, b"{}")
    assert not signing.verify("", "1", "v0=00", b"{}", now=1)
