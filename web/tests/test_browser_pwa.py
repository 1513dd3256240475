"""The installable app in a real browser: the manifest and its icons, the
service worker (scope "/", controlling the page, the offline shell, what it
keeps and never keeps), pushes delivered through Chromium's DevTools
protocol (one notification per chat, a click that opens the chat), the
Notifications settings (the permission asked only when push is turned on,
the subscription given to the server and taken back), and a hidden tab's
desktop notifications with the unread count in the title."""

from __future__ import annotations

import base64
import json
import os
import re
import time

import pytest
from playwright.sync_api import expect

from web.tests.browser import PHONE, Held, Person, send_as, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]


@pytest.fixture(scope="module", autouse=True)
def push_endpoints_over_http():
    """The stand-in subscriptions below point at http://127.0.0.1 (there is no
    push service here): this module's server accepts such endpoints."""
    previous = os.environ.get("PUSH_ALLOW_HTTP")
    os.environ["PUSH_ALLOW_HTTP"] = "1"
    yield
    if previous is None:
        os.environ.pop("PUSH_ALLOW_HTTP", None)
    else:
        os.environ["PUSH_ALLOW_HTTP"] = previous


# The page's service worker registration, once it is active.
READY = "navigator.serviceWorker.ready"


def notifications(page, tag: str | None = None) -> list[dict]:
    """The service worker registration's notifications (title, body, tag, data)."""
    options = json.dumps({"tag": tag} if tag else {})
    return page.evaluate(
        f"""{READY}.then((r) => r.getNotifications({options})).then((list) => list.map((n) => ({{
            title: n.title, body: n.body, tag: n.tag, data: n.data, icon: n.icon, badge: n.badge,
            renotify: n.renotify, requireInteraction: n.requireInteraction}})))"""
    )


def controlled(person: Person) -> None:
    """The service worker is active and controls the page (after a reload)."""
    page = person.page
    scope = wait_js(page, f"{READY}.then((r) => r.active && r.active.state === 'activated' && r.scope)")
    assert scope == person.base + "/"
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
        person.wait_online()
    wait_js(page, "!!navigator.serviceWorker.controller")


class Pusher:
    """Pushes delivered to the page's service worker the way the push service
    would: `ServiceWorker.deliverPushMessage` of the DevTools protocol."""

    def __init__(self, person: Person):
        self.person = person
        self.cdp = person.context.new_cdp_session(person.page)
        self.registrations: dict[str, str] = {}
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", self._updated)
        self.cdp.send("ServiceWorker.enable")
        deadline = time.monotonic() + 10
        while not self.registration_id:
            assert time.monotonic() < deadline, "no service worker registration was reported"
            person.page.wait_for_timeout(100)  # Playwright delivers the events meanwhile

    def _updated(self, event) -> None:
        for r in event["registrations"]:
            if not r.get("isDeleted"):
                self.registrations[r["scopeURL"]] = r["registrationId"]

    @property
    def registration_id(self) -> str | None:
        return self.registrations.get(self.person.base + "/")

    def push(self, payload: dict) -> None:
        self.cdp.send(
            "ServiceWorker.deliverPushMessage",
            {"origin": self.person.base, "registrationId": self.registration_id, "data": json.dumps(payload)},
        )


def push_until_shown(pusher: Pusher, payload: dict, shown: str, tries: int = 4) -> None:
    """Push, and push the same again until `shown` (a JS expression) holds.
    On a busy machine the worker can still see the app's window focused for
    a moment after another tab came to the front (it then leaves the message
    to the app), or take seconds to show one. It is pushed again only while
    nothing is shown, so what a test asserts of the shown one is what the
    first showing push made."""
    page = pusher.person.page
    for _ in range(tries - 1):
        pusher.push(payload)
        try:
            wait_js(page, shown, timeout=5.0)
            return
        except AssertionError:
            continue
    pusher.push(payload)
    wait_js(page, shown)


