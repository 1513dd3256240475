"""Helpers for the browser tests: Debian's Chromium driven by Playwright, one
person per browser context (so two people never share a cookie)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from chatsite.testing import image_bytes

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
PASSWORD = "a-good-password-1"
# The machine running the suite is shared and small: give assertions room.
expect.set_options(timeout=12_000)
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# The walk-through's desktop: a common laptop screen.
DESKTOP_SMALL = {"width": 1366, "height": 800}


def day_safe_now():
    """Now (UTC), or two minutes past midnight if it is earlier. A test that
    places messages or calls "today" (up to a minute back) and "yesterday"
    fixes its browser's clock here, in UTC (`people(timezone_id="UTC")`,
    then `page.clock.set_fixed_time`), so a run just after midnight, or one
    that crosses it, still sees them on the days it meant. The page's
    `Date.now()` then stands still (its timers still run): only for tests
    that do not wait on the app's clock (resends, typing indicators, the
    reconnect countdown)."""
    from django.utils import timezone

    now = timezone.now()
    return max(now, now.replace(hour=0, minute=2, second=0, microsecond=0))


class Person:
    """One user in one browser context; `page` is their first tab."""

    def __init__(
        self, browser: Browser, base: str, *, viewport=DESKTOP, locale: str = "en-US", phone: bool = False, **context
    ):
        # `context`: more of Playwright's context options (timezone_id, ...).
        options = {"viewport": viewport, "locale": locale, **context}
        if phone:
            options.update(is_mobile=True, has_touch=True, device_scale_factor=2)
        self.base = base
        self.phone = phone
        self.context: BrowserContext = browser.new_context(**options)
        self.context.set_default_timeout(15_000)
        self.problems: list[str] = []
        self.page = self.new_tab()

    def new_tab(self) -> Page:
        page = self.context.new_page()
        page.on("console", lambda m: self._console(m))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        # A script injected by a user string would show itself this way.
        page.on("dialog", lambda d: (self.problems.append(f"unexpected dialog: {d.message}"), d.dismiss()))
        return page

    def open_tab(self) -> Page:
        """Another tab of the same signed-in browser."""
        page = self.new_tab()
        page.goto(f"{self.base}/")
        self.wait_online(page)
        return page

    def _console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        # Expected while the test takes the network away.
        if "ERR_INTERNET_DISCONNECTED" in text or "WebSocket connection to" in text:
            return
        self.problems.append(f"console error: {text}")

    def assert_clean(self) -> None:
        """No script errors, no Content-Security-Policy violations, no failed loads."""
        assert self.problems == [], self.problems

    def close(self) -> None:
        self.context.close()

    # ---------------------------------------------------------------- accounts

    def register(self, username: str, nickname: str = "") -> None:
        page = self.page
        page.goto(f"{self.base}/register")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Nickname (optional)").fill(nickname)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Repeat the password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{self.base}/")
        self.wait_online()

    def login(self, username: str, password: str = PASSWORD, page: Page | None = None) -> None:
        page = page or self.page
        page.goto(f"{self.base}/login")
        # By the form's ids, whatever the page's language (its labels are
        # tested apart).
        page.locator("#login-name").fill(username)
        page.locator("#login-password").fill(password)
        page.locator("form:has(#login-name) button[type=submit]").click()
        page.wait_for_url(f"{self.base}/")
        self.wait_online(page)

    def wait_online(self, page: Page | None = None) -> None:
        wait_js(page or self.page, "!!(window.wsc && window.wsc.socket.ready)")

    # ---------------------------------------------------------------- navigation

    def nav(self, section: str, page: Page | None = None) -> None:
        page = page or self.page
        back = page.locator("main button.back")
        if back.is_visible():
            back.click()
        page.locator(f'.rail [data-nav="{section}"]:visible').first.click()

    def open_chat(self, title: str, page: Page | None = None) -> None:
        page = page or self.page
        self.nav("chats", page)
        exact = re.compile(f"^{re.escape(title)}$")
        page.locator(".conv-item").filter(has=page.locator(".conv-name", has_text=exact)).first.click()
        expect(page.locator(".chat-header h1")).to_have_text(title)

    def send(self, text: str, page: Page | None = None) -> None:
        page = page or self.page
        box = page.get_by_label("Message", exact=True)
        box.fill(text)
        box.press("Enter")

    def message(self, text: str, page: Page | None = None):
        return (page or self.page).locator(".messages .msg .text", has_text=re.compile(f"^{re.escape(text)}$"))

    def item(self, text: str, page: Page | None = None):
        """The list item (li.msg) of the message whose text is `text`."""
        page = page or self.page
        exact = page.locator(".bubble > .text", has_text=re.compile(f"^{re.escape(text)}$"))
        return page.locator(".messages li.msg").filter(has=exact)

    def long_press(self, locator, page: Page | None = None) -> None:
        """A finger held on `locator` for 700 ms: real touch events through the
        DevTools protocol, as a phone's browser gets them."""
        page = page or self.page
        locator.scroll_into_view_if_needed()
        box = locator.bounding_box()
        point = {"x": box["x"] + min(box["width"] / 2, 40), "y": box["y"] + box["height"] / 2}
        cdp = self.context.new_cdp_session(page)
        try:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
            time.sleep(0.7)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        finally:
            cdp.detach()

    def open_menu(self, text: str, page: Page | None = None):
        """The menu of the message `text`: a long press on a phone, the ⋯
        button that hovering shows on a desktop. Returns the menu."""
        page = page or self.page
        item = self.item(text, page)
        if self.phone:
            self.long_press(item.locator(".bubble"), page)
        else:
            item.hover()
            item.get_by_role("button", name="Message actions").click()
        menu = page.get_by_role("menu", name="Message actions")
        expect(menu).to_be_visible()
        return menu

    # ---------------------------------------------------------------- checks

    def axe(self, page: Page | None = None) -> list[dict]:
        """Serious and critical axe-core violations on the page as it is now."""
        page = page or self.page
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated by the DevTools protocol, which the page's CSP does not govern.
            page.evaluate(AXE.read_text() + "\n;0")
        # The page at rest: a toast fading in measured half transparent is a
        # contrast failure no one sees (finite animations only: a spinner runs on).
        page.evaluate(SETTLED)
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    def shot(self, name: str, page: Page | None = None) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        (page or self.page).screenshot(path=str(SHOTS / f"{name}.png"))


