"""Uploads through a real daphne process: an oversized body is refused while
it arrives (Content-Length or chunked), and a multipart body is not parsed
into memory by Twisted (chatsite/daphne_body.py)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MAX = 40 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """daphne on a free port with MAX_FILE_BYTES=40 MiB, a MEDIA_ROOT of its
    own, on this session's test database. Yields (base url, pid)."""
    from conftest import serving

    workdir = tmp_path_factory.mktemp("files-daphne")
    env = {"MAX_FILE_BYTES": MAX, "MEDIA_ROOT": workdir / "media", "LOG_LEVEL": "WARNING"}
    with serving("daphne", django_db_blocker, workdir, env=env, name="daphne") as served:
        yield served.url, served.proc.pid


def token(base: str, username: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/register", json={"username": username, "password": "a-long-password"})
    assert r.status_code == 201, r.text
    return r.json()["access"]


def peak_memory(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def raw_request(base: str, head: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(head.encode())
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_an_announced_oversized_body_is_refused_before_it_is_sent(server):
    base, _ = server
    access = token(base, "bigannounce")
    sock = raw_request(
        base,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {access}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {1024**3}\r\nExpect: 100-continue\r\n\r\n",
    )
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer
    assert answer.endswith(b'"code": "too_large", "message": "A request body may have at most 42008576 bytes."}}')


def test_a_chunked_body_is_cut_off_once_it_passes_the_cap(server):
    base, _ = server
    access = token(base, "bigchunked")
    sock = raw_request(
        base,
        "POST /api/v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {access}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    chunk = b"x" * (1024 * 1024)
    sent = 0
    try:
        while sent < 400 * 1024 * 1024:
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.close()
    # Cut off near the cap (plus what the sockets buffer), far from the 400 MiB.
    assert MAX < sent < MAX + 64 * 1024 * 1024
    # The server is fine afterwards.
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_uploads_are_not_held_in_memory_many_times_over(server):
    base, pid = server
    access = token(base, "bigupload")
    headers = {"Authorization": f"Bearer {access}"}
    warm = httpx.post(f"{base}/api/v1/files", headers=headers, files={"file": ("w.txt", b"warm up")})
    assert warm.status_code == 201
    before = peak_memory(pid)
    # A fixed text header: random bytes alone are now and then sniffed as an executable (refused).
    data = b"bench data\n" + os.urandom(32 * 1024 * 1024 - 11)
    response = httpx.post(f"{base}/api/v1/files", headers=headers, files={"file": ("big.bin", data)}, timeout=120)
    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(data)
    # Twisted's own form parsing made a 100 MiB upload peak at 1.35 GB; daphne
    # still queues the body once, and Django spools it once more.
    assert peak_memory(pid) - before < 3 * len(data)
    download = httpx.get(f"{base}{response.json()['url']}", headers=headers, timeout=120)
    assert download.status_code == 200 and download.content == data
    ranged = httpx.get(f"{base}{response.json()['url']}", headers={**headers, "Range": "bytes=-1000"})
    assert ranged.status_code == 206 and ranged.content == data[-1000:]
