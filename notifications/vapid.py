"""The VAPID key (RFC 8292) that signs every push this server sends.

One key for the whole cluster: a browser's subscription is bound to the public
key it was made with, so a second key would make every node's pushes to the
other's subscriptions fail. The private key is a P-256 scalar, written as
base64url of its 32 raw bytes (the form `web-push generate-vapid-keys` and
py-vapid print); a PEM file's contents are taken too.

Without VAPID_PRIVATE_KEY the key is generated once into the data folder
(VAR_DIR/vapid_private_key, mode 0600), which every process of one machine
shares. `python -m notifications.vapid` prints a new key to put in
VAPID_PRIVATE_KEY for several machines. No Django import here: settings.py
loads the key before Django is set up.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_private_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A raw base64url scalar, base64url DER, or PEM; ValueError otherwise."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text)
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a P-256 private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 (prime256v1) key")
    return key


def normalize(text: str) -> str:
    """The raw base64url form of any accepted form (ValueError if none)."""
    key = parse_private_key(text)
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def public_key(private: str) -> str:
    """The application server key browsers subscribe with: base64url of the
    uncompressed point (65 bytes)."""
    point = (
        parse_private_key(private)
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return b64url(point)


def read_or_create(path: Path, *, create: bool) -> str | None:
    """The key kept in `path`; made there first when `create` (O_EXCL: processes
    starting together agree on the first one written). None when there is no
    file and `create` is false."""
    for _ in range(50):
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            value = ""
        if value:
            try:
                return normalize(value)
            except ValueError:
                time.sleep(0.02)  # being written by another process right now
                continue
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            time.sleep(0.02)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(new_private_key() + "\n")
    raise ValueError(f"{path} does not hold a VAPID private key")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ensure"] and len(sys.argv) == 3:
        # scripts/run and scripts/cluster: every process of this machine shares the file.
        read_or_create(Path(sys.argv[2]), create=True)
    else:
        key = new_private_key()
        print(f"VAPID_PRIVATE_KEY={key}")
        print(f"# public key (GET /push/key): {public_key(key)}", file=sys.stderr)