def look_away(person: Person):
    """Another tab of the browser comes to the front: the app's page stays
    open, visible but no longer focused (Playwright otherwise tells every
    page it has the focus), so the worker shows what a push brings."""
    cdp = person.context.new_cdp_session(person.page)
    cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    other = person.context.new_page()
    other.goto("about:blank")
    other.bring_to_front()
    wait_js(person.page, "!document.hasFocus()")
    return other


def signed_in(people, username: str, *, permission: bool = True, **options) -> Person:
    person = people(**options)
    if permission:
        person.context.grant_permissions(["notifications"], origin=person.base)
    person.login(username, "correct-horse-42")
    return person


def pair(user_factory):
    """Ann and Ben, contacts, and their direct conversation's id."""
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_pwa", nickname="Ann")
    ben = user_factory("ben_pwa", nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    return ann, ben, str(Conversation.objects.get(pk=contact.conversation_id).uuid)


# ---------------------------------------------------------------------- manifest and worker


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_the_manifest_is_whole_and_the_worker_controls_every_page(people, user_factory):
    user_factory("sam_pwa", nickname="Sam")
    sam = signed_in(people, "sam_pwa", permission=False)
    page = sam.page
    href = page.evaluate("document.querySelector('link[rel=manifest]').href")
    assert href == sam.base + "/manifest.webmanifest"
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["name"] == "WebsocketChat" and manifest["short_name"]
    assert manifest["description"]
    assert manifest["id"] == "/" and manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#1f2d27" and manifest["background_color"] == "#f3f5f6"
    # Every icon loads, as a PNG of the size it claims: 192 and 512, and a 512 maskable.
    pngs = [i for i in manifest["icons"] if i["type"] == "image/png"]
    assert {(i["sizes"], i["purpose"]) for i in pngs} >= {
        ("192x192", "any"),
        ("512x512", "any"),
        ("512x512", "maskable"),
    }
    apple = page.evaluate("document.querySelector('link[rel=apple-touch-icon]').href")
    for src, size in [(i["src"], int(i["sizes"].split("x")[0])) for i in pngs] + [(apple, 180)]:
        size_seen = page.evaluate(
            """(src) => new Promise((ok, fail) => { const img = new Image();
                img.onload = () => ok([img.naturalWidth, img.naturalHeight]); img.onerror = fail; img.src = src; })""",
            src,
        )
        assert size_seen == [size, size], src
    # The sign-in pages link it too.
    anonymous = people()
    anonymous.page.goto(sam.base + "/login")
    assert anonymous.page.evaluate("document.querySelector('link[rel=manifest]').getAttribute('href')") == (
        "/manifest.webmanifest"
    )

    # The worker: served from the root, with its own policy, never cached by HTTP.
    worker = page.request.get(sam.base + "/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    assert worker.headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in worker.headers["content-security-policy"]
    controlled(sam)
    # Installable: Chromium finds nothing wrong but the test's own private
    # (incognito) browser context, where it never offers to install.
    cdp = sam.context.new_cdp_session(page)
    errors = cdp.send("Page.getAppManifest")["errors"]
    assert [e for e in errors if e.get("critical")] == [], errors
    blocking = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [e["errorId"] for e in blocking if e["errorId"] != "in-incognito"] == []

    # Where the browser offers to install (`beforeinstallprompt`), Me says so
    # and the button shows the browser's dialog; once installed, it goes.
    sam.nav("profile")
    card = page.locator(".install-card")
    expect(page.locator(".avatar-edit")).to_be_visible()
    expect(card).to_be_hidden()
    page.evaluate(
        """() => { const offer = new Event("beforeinstallprompt", {cancelable: true});
            offer.prompt = () => { window.__prompted = true; };
            offer.userChoice = Promise.resolve({outcome: "accepted", platform: "web"});
            window.dispatchEvent(offer); }"""
    )
    expect(card).to_be_visible()
    expect(card.get_by_role("heading", name="Install WebsocketChat")).to_be_visible()
    sam.shot("install-card-desktop")
    card.get_by_role("button", name="Install app").click()
    expect(card).to_be_hidden()
    assert page.evaluate("window.__prompted") is True
    sam.assert_clean()


# ---------------------------------------------------------------------- push


def click(person: Person, tag: str) -> None:
    """The worker's `notificationclick` listener runs for the notification
    with `tag`: the event is dispatched in the worker itself (headless
    Chromium draws no notification to click on), so the same handler runs."""
    [worker] = person.context.service_workers
    worker.evaluate(
        """(tag) => self.registration.getNotifications({tag}).then(([n]) =>
            self.dispatchEvent(new NotificationEvent("notificationclick", {notification: n})))""",
        tag,
    )


def test_a_push_shows_one_notification_per_chat_and_a_click_opens_the_chat(people, user_factory):
    _, _, conv = pair(user_factory)
    ann = signed_in(people, "ann_pwa")
    controlled(ann)
    pusher = Pusher(ann)
    page = ann.page
    # While the app is in front, a push shows nothing: the app shows it.
    message = {"type": "message", "conversation": conv, "title": "Ben", "unread": 1, "icon": None}
    pusher.push({**message, "message": "m1", "body": "Are you there?"})
    page.wait_for_timeout(500)
    assert notifications(page) == []
    look_away(ann)

    shown = f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 1)"
    push_until_shown(pusher, {**message, "message": "m1", "body": "Are you there?"}, shown)
    [first] = notifications(page, f"chat-{conv}")
    assert first["title"] == "Ben" and first["body"] == "Are you there?"
    assert first["data"] == {
        "type": "message",
        "url": f"/chats/{conv}",
        "conversation": conv,
        "message": "m1",
        "seq": None,
    }
    assert first["icon"].endswith("/static/img/icon-192.png") and first["badge"].endswith("/static/img/badge-96.png")
    assert first["renotify"] is False
    # A newer message of the chat takes the older one's place, and sounds again.
    push_until_shown(
        pusher,
        {**message, "message": "m2", "body": "Hello?", "unread": 2, "icon": "/static/img/icon-512.png"},
        f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l[0].body.includes('Hello'))",
    )
    [second] = notifications(page, f"chat-{conv}")
    assert second["renotify"] is True and second["icon"].endswith("/static/img/icon-512.png")
    # The same message again replaces it silently.
    pusher.push({**message, "message": "m2", "body": "Hello?", "unread": 2})
    page.wait_for_timeout(500)
    assert [n["renotify"] for n in notifications(page, f"chat-{conv}")] == [False]
    # An older message's push that comes after a newer one is shown (the
    # server's delay for a tab that is open but not looked at) is dropped:
    # the newer words stay, and nothing rings again.
    push_until_shown(
        pusher,
        {**message, "message": "m4", "seq": 4, "body": "Or 8?", "unread": 2},
        f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l[0].body === 'Or 8?')",
    )
    pusher.push({**message, "message": "m3", "seq": 3, "body": "Dinner at 7?", "unread": 2})
    page.wait_for_timeout(1000)
    [kept] = notifications(page, f"chat-{conv}")
    assert kept["body"] == "Or 8?" and kept["data"]["seq"] == 4

    # A call rings until answered; a contact request leads to the requests;
    # anything else is a plain notification. One at a time, each seen shown
    # before the next (a busy machine delivers them late otherwise).
    call = {"type": "call", "conversation": conv, "message": None, "title": "Ben", "body": "Incoming video call"}
    request = {
        "type": "contact_request",
        "conversation": None,
        "message": None,
        "title": "New contact request",
        "body": "Cat wants to add you as a contact.",
    }
    other = {"type": "something_new", "conversation": None, "message": None, "title": "", "body": ""}
    for payload, tag in ((call, f"call-{conv}"), (request, "contact-requests"), (other, "wsc")):
        push_until_shown(
            pusher,
            {**payload, "unread": 2, "icon": None},
            f"{READY}.then((r) => r.getNotifications({{tag: '{tag}'}})).then((l) => l.length === 1)",
        )
    assert sorted(n["tag"] for n in notifications(page)) == sorted(
        [f"chat-{conv}", f"call-{conv}", "contact-requests", "wsc"]
    )
    by_tag = {n["tag"]: n for n in notifications(page)}
    assert by_tag[f"call-{conv}"]["requireInteraction"] is True
    assert by_tag[f"call-{conv}"]["data"]["url"] == f"/chats/{conv}"
    assert by_tag["contact-requests"]["data"]["url"] == "/contacts/requests"
    assert by_tag["wsc"]["title"] == "WebsocketChat" and by_tag["wsc"]["body"] == "You have a new notification."
    assert len(notifications(page, f"chat-{conv}")) == 1

    # A click brings the open window to the chat (it keeps its socket).
    socket_before = page.evaluate("window.wsc.socket.ws === window.wsc.socket.ws && performance.timeOrigin")
    click(ann, f"chat-{conv}")
    expect(page).to_have_url(re.compile(f"/chats/{conv}$"))
    expect(page.locator(".chat-header h1")).to_have_text("Ben")
    assert page.evaluate("performance.timeOrigin") == socket_before  # no reload
    assert notifications(page, f"chat-{conv}") == []  # the clicked one went
    click(ann, "contact-requests")
    expect(page).to_have_url(re.compile("/contacts/requests$"))
    ann.assert_clean()


