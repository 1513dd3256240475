"""The keyboard and the layout, on a phone (390×844, one pane at a time) and a
desktop: the focus follows the screen shown (it fell to <body> when a row or
Back hid the pane it was in), "Skip to content" leads to the pane shown (it
pointed at the hidden main pane on a phone's lists), the picture controls
show the keyboard's focus (it sat on an invisible file input), the edges of
controls have 3:1 contrast (WCAG 1.4.11), and a long name without spaces
stays on the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from web.tests.browser import PHONE, seed_world, send_as

# What the browser renders and where the focus goes: the same whatever the
# services (one_config: the real-services run only).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

LAPTOP = {"width": 1280, "height": 800}
SCREENS = {"phone": {"viewport": PHONE, "phone": True}, "desktop": {"viewport": LAPTOP}}
LONG_NAME = "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaft"

# WCAG's contrast ratio of two computed colours, and the colour behind an
# element (the first ancestor with an opaque background).
CONTRAST = """
const parse = (c) => {
  const p = c.match(/rgba?\\(([^)]+)\\)/)[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
  return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
};
const lum = ({ r, g, b }) => {
  const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const ratio = (a, b) => {
  const [x, y] = [lum(parse(a)), lum(parse(b))].sort((p, q) => q - p);
  return Math.round(((x + 0.05) / (y + 0.05)) * 100) / 100;
};
const behind = (node) => {
  for (let n = node; n; n = n.parentElement) {
    const c = getComputedStyle(n).backgroundColor;
    if (parse(c).a > 0) return c;
  }
  return "rgb(255, 255, 255)";
};
"""

# Where an element's text ends: its text's right edge, cut by the element or
# an ancestor that hides what overflows, up to the pane's scrolling box (what
# runs past that is off the screen, to be scrolled to sideways).
VISIBLE_RIGHT = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  let right = range.getBoundingClientRect().right;
  for (let n = el; n; n = n.parentElement) {
    const overflow = getComputedStyle(n).overflowX;
    if (overflow === "auto" || overflow === "scroll") break;
    if (overflow === "hidden" || overflow === "clip") right = Math.min(right, n.getBoundingClientRect().right);
  }
  return right;
}"""


def active(page: Page) -> dict:
    return page.evaluate(
        """(() => { const a = document.activeElement;
        return { tag: a.tagName, text: (a.textContent || "").trim().slice(0, 60), id: a.id,
                 inMain: !!a.closest("#main"), inList: !!a.closest("#list-pane") }; })()"""
    )


def tab_until(page: Page, selector: str, *, back: bool = False, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"the keyboard never reached {selector}; it is on {active(page)}")


def test_on_a_phone_the_focus_follows_the_screen(people, user_factory):
    password, direct, group, _ = seed_world(user_factory)
    person = people(viewport=PHONE, phone=True)
    person.login("ann_pages", password)
    page = person.page

    # Me › Settings: the focus goes to the screen's heading, and the next Tab
    # stays in it (it started again at "Skip to content").
    person.nav("profile")
    settings = page.locator("#list-pane a.conv-item", has_text="Profile, password and devices")
    settings.focus()
    page.keyboard.press("Enter")
    heading = page.locator("#main .pane-header h1")
    expect(heading).to_have_text("Settings")
    expect(heading).to_be_focused()
    person.shot("a11y-focus-settings-heading-phone")
    page.keyboard.press("Tab")
    assert active(page)["inMain"], active(page)
    # Back: to the row of the screen just left.
    page.locator("#main button.back").focus()
    page.keyboard.press("Enter")
    expect(settings).to_be_focused()
    person.shot("a11y-focus-back-to-row-phone")

    # A chat, and Back.
    person.nav("chats")
    chat = page.locator(f'#list-pane a.conv-item[href="/chats/{direct}"]')
    chat.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".chat-header h1")).to_be_focused()
    page.locator("#main button.back").focus()
    page.keyboard.press("Enter")
    expect(chat).to_be_focused()

    # A group's page is drawn when its data comes: its heading gets the focus then.
    person.nav("groups")
    row = page.locator(f'#list-pane a.conv-item[href="/groups/{group}"]')
    row.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#main .pane-header h1")).to_have_text("Book club")
    expect(page.locator("#main .pane-header h1")).to_be_focused()
    page.locator("#main button.back").focus()
    page.keyboard.press("Enter")
    expect(row).to_be_focused()

    # A screen that puts the focus in its form keeps it there.
    person.nav("contacts")
    page.locator("#list-pane").get_by_role("link", name="Add a contact").first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Username or phone number")).to_be_focused()
    person.assert_clean()


