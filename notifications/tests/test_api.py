"""The notification endpoints: VAPID key, subscriptions, settings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from chatsite.testing import assert_error
from notifications.models import NotificationSettings, PushSubscription

pytestmark = pytest.mark.django_db


def test_the_key_is_the_servers_public_vapid_key(api, settings, anon):
    from notifications.vapid import b64url_decode

    body = api.get("/api/v1/push/key").json()
    assert body == {"vapid_public_key": settings.VAPID_PUBLIC_KEY}
    point = b64url_decode(body["vapid_public_key"])
    assert len(point) == 65 and point[0] == 4
    assert_error(anon.get("/api/v1/push/key"), 401, "not_authenticated")


def test_subscribe_list_move_and_delete(api_for, alice, bob, push_service):
    browser = push_service.new_subscription("phone")
    a = api_for(alice)
    created = a.post("/api/v1/push/subscriptions", {**browser.info, "expirationTime": None}, format="json")
    assert created.status_code == 201
    sub = created.json()
    assert set(sub) == {"id", "endpoint", "created_at", "current"} and sub["endpoint"] == browser.endpoint
    assert sub["current"] is True
    # Another session of Alice's sees it, not as its own.
    [seen] = api_for(alice).get("/api/v1/push/subscriptions").json()["results"]
    assert seen == {**sub, "current": False}

    # The same endpoint again (the browser re-sends it on every start): 200, the same one.
    again = a.post("/api/v1/push/subscriptions", browser.info, format="json")
    assert again.status_code == 200 and again.json()["id"] == sub["id"]
    assert a.get("/api/v1/push/subscriptions").json() == {"results": [sub], "next": None}

    # Bob signs in on that browser: the subscription moves to him (same keys).
    b = api_for(bob)
    moved = b.post("/api/v1/push/subscriptions", browser.info, format="json")
    assert moved.status_code == 200 and moved.json()["id"] == sub["id"]
    assert a.get("/api/v1/push/subscriptions").json()["results"] == []
    assert PushSubscription.objects.get().user == bob

    # Only its owner deletes it; then it is gone.
    assert_error(a.delete(f"/api/v1/push/subscriptions/{sub['id']}"), 404, "not_found")
    assert b.delete(f"/api/v1/push/subscriptions/{sub['id']}").status_code == 204
    assert not PushSubscription.objects.exists()
    assert_error(b.delete(f"/api/v1/push/subscriptions/{sub['id']}"), 404, "not_found")
    assert_error(b.delete("/api/v1/push/subscriptions/nope"), 404, "not_found")


def test_the_same_endpoint_with_other_keys_is_a_conflict(api_for, alice, carol, push_service):
    browser = push_service.new_subscription()
    assert api_for(alice).post("/api/v1/push/subscriptions", browser.info, format="json").status_code == 201
    other = push_service.new_subscription()
    stolen = {"endpoint": browser.endpoint, "keys": other.info["keys"]}
    assert_error(api_for(carol).post("/api/v1/push/subscriptions", stolen, format="json"), 409, "conflict")
    assert PushSubscription.objects.get().user == alice


def test_subscriptions_list_in_pages(api, push_service):
    ids = [
        api.post("/api/v1/push/subscriptions", push_service.new_subscription().info, format="json").json()["id"]
        for _ in range(3)
    ]
    first = api.get("/api/v1/push/subscriptions?limit=2").json()
    assert [s["id"] for s in first["results"]] == ids[::-1][:2] and first["next"]
    second = api.get(f"/api/v1/push/subscriptions?limit=2&cursor={first['next']}").json()
    assert [s["id"] for s in second["results"]] == ids[:1] and second["next"] is None


@pytest.mark.parametrize(
    ("endpoint", "keys", "field"),
    [
        ("http://push.example.com/x", None, "endpoint"),  # not https
        ("https://127.0.0.1/push/x", None, "endpoint"),  # loopback
        ("https://10.1.2.3/push/x", None, "endpoint"),  # private
        ("https://169.254.169.254/latest/meta-data", None, "endpoint"),  # cloud metadata
        ("https://[::1]/push/x", None, "endpoint"),
        ("https://user:pw@push.example.com/x", None, "endpoint"),
        ("not a url", None, "endpoint"),
        ("https://localhost/push/x", None, "endpoint"),
        ("https://push.example.com/x", {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}, "keys.p256dh"),
        ("https://push.example.com/x", {"p256dh": "B" * 87, "auth": "AAAAAAAA"}, "keys.auth"),
        ("https://push.example.com/x", {"p256dh": "B" * 87, "auth": "!!not base64!!"}, "keys"),
        # 65 bytes starting with 04, but no point of P-256: nothing could ever be encrypted to it.
        ("https://push.example.com/x", {"p256dh": "BA" + "A" * 85, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}, "keys.p256dh"),
        ("https://push.example.com/x", {"p256dh": "B" * 87, "auth": "AAAAAAAAAAAAAAAAAAAAAA"}, "keys.p256dh"),
    ],
)
def test_refused_endpoints_and_keys_change_nothing(api, settings, push_service, endpoint, keys, field):
    settings.PUSH_ALLOW_HTTP = False
    good = push_service.new_subscription().info["keys"]
    body = {"endpoint": endpoint, "keys": keys or good}
    error = assert_error(api.post("/api/v1/push/subscriptions", body, format="json"), 400, "invalid")
    assert field in error["fields"], error
    assert not PushSubscription.objects.exists()


def test_a_malformed_subscription_is_refused(api):
    for body in ({}, {"endpoint": "https://push.example.com/x"}, {"endpoint": 5, "keys": {}}, []):
        assert_error(api.post("/api/v1/push/subscriptions", body, format="json"), 400, "invalid")
    assert not PushSubscription.objects.exists()


def test_subscriptions_end_with_their_session(api_for, alice, client, push_service, subscribe):
    from accounts.actions.sessions import do_revoke_own_session

    phone = subscribe(alice, "phone")
    laptop = subscribe(alice, "laptop")
    # Logging out (here: revoking the phone's session) removes the phone's only.
    session = PushSubscription.objects.get(uuid=phone.id).session
    do_revoke_own_session(user=alice, session_id=str(session.uuid))
    assert [str(x) for x in PushSubscription.objects.values_list("uuid", flat=True)] == [laptop.id]
    # A real logout through the API.
    from conftest import login_tokens

    tokens = login_tokens(alice)
    api = api_for(alice)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    tablet = push_service.new_subscription("tablet")
    assert api.post("/api/v1/push/subscriptions", tablet.info, format="json").status_code == 201
    assert api.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code in (200, 204)
    assert not PushSubscription.objects.filter(endpoint=tablet.endpoint).exists()
    assert PushSubscription.objects.filter(uuid=laptop.id).exists()


def test_a_subscription_whose_session_expired_is_gone_and_the_browser_subscribes_again(
    api_for, alice, bob, push_service, subscribe
):
    from accounts.models import LoginSession

    laptop = subscribe(bob, "laptop")
    phone = subscribe(bob, "phone")
    # The laptop's web session reaches its end (JWT_REFRESH_TTL_S): expired, never revoked.
    LoginSession.objects.filter(push_subscriptions__uuid=laptop.id).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    # Bob signs in again on that laptop: his subscription there is not listed (the page offers to turn push on)...
    again = api_for(bob)
    listed = again.get("/api/v1/push/subscriptions").json()
    assert [s["id"] for s in listed["results"]] == [phone.id]
    # ...and it is gone.
    assert not PushSubscription.objects.filter(uuid=laptop.id).exists()
    # The browser gives the same endpoint and keys under the new session: a subscription of this session.
    r = again.post("/api/v1/push/subscriptions", laptop.info, format="json")
    assert r.status_code == 201, r.content
    assert r.json()["current"] is True and r.json()["endpoint"] == laptop.endpoint
    assert {s["id"] for s in again.get("/api/v1/push/subscriptions").json()["results"]} == {r.json()["id"], phone.id}


def test_an_endpoint_whose_session_expired_is_no_one_s_and_no_conflict(api_for, alice, carol, push_service):
    from accounts.models import LoginSession

    browser = push_service.new_subscription()
    first = api_for(alice).post("/api/v1/push/subscriptions", browser.info, format="json").json()
    LoginSession.objects.filter(push_subscriptions__uuid=first["id"]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    # The browser made a new subscription (new keys) at the same endpoint: the old row is dead, not a conflict.
    renewed = {"endpoint": browser.endpoint, "keys": push_service.new_subscription().info["keys"]}
    r = api_for(carol).post("/api/v1/push/subscriptions", renewed, format="json")
    assert r.status_code == 201, r.content
    [row] = PushSubscription.objects.all()
    assert row.user == carol and str(row.uuid) == r.json()["id"] != first["id"]
    assert row.auth == renewed["keys"]["auth"]


def test_disabling_the_account_removes_every_subscription(admin_user, alice, subscribe):
    from backoffice.services import do_disable_user

    subscribe(alice, "phone")
    subscribe(alice, "laptop")
    do_disable_user(actor=admin_user, user_id=str(alice.uuid), reason="spam")
    assert not PushSubscription.objects.filter(user=alice).exists()


def test_password_change_ends_the_other_sessions_subscriptions(alice, subscribe, api_for):
    from conftest import PASSWORD

    phone = subscribe(alice, "phone")
    laptop = subscribe(alice, "laptop")
    r = laptop.api.post(
        "/api/v1/me/password", {"old_password": PASSWORD, "new_password": "another-horse-43"}, format="json"
    )
    assert r.status_code == 204, r.content
    assert [str(x) for x in PushSubscription.objects.values_list("uuid", flat=True)] == [laptop.id]
    assert phone.id != laptop.id


def test_settings_default_and_change(api, alice):
    assert api.get("/api/v1/me/notifications").json() == {"push": True, "preview": "full", "quiet_hours": None}
    quiet = {"start": "22:00", "end": "07:30", "tz": "Asia/Shanghai"}
    r = api.patch("/api/v1/me/notifications", {"preview": "sender", "quiet_hours": quiet}, format="json")
    assert r.status_code == 200
    assert r.json() == {"push": True, "preview": "sender", "quiet_hours": quiet}
    r = api.patch("/api/v1/me/notifications", {"push": False}, format="json")
    assert r.json() == {"push": False, "preview": "sender", "quiet_hours": quiet}
    r = api.patch("/api/v1/me/notifications", {"quiet_hours": None}, format="json")
    assert r.json() == {"push": False, "preview": "sender", "quiet_hours": None}
    assert api.get("/api/v1/me/notifications").json() == r.json()


@pytest.mark.parametrize(
    "body",
    [
        {"quiet_hours": {"start": "22:00", "end": "22:00", "tz": "UTC"}},  # start == end
        {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "Mars/Olympus"}},
        {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "../../etc/passwd"}},
        {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "localtime"}},  # a file of the zone folder
        {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "posix/Asia/Shanghai"}},
        {"quiet_hours": {"start": "22:00", "end": "07:00", "tz": "America"}},
        {"quiet_hours": {"start": "24:00", "end": "07:00", "tz": "UTC"}},
        {"quiet_hours": {"start": "7:00", "end": "08:00", "tz": "UTC"}},
        {"quiet_hours": {"start": "22:00", "tz": "UTC"}},
        {"quiet_hours": "evenings"},
        {"preview": "everything"},
        {"push": "sometimes"},
    ],
)
def test_bad_settings_are_refused_and_change_nothing(api, alice, body):
    assert_error(api.patch("/api/v1/me/notifications", body, format="json"), 400, "invalid")
    assert not NotificationSettings.objects.filter(user=alice).exists()
    assert api.get("/api/v1/me/notifications").json() == {"push": True, "preview": "full", "quiet_hours": None}