# ---------------------------------------------------------------------- offline


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_offline_a_reload_shows_the_shell_and_no_api_answer_is_kept(people, user_factory, live_server_url):
    _, ben, conv = pair(user_factory)
    send_as(ben, conv, "Hello from Ben")
    ann = signed_in(people, "ann_pwa", permission=False)
    controlled(ann)
    page = ann.page
    ann.open_chat("Ben")
    expect(ann.message("Hello from Ben")).to_be_visible()
    kept = page.evaluate(
        """caches.keys().then((names) => Promise.all(names.map((name) => caches.open(name)
            .then((c) => c.keys()).then((requests) => [name, requests.map((r) => new URL(r.url).pathname)]))))"""
    )
    assert len(kept) == 1 and kept[0][0].startswith("wsc-shell-")
    paths = kept[0][1]
    assert "/offline" in paths and "/static/js/app.js" in paths and "/static/css/app.css" in paths
    # Only the shell and the static files: no API answer, no page, no download.
    assert [p for p in paths if p != "/offline" and not p.startswith("/static/")] == []

    ann.context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", name="You're offline")).to_be_visible()
    assert page.url == f"{live_server_url}/chats/{conv}"  # the address stays
    expect(page.locator(".offline-notice")).to_contain_text("No network")
    expect(page.locator(".rail")).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).overflow") == "hidden"  # the app's stylesheet, from the cache
    ann.shot("offline-desktop")
    # Back online, the page it stood for comes back by itself.
    ann.context.set_offline(False)
    expect(page.locator(".chat-header h1")).to_have_text("Ben")
    ann.wait_online()
    expect(ann.message("Hello from Ben")).to_be_visible()
    ann.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_offline_on_a_phone_the_shell_says_so_above_the_list(people, user_factory):
    user_factory("pat_pwa", nickname="Pat")
    pat = signed_in(people, "pat_pwa", permission=False, viewport=PHONE, phone=True)
    controlled(pat)
    pat.context.set_offline(True)
    pat.page.reload()
    expect(pat.page.locator(".offline-notice")).to_be_visible()
    expect(pat.page.get_by_role("button", name="Try again")).to_be_visible()
    pat.shot("offline-phone")
    assert pat.axe() == []
    pat.context.set_offline(False)
    expect(pat.page.locator("#list-pane .conv-list, #list-pane .empty").first).to_be_visible()  # reloaded by itself
    pat.wait_online()
    pat.assert_clean()


