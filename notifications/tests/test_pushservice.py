"""Tests of the local push service stand-in (pushservice.py), driven by pywebpush.

No database: pytest.ini registers no `no_db` marker (and runs with
--strict-markers), so these tests simply request no `db` fixture.
"""

from __future__ import annotations

import json
import time

import http_ece
import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from py_vapid import Vapid01, Vapid02
from pywebpush import WebPushException, webpush, webpush_async

from notifications.tests.pushservice import PushService, b64url_decode, b64url_encode

SUBJECT = "mailto:ops@example.com"


def new_vapid() -> Vapid02:
    key = Vapid02()
    key.generate_keys()
    return key


def public_b64(key: Vapid01) -> str:
    return b64url_encode(
        key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def push(sub, payload: dict, key, **kwargs):
    """pywebpush as the product calls it (a fresh claims dict: webpush() fills in aud/exp in place)."""
    kwargs.setdefault("vapid_claims", {"sub": SUBJECT})
    kwargs.setdefault("ttl", 60)
    kwargs.setdefault("timeout", 5)
    return webpush(
        subscription_info=sub.info,
        data=json.dumps(payload),
        vapid_private_key=key,
        content_encoding="aes128gcm",
        **kwargs,
    )


def jwt(private_key: ec.EllipticCurvePrivateKey, claims: dict, alg: str = "ES256") -> str:
    """A hand-made ES256 JWS (raw r||s signature), for claims py_vapid refuses to sign."""
    signing_input = (
        b64url_encode(json.dumps({"typ": "JWT", "alg": alg}).encode())
        + "."
        + b64url_encode(json.dumps(claims).encode())
    )
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def raw_push(ps: PushService, sub, key: Vapid02, *, body: bytes | None = None, drop=(), **headers) -> int:
    """A push built by hand (http_ece + py_vapid), minus `drop` headers, plus `headers`."""
    if body is None:
        body = http_ece.encrypt(
            json.dumps({"hello": "raw"}).encode(),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            dh=sub.public_key,
            auth_secret=sub.auth_secret,
            version="aes128gcm",
        )
    sent = {"TTL": "30", "Content-Encoding": "aes128gcm"}
    sent.update(key.sign({"sub": SUBJECT, "aud": ps.origin, "exp": int(time.time()) + 3600}))
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    for name in drop:
        sent.pop(name)
    return requests.post(sub.endpoint, data=body, headers=sent, timeout=5).status_code


@pytest.fixture
def vapid():
    return new_vapid()


@pytest.fixture
def ps(vapid):
    with PushService(vapid_public_key=public_b64(vapid)) as service:
        yield service


def test_subscription_looks_like_a_browsers(ps):
    sub = ps.new_subscription("alice-phone")
    assert sub.endpoint == f"{ps.origin}/push/{sub.token}"
    assert ps.origin.startswith("http://127.0.0.1:")
    assert sub.info["endpoint"] == sub.endpoint
    assert set(sub.info) == {"endpoint", "keys"} and set(sub.info["keys"]) == {"p256dh", "auth"}
    assert len(b64url_decode(sub.info["keys"]["p256dh"])) == 65
    assert b64url_decode(sub.info["keys"]["p256dh"])[0] == 4
    assert len(b64url_decode(sub.info["keys"]["auth"])) == 16
    assert "=" not in sub.info["keys"]["p256dh"] + sub.info["keys"]["auth"]
    assert ps.new_subscription().token != sub.token


def test_good_push_is_decrypted(ps, vapid):
    sub = ps.new_subscription("alice-phone")
    payload = {"type": "message", "conversation": 7, "text": "héllo 👋"}

    response = push(sub, payload, vapid)

    assert response.status_code == 201
    assert response.headers["Location"].startswith(ps.origin)
    [delivery] = ps.wait_for(1, subscription=sub)
    assert delivery.payload == payload
    assert delivery.ttl == 60
    assert (delivery.urgency, delivery.topic, delivery.status) == (None, None, 201)
    assert delivery.claims["aud"] == ps.origin
    assert delivery.claims["sub"] == SUBJECT
    assert ps.rejected == []


def test_key_as_base64url_der_string_and_urgency_topic(ps, vapid):
    sub = ps.new_subscription()
    der = vapid.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    push(sub, {"n": 1}, b64url_encode(der), ttl=0, headers={"Urgency": "high", "Topic": "conv-7"})

    [delivery] = ps.deliveries(sub)
    assert (delivery.ttl, delivery.urgency, delivery.topic) == (0, "high", "conv-7")
    assert ps.rejected == []


def test_other_vapid_key_is_refused(ps):
    sub = ps.new_subscription()
    with pytest.raises(WebPushException) as raised:
        push(sub, {"n": 1}, new_vapid())
    assert raised.value.response.status_code == 403
    assert ps.received == []
    [(token, reason)] = ps.rejected
    assert token == sub.token and "VAPID key" in reason


def test_any_vapid_key_without_vapid_public_key():
    with PushService() as ps:
        sub = ps.new_subscription()
        push(sub, {"n": 1}, new_vapid())
        assert len(ps.deliveries(sub)) == 1 and ps.rejected == []


def test_wrong_aud_is_refused(ps, vapid):
    sub = ps.new_subscription()
    headers = vapid.sign({"sub": SUBJECT, "aud": "https://fcm.googleapis.com", "exp": int(time.time()) + 3600})
    with pytest.raises(WebPushException) as raised:
        webpush(sub.info, data="{}", headers=headers, ttl=60, timeout=5)
    assert raised.value.response.status_code == 401
    [(_, reason)] = ps.rejected
    assert "aud" in reason


@pytest.mark.parametrize(
    ("change", "alg", "expected"),
    [
        ({"exp": -60}, "ES256", "expired"),
        ({"exp": 25 * 3600}, "ES256", "24 hours"),
        ({"sub": "ops@example.com"}, "ES256", "sub"),
        ({}, "ES384", "alg"),
    ],
)
def test_bad_jwt_is_refused(ps, vapid, change, alg, expected):
    sub = ps.new_subscription()
    claims = {"aud": ps.origin, "exp": 3600, "sub": SUBJECT} | change
    claims["exp"] += int(time.time())
    authorization = f"vapid t={jwt(vapid.private_key, claims, alg)}, k={public_b64(vapid)}"
    assert raw_push(ps, sub, vapid, Authorization=authorization) == 401
    [(_, reason)] = ps.rejected
    assert expected in reason


def test_signature_by_another_key_is_refused(ps, vapid):
    sub = ps.new_subscription()
    claims = {"aud": ps.origin, "exp": int(time.time()) + 3600, "sub": SUBJECT}
    forged = f"vapid t={jwt(ec.generate_private_key(ec.SECP256R1()), claims)}, k={public_b64(vapid)}"
    assert raw_push(ps, sub, vapid, Authorization=forged) == 401
    assert "does not verify" in ps.rejected[0][1]


def test_draft_webpush_vapid_form_is_refused(ps, vapid):
    """pywebpush sends `WebPush <JWT>` + `Crypto-Key: p256ecdsa=` only for a Vapid01 key."""
    sub = ps.new_subscription()
    legacy = Vapid01(private_key=vapid.private_key)  # the right key, in the draft form
    with pytest.raises(WebPushException) as raised:
        push(sub, {"n": 1}, legacy)
    assert raised.value.response.status_code == 401
    assert ps.received == []
    assert "WebPush" in ps.rejected[0][1]


def test_a_hand_made_push_passes(ps, vapid):
    """The baseline for the header checks below."""
    sub = ps.new_subscription()
    assert raw_push(ps, sub, vapid) == 201
    assert ps.deliveries(sub)[0].payload == {"hello": "raw"}
    assert ps.rejected == []


@pytest.mark.parametrize(
    ("kwargs", "status", "expected"),
    [
        ({"drop": ["TTL"]}, 400, "TTL"),
        ({"TTL": "-1"}, 400, "TTL"),
        ({"Content_Encoding": "aesgcm"}, 400, "Content-Encoding"),
        ({"drop": ["Authorization"]}, 401, "Authorization"),
        ({"Urgency": "urgent"}, 400, "Urgency"),
        ({"Topic": "a topic with spaces"}, 400, "Topic"),
        ({"body": b"\x00" * 100}, 400, "decrypt"),
        ({"body": b"\x00" * 5000}, 413, "4096"),
    ],
)
def test_malformed_push_is_refused(ps, vapid, kwargs, status, expected):
    sub = ps.new_subscription()
    assert raw_push(ps, sub, vapid, **kwargs) == status
    assert ps.received == []
    [(token, reason)] = ps.rejected
    assert token == sub.token and expected in reason


def test_payload_that_is_not_json_is_refused(ps, vapid):
    sub = ps.new_subscription()
    with pytest.raises(WebPushException):
        webpush(sub.info, data="not json", vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}, timeout=5)
    assert "not JSON" in ps.rejected[0][1]


