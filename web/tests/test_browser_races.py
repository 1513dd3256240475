"""What the person is doing is not undone by what loads or comes meanwhile,
in a real browser: the route already shown is not drawn again (the open
chat's row clicked, the image viewer's Back), a chat left while its history
loads is not marked read, and a reconnect whose chat list arrives before
`sync` does not count the missed messages twice. (The first paint's main
pane waiting for the lists: test_browser_pwa.py.)"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from web.tests.browser import Held, ended_call, send_as, wait_js

pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def _pair(user_factory, a: str, b: str) -> tuple:
    """Ann and Ben, contacts, and their chat's id."""
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory(a, nickname="Ann")
    ben = user_factory(b, nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    return ann, ben, str(Conversation.objects.get(pk=contact.conversation_id).uuid)


def _wait_until(condition, what: str, page, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(50)


def _unread(page, conversation: str) -> int:
    """Unread in this chat, as the server counts it for the page's user."""
    listed = page.evaluate(
        "fetch('/api/v1/conversations?limit=200', {credentials: 'same-origin'}).then((r) => r.json())"
    )
    return next(c["unread"] for c in listed["results"] if c["id"] == conversation)


def _badge(page, name: str):
    row = page.locator(".conv-item").filter(has=page.locator(".conv-name", has_text=re.compile(f"^{name}$")))
    return row.locator(".badge")


def test_the_route_shown_already_is_not_drawn_again(people, user_factory):
    """Clicking the open chat's row, or the Back that closes the image viewer
    (a history entry at the same address), leaves the chat as it is: the
    words being written, the place in the history."""
    from conftest import PASSWORD

    ann_user, _, direct = _pair(user_factory, "ann_same", "ben_same")
    ann = people()
    ann.login("ann_same", PASSWORD)
    ann.open_chat("Ben")
    page = ann.page
    box = page.get_by_role("textbox", name=re.compile("Message", re.I)).first
    box.fill("half a thought")
    page.evaluate("document.querySelector('.message-scroll').dataset.drawn = 'once'")

    page.locator(".conv-item").filter(has=page.locator(".conv-name", has_text="Ben")).first.click()
    page.wait_for_timeout(300)
    expect(page.locator(".message-scroll[data-drawn=once]")).to_have_count(1)
    expect(box).to_have_value("half a thought")

    # What the image viewer does: a history entry at the same address, then Back.
    page.evaluate("history.pushState({viewer: true}, ''); history.back()")
    page.wait_for_timeout(300)
    expect(page.locator(".message-scroll[data-drawn=once]")).to_have_count(1)
    expect(box).to_have_value("half a thought")
    assert page.url.endswith(f"/chats/{direct}")
    ann.assert_clean()


def test_a_chat_left_while_its_history_loads_is_not_marked_read(people, user_factory):
    """Ben opens a chat with unread messages and leaves before its messages
    came: no `read` goes for messages he never saw, here or on his other
    devices; opening it again and seeing them does."""
    from conftest import PASSWORD

    ann_user, _, direct = _pair(user_factory, "ann_left", "ben_left")
    for text in ("one", "two", "three"):
        send_as(ann_user, direct, text)
    ben = people()
    ben.login("ben_left", PASSWORD)
    page = ben.page
    expect(_badge(page, "Ann")).to_have_text("3")

    held = Held(page, rf"/api/v1/conversations/{direct}/messages\?")
    page.locator(".conv-item").filter(has=page.locator(".conv-name", has_text="Ann")).first.click()
    held.wait("the history")
    ben.nav("contacts")  # left before it came
    held.release()
    page.wait_for_timeout(1500)  # a read would have gone within a second
    assert _unread(page, direct) == 3
    ben.nav("chats")
    expect(_badge(page, "Ann")).to_have_text("3")

    ben.open_chat("Ann")  # seen now
    expect(ben.message("three")).to_be_visible()
    _wait_until(lambda: _unread(page, direct) == 0, "opening the chat did not mark it read", page)
    ben.assert_clean()


def test_a_reconnect_whose_list_comes_before_sync_counts_each_missed_message_once(people, user_factory):
    """Ben misses three messages of Ann's and reconnects; the chat list (which
    counts them) is read before `sync` brings them: the badge says 4 with
    the one before, not 7."""
    from conftest import PASSWORD

    ann_user, _, direct = _pair(user_factory, "ann_back", "ben_back")
    send_as(ann_user, direct, "before")
    ben = people()
    page = ben.page
    # Ben's sockets go through this stand-in: it can miss the new messages
    # the server sends (deaf), and hold his `sync` until the chat list has
    # been read again.
    held: list[str] = []
    relay = {"deaf": False, "hold": False, "server": None, "synced": 0}

    def stand_in(ws):
        server = ws.connect_to_server()
        relay["server"] = server

        def down(message):
            if '"type":"sync.done"' in message:
                relay["synced"] += 1
            if not (relay["deaf"] and '"type":"message.new"' in message):
                ws.send(message)

        def up(message):
            if relay["hold"] and '"type":"sync"' in message:
                held.append(message)
            else:
                server.send(message)

        server.on_message(down)
        ws.on_message(up)

    page.route_web_socket(re.compile(r"/ws/"), stand_in)
    lists: list[str] = []
    page.on("response", lambda r: "/api/v1/conversations?" in r.url and lists.append(r.url))
    ben.login("ben_back", PASSWORD)
    expect(_badge(page, "Ann")).to_have_text("1")

    relay["deaf"] = True
    for text in ("one", "two", "three"):
        send_as(ann_user, direct, text)
    page.wait_for_timeout(500)
    expect(_badge(page, "Ann")).to_have_text("1")  # missed
    relay["hold"] = True
    seen = len(lists)
    page.evaluate("window.wsc.socket.drop()")
    _wait_until(lambda: len(lists) > seen, "the chat list was not read again", page, timeout=30)
    _wait_until(lambda: held, "sync was never sent", page)
    expect(_badge(page, "Ann")).to_have_text("4")  # the list's count
    relay["deaf"] = relay["hold"] = False
    synced = relay["synced"]
    for message in held:
        relay["server"].send(message)
    _wait_until(lambda: relay["synced"] > synced, "sync never finished", page)
    page.wait_for_timeout(300)  # its frames handled
    expect(_badge(page, "Ann")).to_have_text("4")
    assert _unread(page, direct) == 4
    ben.assert_clean()


def test_moving_on_while_the_lists_load_draws_the_new_page_once_they_are_in(people, user_factory):
    """The first paint's main pane waits for the lists, for the page the
    person has moved to meanwhile too: New group's member picker lists the
    contacts (it was drawn with none, and stayed so)."""
    from conftest import PASSWORD

    _pair(user_factory, "ann_move", "ben_move")
    ann = people()
    ann.login("ann_move", PASSWORD)
    page = ann.page
    held = Held(page, r"/api/v1/(conversations\?|contacts\b)")
    page.goto(ann.base + "/")
    held.wait("the chat list")
    ann.nav("groups")
    page.get_by_role("link", name="New group").first.click()
    expect(page).to_have_url(re.compile("/groups/new$"))
    expect(page.locator("#main")).to_contain_text("Loading…")
    held.release()
    expect(page.get_by_label("Group name")).to_be_visible()
    expect(page.locator("label.pick", has_text="Ben")).to_be_visible()
    ann.assert_clean()


def test_opening_an_item_keeps_the_list_where_it_was(people, user_factory):
    """Ann scrolls down her contacts and opens one: the list stays where she
    had it (it was drawn again at the top, the row she clicked out of view),
    with that row marked as the open one."""
    from conftest import PASSWORD
    from contacts.services import do_connect

    ann_user = user_factory("ann_list", nickname="Ann")
    for n in range(30):
        do_connect(user=ann_user, other=user_factory(f"pal_{n:02}", nickname=f"Pal {n:02}"))
    ann = people()
    ann.login("ann_list", PASSWORD)
    page = ann.page
    ann.nav("contacts")
    last = page.locator("a.conv-item", has_text="Pal 29")
    # The list is drawn again as presence and the contacts come (panes.js
    # refill): once what the page reads at start is in, and the row scrolled
    # to again if it was replaced under the scroll.
    page.wait_for_load_state("networkidle")
    for _ in range(20):
        try:
            last.scroll_into_view_if_needed(timeout=3000)
            break
        except PlaywrightError as err:
            if "not attached" not in str(err):
                raise
            page.wait_for_timeout(100)
    scroller = page.locator("#list-pane .list-scroll")
    top = scroller.evaluate("(el) => el.scrollTop")
    assert top > 0
    last.click()
    expect(page).to_have_url(re.compile(r"/contacts/[0-9a-f-]+$"))
    expect(page.locator("#main h1, #main h2").first).to_be_visible()
    assert scroller.evaluate("(el) => el.scrollTop") == top
    expect(last).to_have_attribute("aria-current", "page")
    page.locator("a.conv-item", has_text="Pal 28").click()
    expect(last).not_to_have_attribute("aria-current", "page")
    expect(page.locator("a.conv-item", has_text="Pal 28")).to_have_attribute("aria-current", "page")
    ann.assert_clean()


def test_a_remark_being_typed_stays_when_the_contact_comes_online(people, user_factory):
    """Ann is writing a remark for Ben on his page when he comes online: the
    status line says so, and her words and her place in the field stay."""
    from conftest import PASSWORD

    _pair(user_factory, "ann_remark", "ben_remark")
    ann = people()
    ann.login("ann_remark", PASSWORD)
    page = ann.page
    ann.nav("contacts")
    page.locator("a.conv-item", has_text="Ben").click()
    remark = page.get_by_label("Remark (only you see it)")
    remark.fill("Ben from the clim")
    card = page.locator("#main .profile-card")
    expect(card.get_by_text("Offline", exact=True)).to_be_visible()
    ben = people()
    ben.login("ben_remark", PASSWORD)
    expect(card.get_by_text("Online", exact=True)).to_be_visible()
    expect(remark).to_have_value("Ben from the clim")
    expect(remark).to_be_focused()
    remark.press("End")
    remark.type("b")
    page.get_by_role("button", name="Save remark").click()
    expect(page.locator("#main h1")).to_have_text("Ben from the climb")
    ann.assert_clean()


def test_a_group_notice_being_written_stays_when_a_member_is_added(people, user_factory):
    """Ann is writing her group's notice when Ben (an admin) adds Carol: the
    members list shows Carol, and Ann's unsaved notice and ticked boxes stay."""
    from conftest import PASSWORD
    from contacts.services import do_connect
    from groups.services import do_add_members, do_create_group, do_set_member_role

    ann_user, ben_user, _ = _pair(user_factory, "ann_notice", "ben_notice")
    carol = user_factory("carol_notice", nickname="Carol")
    dan = user_factory("dan_notice", nickname="Dan")
    do_connect(user=ben_user, other=carol)
    do_connect(user=ann_user, other=dan)
    group = do_create_group(owner=ann_user, name="Climbers", members=[str(ben_user.uuid)])
    do_set_member_role(user=ann_user, group_id=str(group.uuid), member_id=str(ben_user.uuid), role="admin")
    ann = people()
    ann.login("ann_notice", PASSWORD)
    page = ann.page
    page.goto(f"{ann.base}/groups/{group.uuid}")
    members = page.get_by_role("list", name="Members")
    expect(members).to_contain_text("Ben")
    page.get_by_label("Dan").check()
    notice = page.get_by_label("Notice")
    notice.fill("Saturday: the north face")
    do_add_members(user=ben_user, group_id=str(group.uuid), users=[str(carol.uuid)])
    expect(members).to_contain_text("Carol")
    expect(notice).to_have_value("Saturday: the north face")
    expect(notice).to_be_focused()
    expect(page.get_by_label("Dan")).to_be_checked()
    ann.assert_clean()


def test_quiet_hours_being_edited_stay_when_another_setting_is_saved(people, user_factory):
    """Ann changes the start of her quiet hours, clicks Notifications in the
    list again, then picks another preview before saving them: the preview is
    saved and her time stays."""
    from conftest import PASSWORD

    user_factory("ann_quiet", nickname="Ann")
    ann = people()
    ann.login("ann_quiet", PASSWORD)
    page = ann.page
    page.goto(ann.base + "/profile/notifications")
    page.get_by_role("switch", name="Quiet hours").click()
    start = page.get_by_label("From")
    expect(start).to_have_value("22:00")
    start.fill("23:30")
    page.locator("#list-pane a.conv-item", has_text="Notifications").click()  # the page shown already
    page.wait_for_timeout(300)
    expect(start).to_have_value("23:30")
    page.get_by_label("Name only").check()
    expect(page.locator(".toast", has_text="Saved.").first).to_be_visible()
    page.wait_for_timeout(300)
    expect(start).to_have_value("23:30")
    page.get_by_role("button", name="Save quiet hours").click()
    # Both are saved (what the server keeps; counting the toasts raced their
    # own expiry: the switch's save shows one too).
    wait_js(
        page,
        "fetch('/api/v1/me/notifications', {credentials: 'same-origin'}).then((r) => r.json())"
        ".then((s) => s.preview === 'sender' && !!s.quiet_hours && s.quiet_hours.start === '23:30')",
    )
    expect(page.locator(".toast", has_text="Saved.").last).to_be_visible()
    ann.assert_clean()


def test_a_reconnect_asks_for_each_contacts_presence_once(people, user_factory):
    """Presence subscriptions belong to a socket: after a reconnect the tab
    asks for its contacts once (it asked three times, and every answer
    redrew the lists)."""
    import json

    from conftest import PASSWORD

    _pair(user_factory, "ann_pres", "ben_pres")
    ann = people()
    page = ann.page
    asked: list[list[str]] = []

    def stand_in(ws):
        server = ws.connect_to_server()

        def up(message):
            if '"presence.subscribe"' in message:
                asked.append(json.loads(message)["users"])
            server.send(message)

        ws.on_message(up)

    page.route_web_socket(re.compile(r"/ws/"), stand_in)
    ann.login("ann_pres", PASSWORD)
    _wait_until(lambda: asked, "presence was never asked for", page)
    page.wait_for_timeout(500)
    assert len(asked) == 1 and len(asked[0]) == 1, asked
    asked.clear()
    page.evaluate("window.wsc.socket.drop()")
    _wait_until(lambda: asked, "presence was not asked for after the reconnect", page, timeout=30)
    ann.wait_online()
    page.wait_for_timeout(1500)  # the lists read again meanwhile
    assert asked == [[asked[0][0]]], asked
    ann.assert_clean()


def test_the_row_the_keyboard_is_on_keeps_the_focus_when_its_list_is_drawn_again(people, user_factory):
    """Ann moves through her lists with the keyboard. A message that comes
    (the chat list drawn again, Ben's chat moving to the top) and a contact
    coming online (the contact list drawn again) leave her on the same row,
    not on the page's top."""
    from conftest import PASSWORD

    ann_user, ben_user, direct = _pair(user_factory, "ann_focus", "ben_focus")
    carol = user_factory("carol_focus", nickname="Carol")
    from contacts.services import do_connect
    from conversations.models import Conversation

    other = str(Conversation.objects.get(pk=do_connect(user=ann_user, other=carol).conversation_id).uuid)
    send_as(ann_user, direct, "first")
    send_as(ann_user, other, "second")  # Carol's chat on top, Ben's below
    ann = people()
    ann.login("ann_focus", PASSWORD)
    page = ann.page
    row = page.locator(f'a.conv-item[href="/chats/{direct}"]')
    expect(page.locator("a.conv-item").first).to_have_attribute("href", f"/chats/{other}")
    ann.wait_online()
    row.focus()
    send_as(ben_user, direct, "hello")
    expect(page.locator("a.conv-item").first).to_have_attribute("href", f"/chats/{direct}")
    expect(row.locator(".badge")).to_have_text("1")
    expect(row).to_be_focused()

    ann.nav("contacts")
    contact = page.locator("a.conv-item", has_text="Ben")
    contact.focus()
    expect(contact.locator(".dot-online")).to_have_count(0)
    ben = people()
    ben.login("ben_focus", PASSWORD)
    expect(contact.locator(".dot-online")).to_have_count(1)
    expect(contact).to_be_focused()
    ann.assert_clean()


def test_a_slow_answer_to_an_earlier_lookup_does_not_replace_the_later_one(people, user_factory):
    """Ann searches for Ben, then, before the answer comes, for Carol; and
    looks up one group, then another. Each form shows the answer to the last
    question, whatever order the answers come in."""
    from conftest import PASSWORD
    from groups.services import do_create_group

    ann_user = user_factory("ann_ask", nickname="Ann")
    user_factory("ben_ask", nickname="Ben")
    carol = user_factory("carol_ask", nickname="Carol")
    first = do_create_group(owner=carol, name="Alpine", members=[])
    second = do_create_group(owner=carol, name="Boulder", members=[])
    ann = people()
    ann.login("ann_ask", PASSWORD)
    page = ann.page

    page.goto(f"{ann.base}/contacts/add")
    slow = Held(page, r"/users/search\?q=ben_ask")
    box = page.get_by_label("Username or phone number")
    box.fill("ben_ask")
    box.press("Enter")
    slow.wait("the first search")
    box.fill("carol_ask")
    box.press("Enter")
    results = page.locator("#main .results")
    expect(results).to_contain_text("@carol_ask")
    slow.release()
    page.wait_for_timeout(500)
    expect(results).to_contain_text("@carol_ask")
    expect(results).not_to_contain_text("@ben_ask")

    page.goto(f"{ann.base}/groups/join")
    slow = Held(page, rf"/groups/{first.uuid}$")
    box = page.get_by_label("Group ID")
    box.fill(str(first.uuid))
    box.press("Enter")
    slow.wait("the first lookup")
    box.fill(str(second.uuid))
    box.press("Enter")
    card = page.locator("#main .card").last
    expect(card).to_contain_text("Boulder")
    slow.release()
    page.wait_for_timeout(500)
    expect(page.locator("#main")).to_contain_text("Boulder")
    expect(page.locator("#main")).not_to_contain_text("Alpine")
    assert ann_user.pk  # Ann herself was never asked about
    ann.assert_clean()


def test_a_call_opened_at_its_address_is_drawn_when_the_log_comes(people, user_factory):
    """A call's address opened while the call log loads: the pane says it is
    loading, then shows the call; an address of no call of Ann's says so."""
    import uuid

    from conftest import PASSWORD

    ann_user, ben_user, _ = _pair(user_factory, "ann_calladdr", "ben_calladdr")
    call = ended_call(ben_user, ann_user, seconds=42)
    ann = people()
    ann.login("ann_calladdr", PASSWORD)
    page = ann.page
    slow = Held(page, r"/api/v1/calls\?")
    page.goto(f"{ann.base}/calls/{call.uuid}")
    slow.wait("the call log")
    expect(page.locator("#main")).to_contain_text("Loading…")
    slow.release()
    card = page.locator("#main .call-card")
    expect(card).to_contain_text("Ben")
    expect(card).to_contain_text("0:42")
    expect(card.get_by_role("button", name="Voice call")).to_be_visible()

    page.goto(f"{ann.base}/calls/{uuid.uuid4()}")
    expect(page.locator("#main")).to_contain_text("This call is not in your call log.")
    ann.assert_clean()


def test_a_remark_saved_on_another_device_shows_at_once(people, user_factory):
    """Ann names Ben "Bennie" in one tab: her other tab's open chat and list
    say Bennie without a reload."""
    from conftest import PASSWORD

    _, ben_user, direct = _pair(user_factory, "ann_rmk2", "ben_rmk2")
    ann = people()
    ann.login("ann_rmk2", PASSWORD)
    ann.page.goto(f"{ann.base}/chats/{direct}")
    expect(ann.page.locator(".chat-header h1")).to_have_text("Ben")
    ann.wait_online()
    other = ann.open_tab()
    other.goto(f"{ann.base}/contacts/{ben_user.uuid}")
    other.get_by_label("Remark (only you see it)").fill("Bennie")
    other.get_by_role("button", name="Save remark").click()
    expect(other.locator("#main h1")).to_have_text("Bennie")
    expect(ann.page.locator(".chat-header h1")).to_have_text("Bennie")
    expect(ann.page.locator(f'a.conv-item[href="/chats/{direct}"] .conv-name')).to_have_text("Bennie")
    ann.assert_clean()


def test_a_click_on_a_row_holds_while_the_list_is_drawn_again(people, user_factory):
    """Ann presses on Ben's row just as a frame redraws the chat list (Ben
    starts typing): the row under her pointer is replaced between the press
    and the release, and the browser fires no click for a press and a release
    on different elements. The list waits for the release, and the chat opens."""
    from conftest import PASSWORD

    _ann, ben, conv = _pair(user_factory, "ann_press", "ben_press")
    ann = people()
    ann.login("ann_press", PASSWORD)
    page = ann.page
    row = page.locator(f'a.conv-item[href="/chats/{conv}"]')
    expect(row).to_be_visible()
    page.wait_for_load_state("networkidle")
    box = row.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    # Ben types: the list is drawn again ("typing…" in his row) while the button is down.
    page.evaluate(
        """([conversation, user]) => window.wsc.socket.dispatchEvent(
             new CustomEvent("frame", {detail: {type: "typing", conversation, user}}))""",
        [conv, str(ben.uuid)],
    )
    page.wait_for_timeout(100)
    page.mouse.up()
    expect(page).to_have_url(re.compile(f"/chats/{conv}$"))
    expect(page.locator(".chat-header h1")).to_have_text("Ben")
    # The redraw held during the press came after it: the row says Ben is typing.
    expect(row).to_contain_text("typing")
    ann.assert_clean()