# ---------------------------------------------------------------------- settings

ASKED = """
window.__asked = 0;
const ask = Notification.requestPermission.bind(Notification);
Notification.requestPermission = (...args) => { window.__asked += 1; return ask(...args); };
"""

# The push service is outside the product (and out of reach here): a stand-in
# for the browser's subscription, with keys of the right shape (the point is
# P-256's generator: the server refuses a p256dh that is no point of the curve).
P256_G = bytes.fromhex(
    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
)
P256DH = base64.urlsafe_b64encode(P256_G).rstrip(b"=").decode()
AUTH = base64.urlsafe_b64encode(bytes(range(16))).rstrip(b"=").decode()
FAKE_PUSH = """
(() => {
  let current = null;
  const made = (options) => ({
    endpoint: "http://127.0.0.1:9/push/" + Math.random().toString(36).slice(2),
    options,
    toJSON() { return { endpoint: this.endpoint, expirationTime: null, keys: { p256dh: "P256DH", auth: "AUTH" } }; },
    unsubscribe() { current = null; return Promise.resolve(true); },
  });
  PushManager.prototype.subscribe = function (options) { current = current || made(options); return Promise.resolve(current); };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
})();
""".replace("P256DH", P256DH).replace("AUTH", AUTH)


def api_get(page, path: str):
    return page.evaluate(f"fetch('/api/v1/{path}', {{credentials: 'same-origin'}}).then((r) => r.json())")


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_push_is_asked_for_only_when_turned_on_and_says_why_it_cannot_be(people, user_factory):
    user_factory("sue_pwa", nickname="Sue")
    sue = people()
    sue.context.add_init_script(ASKED)
    sue.login("sue_pwa", "correct-horse-42")
    page = sue.page
    page.goto(sue.base + "/profile/notifications")
    sue.wait_online()
    switch = page.get_by_role("switch", name="New message notifications")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator("#push-status")).to_contain_text("Off.")
    page.wait_for_timeout(300)
    assert page.evaluate("[window.__asked, Notification.permission]") == [0, "default"]
    # Asked when turned on; headless Chromium answers for the person: not allowed.
    switch.click()
    expect(page.locator("#push-status")).to_contain_text(re.compile("not allowed|blocked"))
    expect(switch).to_have_attribute("aria-checked", "false")
    assert page.evaluate("window.__asked") == 1
    sue.shot("notifications-refused-desktop")

    # Allowed: this browser's real push service cannot be reached here, and
    # the page says that push is not available (notifications still come
    # while a tab is open).
    sue.context.grant_permissions(["notifications"], origin=sue.base)
    switch.click()
    status = page.locator("#push-status")
    expect(status).to_contain_text(re.compile("On. You'll be notified|Push isn't available"))
    expect(switch).to_have_attribute("aria-checked", "true")
    sue.shot("notifications-push-unavailable-desktop")
    assert api_get(page, "me/notifications")["push"] is True
    # Chromium's own word on why (a test's browser context is incognito).
    sue.problems = [p for p in sue.problems if "does not support the Push API in incognito" not in p]
    sue.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_a_page_opened_at_its_address_is_drawn_once_when_the_lists_are_in(people, user_factory):
    """The main pane may need the lists (a chat, a contact, a group's member
    picker), so at start it waits for them, and it is drawn once: a switch
    turned on or words typed there are not thrown away when the lists come
    (they once were: the pane was drawn before the lists and again after)."""
    user_factory("uma_pwa", nickname="Uma")
    uma = people()
    uma.context.grant_permissions(["notifications"], origin=uma.base)
    uma.login("uma_pwa", "correct-horse-42")
    page = uma.page
    held = Held(page, r"/api/v1/conversations\?")
    page.goto(uma.base + "/profile/notifications")
    expect(page.locator("#main")).to_contain_text("Loading…")
    held.wait("the chat list")
    page.wait_for_timeout(300)
    switch = page.get_by_role("switch", name="New message notifications")
    expect(switch).to_have_count(0)
    expect(page.locator("#list-pane")).to_contain_text("Notifications")  # the list pane is drawn meanwhile
    held.release()
    expect(switch).to_be_visible()
    page.evaluate("document.getElementById('push-status').dataset.drawn = 'once'")
    uma.wait_online()  # the socket starts after the lists
    page.wait_for_timeout(300)
    expect(page.locator("#push-status[data-drawn=once]")).to_have_count(1)
    uma.assert_clean()