def test_unknown_endpoint_is_404_and_rejected(ps, vapid):
    sub = ps.new_subscription()
    info = sub.info | {"endpoint": f"{ps.origin}/push/never-issued"}
    with pytest.raises(WebPushException) as raised:
        webpush(info, data="{}", vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}, timeout=5)
    assert raised.value.response.status_code == 404
    assert ps.rejected == [("never-issued", "404 no such subscription (endpoint never issued by this push service)")]


@pytest.mark.parametrize("status", [404, 410, 429, 500])
def test_error_answers_reach_the_sender(ps, vapid, status):
    sub, other = ps.new_subscription("gone"), ps.new_subscription("fine")
    ps.respond(sub, status, times=1, retry_after=7)

    with pytest.raises(WebPushException) as raised:
        push(sub, {"n": 1}, vapid)
    assert raised.value.response.status_code == status
    if status == 429:
        assert raised.value.response.headers["Retry-After"] == "7"
    push(other, {"n": 2}, vapid)
    push(sub, {"n": 3}, vapid)  # times=1 used up: back to 201

    assert [d.payload["n"] for d in ps.deliveries(sub, status=status)] == [1]
    assert [(d.subscription.name, d.payload["n"]) for d in ps.deliveries()] == [("fine", 2), ("gone", 3)]
    assert [d.status for d in ps.deliveries(status=None)] == [status, 201, 201]
    assert ps.rejected == []


