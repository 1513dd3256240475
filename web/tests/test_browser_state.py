"""The open chat follows the state of the connection and of the conversation,
in a real browser: a lost network is noticed within seconds (banner, nobody
shown online, messages marked as waiting) and the message goes once when it
is back; a removed member's, a disabled group's and a block's composer is
replaced live by the reason (and Unblock for the blocker); a forced sign-out
lands on the sign-in page saying why; the text box counts near its limit."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from web.tests.browser import AXE, DESKTOP, PHONE, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

WAITING = "Not sent yet · will send when back online"

# The live server is another process (with its own real-time layer in the
# embedded run): what changes state on the server's side goes through its
# REST API, from a signed-in page, so that the server sends the frames.
REST = """async ([method, path, body]) => {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrf = cookie ? decodeURIComponent(cookie.slice(10)) : meta ? meta.content : "";
  const init = { method, credentials: "same-origin", headers: { "Content-Type": "application/json", "X-CSRFToken": csrf } };
  if (body !== null) init.body = JSON.stringify(body);
  const response = await fetch("/api/v1/" + path, init);
  return response.status;
}"""


def rest(page, method: str, path: str, body=None) -> int:
    return page.evaluate(REST, [method, path, body])


def _pair(user_factory, a="ann_state", b="ben_state", *, b_nick="Ben"):
    from contacts.services import do_connect

    ann = user_factory(a, nickname="Ann")
    ben = user_factory(b, nickname=b_nick)
    do_connect(user=ann, other=ben)
    return ann, ben


@pytest.mark.parametrize("signal", ["offline_event", "missed_pong"])
def test_a_lost_network_is_noticed_within_seconds_and_the_message_goes_once_when_back(people, user_factory, signal):
    from conftest import PASSWORD

    _pair(user_factory)
    ann = people()
    ben = people(viewport=DESKTOP)
    ann.login("ann_state", PASSWORD)
    ben.login("ben_state", PASSWORD)
    ben.open_chat("Ann")
    subtitle = ben.page.locator(".chat-header .subtitle")
    expect(subtitle).to_have_text("Online")
    expect(ben.page.locator(".conv-item .dot-online")).to_have_count(1)

    if signal == "missed_pong":
        # Without the browser's `offline` event: only the unanswered ping and
        # send tell the tab (a network path that dies silently).
        ben.page.evaluate("window.addEventListener('offline', (e) => e.stopImmediatePropagation(), true)")
    # The network goes; the open socket is not closed by the browser for us.
    started = time.monotonic()
    ben.context.set_offline(True)
    ben.send("written offline")
    banner = ben.page.locator("#conn-banner")
    pending = ben.page.locator("[data-pending] .msg-status")
    expect(banner).to_be_visible(timeout=8000)
    expect(pending).to_have_text(WAITING, timeout=8000)
    expect(subtitle).not_to_have_text("Online")
    expect(subtitle).to_have_text("Status unknown while you are offline")
    expect(ben.page.locator(".conv-item .dot-online")).to_have_count(0)
    assert time.monotonic() - started < 9, "the lost network took too long to notice"
    ben.shot(f"state-offline-{signal}-desktop")

    # Back: reconnect, sync, resend from the outbox; the message arrives once.
    ben.context.set_offline(False)
    expect(ann.page.locator(".conv-item", has_text="Ben").locator(".conv-preview")).to_have_text(
        "written offline", timeout=20000
    )
    ann.open_chat("Ben")
    expect(ann.message("written offline")).to_have_count(1)
    expect(ben.message("written offline")).to_have_count(1)
    expect(ben.page.locator("[data-pending]")).to_have_count(0)
    expect(subtitle).to_have_text("Online")
    expect(banner).to_be_hidden()
    ann.send("welcome back")
    expect(ben.message("welcome back")).to_have_count(1)
    ann.assert_clean()
    ben.assert_clean()


def test_a_disabled_group_and_a_removed_member_change_the_open_chat_live(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from groups.services import do_create_group

    ann, ben = _pair(user_factory, "ann_grp", "ben_grp")
    cat = user_factory("cat_grp", nickname="Cat")
    do_connect(user=ann, other=cat)
    user_factory("root_grp", nickname="Root", is_staff=True)
    group = do_create_group(owner=ann, name="Trip", members=[str(ben.uuid), str(cat.uuid)])
    gid = str(group.uuid)

    a = people()
    b = people(viewport=PHONE, phone=True)
    root = people()
    a.login("ann_grp", PASSWORD)
    b.login("ben_grp", PASSWORD)
    root.login("root_grp", PASSWORD)
    a.open_chat("Trip")
    b.open_chat("Trip")
    for person in (a, b):
        expect(person.page.locator(".chat-header .subtitle")).to_have_text("3 members")
    box = b.page.get_by_label("Message", exact=True)
    expect(box).to_be_visible()

    # ---- an administrator disables the group: both chats say so, no reload
    assert rest(root.page, "POST", f"admin/groups/{gid}/disable", {"reason": "test"}) == 200
    for person in (a, b):
        blocked = person.page.locator(".composer-disabled")
        expect(blocked).to_have_text("This group is disabled.")
        expect(person.page.get_by_label("Message", exact=True)).to_have_count(0)
    b.shot("state-group-disabled-phone")
    # ... and enables it again: the text box is back.
    assert rest(root.page, "POST", f"admin/groups/{gid}/enable", {}) == 200
    expect(box).to_be_visible()
    expect(a.page.get_by_label("Message", exact=True)).to_be_visible()

    # ---- Ben is removed: his composer gives the reason; Ann's count follows
    b.send("still here")
    expect(a.message("still here")).to_be_visible()
    assert rest(a.page, "DELETE", f"groups/{gid}/members/{ben.uuid}") == 204
    expect(b.page.locator(".composer-disabled")).to_have_text("You are no longer a member of this group.")
    expect(b.page.get_by_label("Message", exact=True)).to_have_count(0)
    expect(a.page.locator(".chat-header .subtitle")).to_have_text("2 members")
    expect(a.page.get_by_label("Message", exact=True)).to_be_visible()
    b.shot("state-group-removed-phone")
    # After a reconnect, the state read again says the same.
    b.page.evaluate("wsc.socket.drop()")
    wait_js(b.page, "wsc.socket.ready")
    expect(b.page.locator(".composer-disabled")).to_have_text("You are no longer a member of this group.")
    a.assert_clean()
    b.assert_clean()


def test_a_block_replaces_the_composer_on_both_sides_and_unblock_restores_it(people, user_factory):
    from conftest import PASSWORD

    _pair(user_factory, "ann_blk", "bobby_blk", b_nick="Bobby (work)")
    a = people()
    b = people(viewport=PHONE, phone=True)
    a.login("ann_blk", PASSWORD)
    b.login("bobby_blk", PASSWORD)
    b.open_chat("Ann")
    expect(b.page.locator(".chat-header .subtitle")).to_have_text("Online")

    # The phone's header: calls stay, pin/mute/hide go behind "More", the name fits.
    header = b.page.locator(".chat-header")
    expect(header.get_by_role("button", name="Voice call")).to_be_visible()
    expect(header.get_by_role("button", name="Pin chat")).to_have_count(0)
    header.get_by_role("button", name="More").click()
    expect(header.get_by_role("button", name="Pin chat")).to_be_visible()
    expect(header.get_by_role("button", name="Hide chat")).to_be_visible()
    b.shot("state-header-menu-phone")
    header.get_by_role("button", name="Mute chat").click()
    expect(header.get_by_role("button", name="Unmute chat")).to_have_attribute("aria-pressed", "true")
    b.page.keyboard.press("Escape")
    expect(header.get_by_role("button", name="Unmute chat")).to_be_hidden()

    # Ann blocks Bobby from his contact page, then opens the chat.
    a.open_chat("Bobby (work)")
    a.page.get_by_role("link", name="Contact details").click()
    a.page.get_by_role("button", name="Block").click()
    a.page.get_by_role("dialog").get_by_role("button", name="Block").click()
    expect(a.page.get_by_role("button", name="Unblock")).to_be_visible()
    a.page.get_by_role("button", name="Send message").click()
    blocked = a.page.locator(".composer-disabled")
    expect(blocked).to_have_text("You blocked Bobby (work) · Unblock")
    expect(a.page.locator(".chat-header .subtitle")).not_to_have_text("Online")
    expect(a.page.locator(".conv-item .dot-online")).to_have_count(0)
    expect(a.page.get_by_label("Message", exact=True)).to_have_count(0)
    a.shot("state-blocker-desktop")

    # Bobby tries: refused; his chat says he can't write here, no "Online".
    b.send("hello?")
    expect(b.page.locator(".composer-disabled")).to_have_text("You can't send messages in this chat.")
    expect(b.page.locator(".chat-header .subtitle")).not_to_have_text("Online")
    b.shot("state-blocked-phone")

    # Ann unblocks from the chat: her composer is back; her message reaches
    # Bobby, and his composer comes back with it.
    blocked.get_by_role("button", name="Unblock").click()
    expect(a.page.get_by_label("Message", exact=True)).to_be_visible()
    a.send("sorry, my mistake")
    expect(b.message("sorry, my mistake")).to_be_visible()
    expect(b.page.get_by_label("Message", exact=True)).to_be_visible()
    b.send("no problem")
    expect(a.message("no problem")).to_be_visible()
    a.assert_clean()
    b.assert_clean()


def test_a_message_menu_stays_by_its_message_when_one_arrives_and_closes_when_scrolled_away(people, user_factory):
    """A message arriving at the bottom scrolls the chat under an open menu:
    the menu stays, by its message (it used to close under the reader's
    pointer, and CI's clicks on it missed). Scrolling the message out of view
    closes it."""
    from conftest import PASSWORD
    from conversations.models import Conversation
    from web.tests.browser import send_as

    ann_user, ben_user = _pair(user_factory, "ann_menu", "ben_menu")
    direct = str(Conversation.objects.get(kind="direct", members__user=ann_user).uuid)
    for i in range(1, 41):
        send_as(ben_user, direct, f"earlier {i}")
    ann = people()
    ben = people()
    ann.login("ann_menu", PASSWORD)
    ben.login("ben_menu", PASSWORD)
    ann.open_chat("Ben")
    ben.open_chat("Ann")
    expect(ann.item("earlier 40")).to_be_in_viewport()

    menu = ann.open_menu("earlier 40")
    opener = ann.item("earlier 40").get_by_role("button", name="Message actions")
    before = opener.bounding_box()
    ben.send("news from Ben")
    expect(ann.item("news from Ben")).to_be_in_viewport()
    # The chat moved up under the menu (it sticks to the bottom), and the
    # scroll's event went out (with the next frame, before its callbacks) ...
    deadline = time.monotonic() + 10
    while opener.bounding_box()["y"] > before["y"] - 10:
        assert time.monotonic() < deadline, "the chat did not move up for the new message"
        time.sleep(0.05)
    ann.page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    # ... and the menu is still open, next to its message.
    expect(menu).to_be_visible()
    place = ann.page.evaluate(
        """() => {
          const m = document.querySelector('.msg-menu').getBoundingClientRect();
          const a = document.querySelector('[aria-label="Message actions"][aria-expanded="true"]').getBoundingClientRect();
          return {below: Math.abs(m.top - (a.bottom + 4)), above: Math.abs(m.bottom - (a.top - 4))};
        }"""
    )
    assert min(place.values()) <= 1, place
    # It still works.
    menu.get_by_role("menuitem", name="Reply").click()
    expect(ann.page.locator(".composer-context")).to_contain_text("earlier 40")

    # Scrolled out of view, the message takes its menu with it. (A screen
    # up, not to the top: there the chat would load older messages and draw
    # the list again.)
    menu = ann.open_menu("earlier 40")
    button = opener.element_handle()
    assert button.get_attribute("aria-expanded") == "true"
    ann.page.evaluate(
        "(() => { const s = document.querySelector('.message-scroll');"
        " s.scrollTop = Math.max(130, s.scrollTop - s.clientHeight); })()"
    )
    expect(menu).to_have_count(0)
    assert button.get_attribute("aria-expanded") == "false"
    assert button.evaluate("b => b.isConnected"), "the list was redrawn: the test no longer tests the scroll"
    expect(ann.item("earlier 40")).not_to_be_in_viewport()
    ann.assert_clean()
    ben.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_a_name_fits_the_phone_header(people, user_factory):
    from conftest import PASSWORD

    _pair(user_factory, "ann_hdr", "bobby_hdr", b_nick="Bobby (work)")
    a = people(viewport=PHONE, phone=True)
    a.login("ann_hdr", PASSWORD)
    a.open_chat("Bobby (work)")
    title = a.page.locator(".chat-header h1")
    assert title.evaluate("el => el.scrollWidth <= el.clientWidth"), "the chat's name is cut"
    a.shot("state-header-phone")
    axe = AXE.exists()  # (npm ci installs it; CI always has it)
    assert not axe or a.axe() == []
    a.page.get_by_role("button", name="More").click()
    expect(a.page.get_by_role("button", name="Pin chat")).to_be_focused()
    assert not axe or a.axe() == []
    a.page.get_by_role("button", name="Pin chat").click()
    expect(a.page.get_by_role("button", name="Unpin chat")).to_have_attribute("aria-pressed", "true")
    a.page.locator(".chat-header h1").click()  # a tap elsewhere closes the menu
    expect(a.page.get_by_role("button", name="Unpin chat")).to_be_hidden()
    a.assert_clean()


@pytest.mark.parametrize("how", ["disabled", "signed_out"])
def test_a_forced_sign_out_lands_on_the_sign_in_page_saying_why(people, user_factory, how):
    from conftest import PASSWORD

    ann = user_factory("ann_out", nickname="Ann")
    user_factory("root_out", nickname="Root", is_staff=True)
    a = people()
    a.login("ann_out", PASSWORD)
    other = people()  # the administrator, or Ann's other device
    if how == "disabled":
        other.login("root_out", PASSWORD)
        assert rest(other.page, "POST", f"admin/users/{ann.uuid}/disable", {"reason": "test"}) == 200
        text = "an administrator has disabled this account"
    else:
        other.login("ann_out", PASSWORD)
        body = {"old_password": PASSWORD, "new_password": "another-good-password-2"}
        assert rest(other.page, "POST", "me/password", body) == 204
        text = "this device's session ended"
    a.page.wait_for_url(re.compile(rf"/login\?reason={how}"), timeout=15000)
    expect(a.page.get_by_role("alert")).to_contain_text(text)
    a.shot(f"state-signed-out-{how}")


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_the_composer_counts_near_the_limit_and_says_why_at_it(people, user_factory):
    from conftest import PASSWORD

    _pair(user_factory, "ann_cnt", "ben_cnt")
    a = people(viewport=PHONE, phone=True)
    a.login("ann_cnt", PASSWORD)
    a.open_chat("Ben")
    limit = a.page.evaluate("wsc.state.limits.max_text")
    box = a.page.get_by_label("Message", exact=True)
    counter = a.page.locator(".composer-counter")
    box.fill("x" * (int(limit * 0.9) - 1))
    expect(counter).to_be_hidden()
    box.press("x")
    expect(counter).to_have_text(f"{int(limit * 0.9)} / {limit}")
    box.fill("y" * (limit + 10))  # cut by the box at the limit
    expect(counter).to_have_text(f"{limit} / {limit} · A message can have at most {limit} characters.")
    a.shot("state-counter-phone")
    box.fill("short")
    expect(counter).to_be_hidden()

    # The tab's title counts unread messages, and stops when they are read.
    a.nav("chats")
    b = people()
    b.login("ben_cnt", PASSWORD)
    b.open_chat("Ann")
    b.send("one")
    b.send("two")
    expect(a.page).to_have_title(re.compile(r"^\(2\) "))
    # And the tab's icon has its red dot meanwhile.
    icon = a.page.locator('link[rel="icon"]')
    expect(icon).to_have_attribute("href", re.compile(r"favicon-unread"))
    a.open_chat("Ben")
    expect(a.page).not_to_have_title(re.compile(r"^\(\d"))
    expect(icon).not_to_have_attribute("href", re.compile(r"favicon-unread"))
    a.assert_clean()