def test_turning_push_on_gives_the_server_the_subscription_and_off_takes_it_back(people, user_factory, settings):
    user_factory("tom_pwa", nickname="Tom")
    tom = people(timezone_id="Asia/Shanghai")
    tom.context.add_init_script(FAKE_PUSH)
    tom.context.grant_permissions(["notifications"], origin=tom.base)
    tom.login("tom_pwa", "correct-horse-42")
    page = tom.page
    tom.nav("profile")
    page.get_by_role("link", name="Notifications").click()
    expect(page).to_have_url(re.compile("/profile/notifications$"))
    switch = page.get_by_role("switch", name="New message notifications")
    # Push is on by default, but nothing was set up in this browser yet.
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#push-status")).to_contain_text("On while WebsocketChat is open")
    assert api_get(page, "push/subscriptions")["results"] == []
    switch.click()  # off
    expect(switch).to_have_attribute("aria-checked", "false")
    assert api_get(page, "me/notifications")["push"] is False
    switch.click()  # on: subscribed and given to the server
    expect(page.locator("#push-status")).to_contain_text("On. You'll be notified even when WebsocketChat is closed.")
    listed = api_get(page, "push/subscriptions")["results"]
    endpoint = page.evaluate(f"{READY}.then((r) => r.pushManager.getSubscription()).then((s) => s.endpoint)")
    assert [s["endpoint"] for s in listed] == [endpoint]
    assert api_get(page, "me/notifications")["push"] is True
    tom.shot("notifications-on-desktop")

    # Tom's phone gets pushes too: the switch is about this browser, so
    # turning it off here leaves the phone (and the account's setting) on.
    from accounts.models import User
    from conftest import login_tokens
    from notifications.services import do_subscribe
    from notifications.tests.pushservice import b64url_encode

    settings.PUSH_ALLOW_HTTP = True  # in this process too, for the phone's stand-in endpoint
    user = User.objects.get(username="tom_pwa")
    phone_endpoint = "http://127.0.0.1:9/push/tom-phone"
    phone, _ = do_subscribe(
        user=user,
        session=login_tokens(user)["session"],
        endpoint=phone_endpoint,
        p256dh=b64url_encode(P256_G),
        auth=b64url_encode(bytes(16)),
    )
    switch.click()  # off here
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator("#push-status")).to_contain_text("Off.")
    assert [s["endpoint"] for s in api_get(page, "push/subscriptions")["results"]] == [phone_endpoint]
    assert api_get(page, "me/notifications")["push"] is True
    page.reload()  # remembered by this browser
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()  # on again
    expect(page.locator("#push-status")).to_contain_text("On. You'll be notified even when WebsocketChat is closed.")
    phone.delete()

    switch.click()  # off: gone from the server and the browser
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator("#push-status")).to_contain_text("Off.")
    assert api_get(page, "push/subscriptions")["results"] == []
    assert page.evaluate(f"{READY}.then((r) => r.pushManager.getSubscription())") is None
    assert api_get(page, "me/notifications")["push"] is False

    # The preview and quiet hours are saved as they change.
    page.get_by_label("Name only").check()
    expect(page.locator(".toast", has_text="Saved.").first).to_be_visible()
    assert api_get(page, "me/notifications")["preview"] == "sender"
    quiet = page.get_by_role("switch", name="Quiet hours")
    quiet.click()
    expect(page.get_by_label("From")).to_have_value("22:00")
    assert api_get(page, "me/notifications")["quiet_hours"] == {"start": "22:00", "end": "07:00", "tz": "Asia/Shanghai"}
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Shanghai")
    page.get_by_label("To").fill("22:00")
    page.get_by_role("button", name="Save quiet hours").click()
    expect(page.get_by_role("alert").filter(has_text="The start and the end must differ.")).to_be_visible()
    page.get_by_label("From").fill("23:30")
    page.get_by_label("To").fill("06:45")
    page.get_by_role("button", name="Save quiet hours").click()
    expect(page.locator(".toast", has_text="Saved.").first).to_be_visible()
    wait_js(
        page,
        "fetch('/api/v1/me/notifications').then((r) => r.json()).then((s) => s.quiet_hours && s.quiet_hours.start === '23:30')",
    )
    assert api_get(page, "me/notifications")["quiet_hours"] == {"start": "23:30", "end": "06:45", "tz": "Asia/Shanghai"}
    tom.shot("notifications-settings-desktop")
    quiet.click()
    expect(page.get_by_label("From")).to_be_hidden()
    assert api_get(page, "me/notifications")["quiet_hours"] is None
    tom.assert_clean()