def test_rule_for_all_and_its_precedence(ps, vapid):
    a, b = ps.new_subscription("a"), ps.new_subscription("b")
    ps.respond(None, 500)
    ps.respond(a, 201, times=1)
    push(a, {"n": 1}, vapid)
    for sub in (a, b):
        with pytest.raises(WebPushException):
            push(sub, {"n": 2}, vapid)
    assert [(d.subscription.name, d.status) for d in ps.deliveries(status=None)] == [("a", 201), ("a", 500), ("b", 500)]

    ps.reset()
    push(b, {"n": 3}, vapid)
    assert [d.status for d in ps.deliveries(status=None)] == [201]


def test_delay_makes_a_slow_push_service(ps, vapid):
    sub = ps.new_subscription()
    ps.respond(sub, delay=0.3)

    started = time.time()
    push(sub, {"n": 1}, vapid)
    took = time.time() - started

    assert took >= 0.3
    [delivery] = ps.deliveries(sub)
    assert delivery.at - started < 0.25  # recorded on arrival, before the delay
    with pytest.raises(requests.Timeout):
        push(sub, {"n": 2}, vapid, timeout=0.1)


def test_wait_for_reports_what_arrived(ps, vapid):
    sub, other = ps.new_subscription("alice"), ps.new_subscription("bob")
    push(other, {"n": 1}, vapid)
    with pytest.raises(AssertionError, match=r"(?s)expected 1 push.*alice.*got 0.*bob -> 201"):
        ps.wait_for(1, timeout=0.05, subscription=sub)
    assert len(ps.wait_for(1, timeout=0.05)) == 1


async def test_async_sender_is_served_too(ps, vapid):
    """pywebpush's aiohttp path (webpush_async) gets the same checks and answers."""
    sub = ps.new_subscription()
    ps.respond(sub, 410, times=1)
    with pytest.raises(WebPushException) as raised:
        await webpush_async(sub.info, data='{"n": 1}', vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}, ttl=5)
    assert raised.value.status_code == 410
    await webpush_async(sub.info, data='{"n": 2}', vapid_private_key=vapid, vapid_claims={"sub": SUBJECT}, ttl=5)
    assert [(d.payload, d.status) for d in ps.deliveries(sub, status=None)] == [({"n": 1}, 410), ({"n": 2}, 201)]
    assert ps.rejected == []