SETTLED = """Promise.race([
  Promise.all(document.getAnimations()
    .filter((a) => Number.isFinite(a.effect && a.effect.getComputedTiming().endTime))
    .map((a) => a.finished.catch(() => null))),
  new Promise((done) => setTimeout(done, 2000)),
]).then(() => true)"""


def wait_js(page: Page, expression: str, timeout: float = 15.0, interval: float = 0.1):
    """Poll a JavaScript expression until it is truthy. (Playwright's
    wait_for_function evaluates strings with eval(), which the page's CSP
    forbids; page.evaluate goes through the DevTools protocol.)"""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expression} (last value {value!r})")
        time.sleep(interval)


def read_sms_codes(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def png(name_color=(200, 40, 40), size=(320, 200)) -> bytes:
    return image_bytes(size=size, color=name_color)


def befriend_in_ui(ann: Person, ben: Person, ben_username: str) -> None:
    """Ann finds Ben by username and asks; Ben sees the request arrive and accepts."""
    ann.nav("contacts")
    ann.page.get_by_role("link", name="Add a contact").first.click()
    ann.page.get_by_label("Username or phone number").fill(ben_username)
    ann.page.get_by_role("button", name="Search").click()
    ann.page.get_by_role("button", name="Send request").click()
    expect(ann.page.get_by_text("Request sent")).to_be_visible()
    # Ben's Contacts tab shows the request without a reload.
    badge = ben.page.locator('.rail [data-badge="contacts"]')
    expect(badge).to_have_text("1")
    ben.nav("contacts")
    ben.page.get_by_role("link", name=re.compile("New requests")).click()
    ben.page.get_by_role("button", name="Accept").click()
    expect(badge).to_be_hidden()


def contacts_pair(user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect

    ann = user_factory("ann_call", nickname="Ann")
    ben = user_factory("ben_call", nickname="Ben")
    cat = user_factory("cat_call", nickname="Cat")
    do_connect(user=ann, other=ben)
    do_connect(user=cat, other=ann)
    return PASSWORD


def seed_world(user_factory):
    """Ann with a contact (Ben, remarked), a Chinese-named contact, a group with a
    notice and a pending join request, a few messages, and a request from Carol."""

    from conftest import PASSWORD
    from contacts.services import do_connect, do_send_contact_request, do_update_contact
    from conversations.models import Conversation
    from groups.services import do_create_group, do_join_group

    ann = user_factory("ann_pages", nickname="Ann", signature="Hello from Ann")
    ben = user_factory("ben_pages", nickname="Benjamin")
    zhang = user_factory("zhang_pages", nickname="张伟")
    carol = user_factory("carol_pages", nickname="Carol")
    contact = do_connect(user=ann, other=ben)
    do_connect(user=ann, other=zhang)
    do_update_contact(user=ann, other_id=str(ben.uuid), remark="Ben (work)")
    do_send_contact_request(user=carol, to=str(ann.uuid), message="Hi Ann, it is Carol from the club.")
    group = do_create_group(
        owner=ann, name="Book club", members=[str(ben.uuid), str(zhang.uuid)], notice="Next: 三体, chapter 3"
    )
    do_join_group(user=carol, group_id=str(group.uuid), message="May I join?")
    direct = str(Conversation.objects.get(pk=contact.conversation_id).uuid)
    # Through the bus, and stored before the test reads them (with Kafka the
    # worker stores them a moment later: a test that looked one up at once
    # failed when the worker was slow).
    for sender, text in [
        (ben, "Are we still on for Friday?"),
        (ann, "Yes! 7pm at the usual place 🍕"),
        (ben, "Great, see you there. I will bring the book.\nAnd snacks."),
    ]:
        send_as(sender, direct, text)
    return PASSWORD, direct, str(group.uuid), str(ben.uuid)


def sms_code(tmp_path_factory, phone: str, *, after: int = 0) -> str:
    """The code in the newest SMS to `phone` once more than `after` were sent:
    the live server's SMS backend writes to a file beside its log (conftest.py)."""
    deadline = time.monotonic() + 10
    while True:
        files = {p.resolve() for p in tmp_path_factory.getbasetemp().glob("liveserver*/sms.jsonl")}
        texts = [m["text"] for f in files for m in read_sms_codes(f) if m["phone"] == phone]
        if len(texts) > after:
            return re.search(r"\b(\d{6})\b", texts[-1]).group(1)
        assert time.monotonic() < deadline, "no SMS was sent"
        time.sleep(0.1)


def ended_call(caller, callee, *, media: str = "audio", outcome: str = "completed", seconds: int = 30, ago=None):
    """A call already in the log: started `ago` (a timedelta, default five
    minutes) before now, lasting `seconds` (answered only if completed)."""
    from datetime import timedelta

    from django.utils import timezone

    from calls.models import Call

    started = timezone.now() - (ago if ago is not None else timedelta(minutes=5))
    return Call.objects.create(
        caller=caller,
        callee=callee,
        media=media,
        state="ended",
        outcome=outcome,
        started_at=started,
        ended_at=started + timedelta(seconds=seconds),
        duration_s=seconds if outcome == "completed" else 0,
    )


def send_as(sender, conversation: str, text: str, **extra) -> str:
    """`sender` sends `text` (with reply_to, mentions, ...) from the server's
    side; returns the stored message's id."""
    import uuid

    from chatsite.errors import Unavailable
    from conversations.models import Message
    from messaging.actions.send import check_send_message, do_send_message

    cmid = str(uuid.uuid4())
    deadline = time.monotonic() + 15
    while True:
        try:
            do_send_message(
                draft=check_send_message(
                    sender=sender, client_msg_id=cmid, kind="text", content=text, conversation=conversation, **extra
                )
            )
            break
        except Unavailable:
            # "Storage is slow": sent again with the same client_msg_id, as
            # the contract tells a client to (a loaded machine, embedded).
            assert time.monotonic() < deadline, f"{text!r} was never accepted"
    # Durable on the bus now; stored when the worker gets to it (at once when embedded).
    while not (found := Message.objects.filter(sender=sender, client_msg_id=cmid).first()):
        assert time.monotonic() < deadline, f"{text!r} was never stored"
        time.sleep(0.05)
    return str(found.uuid)


def index_for_search(*conversations: str) -> None:
    """Catch the search index up with these conversations (ids), as the
    indexer does on the bus: embedded, the in-process bus has done it already
    and this reads nothing new; with Kafka no `run_indexer` runs beside the
    browser tests, so a search would otherwise find nothing."""
    from conversations.models import Conversation
    from search.indexer import index_conversations

    index_conversations(Conversation.objects.filter(uuid__in=conversations).values_list("pk", flat=True))


class Held:
    """The page's requests whose URL matches `pattern`, held until
    `release()`: a slow answer, made exact."""

    def __init__(self, page: Page, pattern: str) -> None:
        self.page = page
        self.pattern = re.compile(pattern)
        self.routes: list = []
        self._handler = self.routes.append
        page.route(self.pattern, lambda route: self._handler(route))

    def wait(self, what: str, timeout: float = 10) -> None:
        """Until one has been asked for."""
        deadline = time.monotonic() + timeout
        while not self.routes:
            assert time.monotonic() < deadline, f"{what} was never asked for"
            self.page.wait_for_timeout(50)

    def release(self) -> None:
        for route in self.routes:
            route.continue_()
        self.page.unroute(self.pattern)
