"""Fixtures for notification tests: a local push service stand-in and
subscriptions made the way a browser makes them."""

from __future__ import annotations

import pytest

from notifications.tests.pushservice import BrowserSubscription, PushService


@pytest.fixture
def push_service(settings):
    """The push service is outside the product: a stand-in on 127.0.0.1 that
    checks VAPID and decrypts what it gets (notifications/tests/pushservice.py)."""
    settings.PUSH_ALLOW_HTTP = True
    with PushService(vapid_public_key=settings.VAPID_PUBLIC_KEY) as service:
        yield service
        assert service.rejected == [], service.describe()


@pytest.fixture
def subscribe(api_for, push_service):
    """subscribe(user, name="") → a BrowserSubscription registered through the
    API by a login session of `user` (the API client is `.api`)."""

    def make(user, name: str = "") -> BrowserSubscription:
        sub = push_service.new_subscription(name or user.username)
        client = api_for(user)
        response = client.post("/api/v1/push/subscriptions", sub.info, format="json")
        assert response.status_code == 201, response.content
        sub.api = client
        sub.id = response.json()["id"]
        return sub

    return make