# ---------------------------------------------------------------------- a hidden tab

HIDE = """
Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
document.dispatchEvent(new Event("visibilitychange"));
"""


def test_a_hidden_tab_notifies_of_a_new_message_counts_it_in_the_title_and_clears_it_when_read(people, user_factory):
    _, _, conv = pair(user_factory)
    ben = signed_in(people, "ben_pwa", permission=False)
    ann = signed_in(people, "ann_pwa")
    controlled(ann)
    page = ann.page
    expect(page).to_have_title("Chats · WebsocketChat")
    page.evaluate(HIDE)
    ben.open_chat("Ann")
    ben.send("Dinner at 7?")
    wait_js(page, f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 1)")
    [shown] = notifications(page, f"chat-{conv}")
    assert (shown["title"], shown["body"]) == ("Ben", "Dinner at 7?")
    assert shown["data"]["url"] == f"/chats/{conv}"
    expect(page).to_have_title("(1) Chats · WebsocketChat")
    ben.send("Or 8?")
    wait_js(
        page,
        f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l[0] && l[0].body.includes('8?'))",
    )
    [shown] = notifications(page, f"chat-{conv}")
    assert shown["body"] == "Or 8?" and shown["renotify"] is True
    expect(page).to_have_title("(2) Chats · WebsocketChat")
    ann.shot("hidden-tab-title")

    # Read on another device (Ann's phone): the notification goes, and the count.
    phone = signed_in(people, "ann_pwa", permission=False, viewport=PHONE, phone=True)
    phone.open_chat("Ben")
    expect(phone.message("Or 8?")).to_be_visible()
    wait_js(page, f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 0)")
    expect(page).to_have_title("Chats · WebsocketChat")
    phone.close()

    # A muted chat stays quiet (and uncounted) unless it mentions me.
    page.evaluate(
        f"""fetch('/api/v1/conversations/{conv}', {{method: 'PATCH', credentials: 'same-origin',
            headers: {{'Content-Type': 'application/json', 'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content}},
            body: JSON.stringify({{muted: true}})}})"""
    )
    wait_js(page, f"window.wsc.state.conversations.get('{conv}').muted === true")
    ben.send("Muted, so quiet")
    wait_js(page, f"window.wsc.state.conversations.get('{conv}').unread === 1")
    page.wait_for_timeout(300)
    assert notifications(page, f"chat-{conv}") == []
    expect(page).to_have_title("Chats · WebsocketChat")

    # A call rings on the desktop (muted or not) until it stops ringing.
    ben.page.get_by_role("button", name="Voice call").click()
    wait_js(page, f"{READY}.then((r) => r.getNotifications({{tag: 'call-{conv}'}})).then((l) => l.length === 1)")
    [ringing] = notifications(page, f"call-{conv}")
    assert (ringing["title"], ringing["body"], ringing["requireInteraction"]) == ("Ben", "Incoming voice call", True)
    assert ringing["data"]["url"] == f"/chats/{conv}"
    ben.page.get_by_role("button", name="Hang up").click()
    wait_js(page, f"{READY}.then((r) => r.getNotifications({{tag: 'call-{conv}'}})).then((l) => l.length === 0)")
    ann.assert_clean()
    ben.assert_clean()