def test_on_a_desktop_the_focus_stays_in_the_list(people, user_factory):
    password, direct, *_ = seed_world(user_factory)
    person = people(viewport=LAPTOP)
    person.login("ann_pages", password)
    page = person.page
    chat = page.locator(f'#list-pane a.conv-item[href="/chats/{direct}"]')
    chat.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".chat-header h1")).to_have_text("Ben (work)")
    expect(chat).to_be_focused()
    person.shot("a11y-focus-row-desktop")
    person.assert_clean()


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_skip_to_content_leads_to_the_pane_shown(people, user_factory, screen):
    password, direct, *_ = seed_world(user_factory)
    person = people(**SCREENS[screen])
    person.login("ann_pages", password)
    page = person.page
    skip = page.get_by_role("link", name="Skip to content")

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    if screen == "phone":
        # The list is the content shown: the main pane is hidden.
        expect(page.locator("#list-pane .pane-header h1")).to_be_focused()
        person.shot("a11y-skip-to-list-phone")
        page.keyboard.press("Tab")
        assert active(page)["inList"], active(page)
    else:
        assert active(page)["inMain"], active(page)

    # An item open: its pane, on either screen.
    page.goto(f"{person.base}/chats/{direct}")
    person.wait_online()
    expect(page.locator(".chat-header h1")).to_have_text("Ben (work)")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    assert active(page)["inMain"], active(page)
    page.keyboard.press("Tab")
    assert active(page)["inMain"], active(page)
    person.assert_clean()


def outline_of(locator) -> dict:
    return locator.evaluate(
        "(el) => { const s = getComputedStyle(el); return { style: s.outlineStyle, width: parseFloat(s.outlineWidth) }; }"
    )


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_the_picture_controls_show_the_keyboard_focus(people, user_factory, screen):
    password, _, group, _ = seed_world(user_factory)
    person = people(**SCREENS[screen])
    person.login("ann_pages", password)
    page = person.page

    # Me: "Change picture" (a label; the focus is on its visually hidden file input).
    person.nav("profile")
    label = page.locator('label[for="avatar-file"]')
    expect(label).to_be_visible()
    assert outline_of(label)["style"] == "none"
    page.locator("#list-pane a.conv-item", has_text="Profile, password and devices").focus()
    tab_until(page, "#avatar-file", back=True)
    outline = outline_of(label)
    assert outline["style"] != "none" and outline["width"] >= 2, outline
    person.shot(f"a11y-change-picture-focus-{screen}")

    # A group's page: "Change the group picture".
    page.goto(f"{person.base}/groups/{group}")
    person.wait_online()
    page.get_by_label("Group name").focus()
    tab_until(page, 'input[type="file"]', back=True)
    label = page.get_by_text("Change the group picture")
    outline = outline_of(label)
    assert outline["style"] != "none" and outline["width"] >= 2, outline
    label.scroll_into_view_if_needed()
    person.shot(f"a11y-group-picture-focus-{screen}")
    person.assert_clean()


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_the_edges_of_controls_have_three_to_one_contrast(people, user_factory, screen):
    password, *_ = seed_world(user_factory)
    person = people(**SCREENS[screen])
    person.login("ann_pages", password)
    page = person.page
    edge = "(el) => { " + CONTRAST + " return ratio(getComputedStyle(el).borderTopColor, behind(el.parentElement)); }"

    page.goto(f"{person.base}/profile/settings")
    person.wait_online()
    nickname = page.get_by_label("Nickname")
    expect(nickname).to_be_visible()
    found = {
        "field border": nickname.evaluate(edge),
        "button border": page.get_by_role("button", name="Change password").evaluate(edge),
    }
    person.shot(f"a11y-settings-controls-{screen}")

    page.goto(f"{person.base}/chats")
    person.wait_online()
    box = page.get_by_role("searchbox", name="Search chats and messages")
    expect(box).to_be_visible()
    found["search box border"] = box.evaluate(edge)

    page.goto(f"{person.base}/profile/notifications")
    person.wait_online()
    switch = page.get_by_role("switch", name="Quiet hours")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_be_enabled()
    track = switch.evaluate(
        "(el) => { "
        + CONTRAST
        + " const track = getComputedStyle(el).backgroundColor;"
        + " return [ratio(track, behind(el.parentElement)), ratio(track, behind(el.querySelector('.switch-knob')))]; }"
    )
    found["off switch on its card"], found["switch knob on its track"] = track
    person.shot(f"a11y-switch-off-{screen}")
    low = {what: value for what, value in found.items() if value < 3}
    assert low == {}, found
    person.assert_clean()


def long_named(user_factory):
    """Ann, and a contact of hers with a long name without spaces who has
    written in a group of theirs."""
    from contacts.services import do_connect
    from groups.services import do_create_group

    ann = user_factory("ann_long", nickname="Ann")
    long = user_factory("long_a11y", nickname=LONG_NAME)
    do_connect(user=ann, other=long)
    group = do_create_group(owner=ann, name="Long names", members=[str(long.uuid)])
    send_as(long, str(group.conversation.uuid), "Hello, everyone")


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_a_long_name_stays_on_the_me_card(people, user_factory, screen):
    from conftest import PASSWORD

    long_named(user_factory)
    person = people(**SCREENS[screen])
    person.login("long_a11y", PASSWORD)
    page = person.page
    person.nav("profile")
    name = page.locator('#list-pane .card.center h2[data-me="name"]')
    expect(name).to_have_text(LONG_NAME)
    width = page.evaluate("innerWidth")
    card = page.locator("#list-pane .card.center").bounding_box()
    right = name.evaluate(VISIBLE_RIGHT)
    assert right <= min(width, card["x"] + card["width"]) + 0.5, (right, card, width)
    person.shot(f"a11y-long-name-me-{screen}")
    person.assert_clean()


@pytest.mark.parametrize("screen", ["phone", "desktop"])
def test_a_long_sender_name_stays_on_the_screen(people, user_factory, screen):
    from conftest import PASSWORD

    long_named(user_factory)
    person = people(**SCREENS[screen])
    person.login("ann_long", PASSWORD)
    person.open_chat("Long names")
    page = person.page
    sender = page.locator(".msg-sender .msg-sender-name").first
    expect(sender).to_contain_text(LONG_NAME[:10])
    right = sender.evaluate(VISIBLE_RIGHT)
    assert right <= page.evaluate("innerWidth") + 0.5, right
    assert sender.bounding_box()["width"] > 50  # cut, not gone
    person.shot(f"a11y-long-name-sender-{screen}")
    person.assert_clean()


def test_a_long_bot_name_in_a_group_keeps_its_badge_on_a_phone(people, user_factory):
    """A bot's long name in a group is cut with an ellipsis and its BOT badge
    still shows after it (the ellipsis cut the badge off with the name)."""
    from bots.services import do_add_bot, do_create_bot
    from conftest import PASSWORD
    from groups.services import do_create_group

    ann = user_factory("ann_longbot", nickname="Ann")
    bot = do_create_bot(owner=ann, username="longbot_a11y", nickname=LONG_NAME)
    do_add_bot(user=ann, bot_id=str(bot.user.uuid))
    group = do_create_group(owner=ann, name="Bot names", members=[str(bot.user.uuid)])
    send_as(bot.user, str(group.conversation.uuid), "Hello, I am a bot.")
    person = people(**SCREENS["phone"])
    person.login("ann_longbot", PASSWORD)
    person.open_chat("Bot names")
    page = person.page
    sender = page.locator(".msg-sender").first
    badge = sender.locator(".bot-badge")
    expect(badge).to_have_text("BOT")
    # The whole name would run past the sender's line: it is cut somewhere.
    whole = sender.evaluate(
        "(el) => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect().width; }"
    )
    assert whole > sender.bounding_box()["width"], "the name fits: the test says nothing about the cut"
    # The badge is whole: no box around it clips its word, and it is on the screen.
    box = badge.evaluate("(el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; }")
    word = badge.evaluate(
        "(el) => { const r = document.createRange(); r.selectNodeContents(el); return r.getBoundingClientRect().right; }"
    )
    assert box[1] - box[0] > 10, box
    assert badge.evaluate(VISIBLE_RIGHT) >= word - 0.5, (word, badge.evaluate(VISIBLE_RIGHT))
    assert box[1] <= page.evaluate("innerWidth") + 0.5, box
    person.shot("a11y-long-bot-name-phone")
    person.assert_clean()
