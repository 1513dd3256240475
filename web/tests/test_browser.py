"""The web app in a real browser (Debian's Chromium through Playwright)
against a real daphne serving the test database: two people register,
befriend, chat live, send and open files, make a group, recall, lose the
network and come back, and call each other with fake camera and microphone.

Screenshots of every main page, on a phone and on a desktop, are written to
artifacts/screenshots/ (git-ignored); each page is checked with axe-core."""

from __future__ import annotations

import io
import os
import re
import time

import pytest
from playwright.sync_api import expect, sync_playwright

from web.tests.browser import ARGS, CHROMIUM, PHONE, Person, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API keeps an event loop running in this thread, which
    # makes Django refuse ORM calls (the tests' own rows, pytest-django's
    # flush) as "async unsafe". Nothing here shares a connection across
    # threads, so that guard is lifted while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            yield instance
            instance.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def people(browser, live_server_url, message_worker):
    made: list[Person] = []

    def make(**options) -> Person:
        person = Person(browser, live_server_url, **options)
        made.append(person)
        return person

    yield make
    for person in made:
        person.close()


def png(name_color=(200, 40, 40), size=(320, 200)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, name_color).save(out, "PNG")
    return out.getvalue()


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


def test_two_people_chat_share_files_group_recall_and_come_back(people, live_server_url):
    evil = "<img src=x onerror=alert(1)>"
    ann = people()  # a desktop
    ben = people(viewport=PHONE, phone=True)  # a phone
    ann.register("ann_web", "Ann")
    ben.register("ben_web", f"{evil}Ben")

    befriend_in_ui(ann, ben, "ben_web")
    # Ann's contact list updates live; Ben's nickname is text, not markup.
    ann.nav("contacts")
    ben_entry = ann.page.locator(".conv-item[data-contact]", has_text=f"{evil}Ben")
    expect(ben_entry).to_be_visible()
    ben_entry.click()
    ann.page.get_by_role("button", name="Send message").click()
    expect(ann.page.locator(".chat-header h1")).to_have_text(f"{evil}Ben")

    # ---- live chat: unread badge, preview, typing, read receipts
    ann.send("Hello <b>Ben</b> 😀")
    ann_first = ann.message("Hello <b>Ben</b> 😀")
    expect(ann_first).to_be_visible()
    ben.nav("chats")
    item = ben.page.locator(".conv-item", has_text="Ann")
    expect(item.locator(".badge")).to_have_text("1")
    expect(item.locator(".conv-preview")).to_have_text("Hello <b>Ben</b> 😀")
    item.click()
    expect(ben.message("Hello <b>Ben</b> 😀")).to_be_visible()
    assert ben.page.locator(".messages b, .messages img[src='x']").count() == 0
    # Ben opened it: Ann's message says so.
    expect(ann.page.locator(".msg.mine .msg-status").last).to_have_text("Read")
    ben.page.get_by_label("Message", exact=True).press_sequentially("typing")
    expect(ann.page.locator(".chat-header .subtitle")).to_have_text("typing…")
    ben.page.get_by_label("Message", exact=True).fill("")
    ben.send("Hi Ann!\nsecond line")
    expect(ann.message("Hi Ann!\nsecond line")).to_be_visible()

    # ---- emoji from the picker
    ann.page.get_by_role("button", name="Emoji").click()
    ann.page.get_by_role("button", name="👍").click()
    ann.page.get_by_role("button", name="Send", exact=True).click()
    expect(ben.message("👍")).to_be_visible()

    # ---- files: an image (thumbnail, opened full size) and a document (downloaded)
    picture = png()
    ann.page.locator("#composer-file").set_input_files(
        [
            {"name": "cat <img src=x onerror=alert(2)>.png", "mimeType": "image/png", "buffer": picture},
            {"name": "notes <b>1<b>.txt", "mimeType": "text/plain", "buffer": b"meeting at 10\n"},
        ]
    )
    thumb = ben.page.locator(".messages img.thumb[alt='cat <img src=x onerror=alert(2)>.png']")
    expect(thumb).to_be_visible()
    wait_js(
        ben.page,
        "document.querySelector(\".messages img.thumb[alt='cat <img src=x onerror=alert(2)>.png']\").naturalWidth > 0",
    )
    with ben.page.expect_popup() as popup:
        ben.page.get_by_role("link", name="Open image cat <img src=x onerror=alert(2)>.png").click()
    opened = popup.value
    opened.wait_for_load_state()
    assert opened.evaluate("document.contentType") == "image/png"
    assert opened.evaluate("document.images.length === 1 && document.images[0].naturalWidth") == 320
    opened.close()
    card = ben.page.locator(".file-card", has_text="notes <b>1<b>.txt")
    expect(card).to_be_visible()
    response = ben.context.request.get(live_server_url + card.get_attribute("href"))
    assert response.status == 200 and response.body() == b"meeting at 10\n"
    # Ann's own copies went from progress bar to sent messages.
    expect(ann.page.locator(".msg.mine .file-card", has_text="notes <b>1<b>.txt")).to_be_visible()
    expect(ann.page.locator("[data-pending]")).to_have_count(0)

    # ---- recall within the window
    ann.send("oops, wrong chat")
    expect(ben.message("oops, wrong chat")).to_be_visible()
    ann.page.locator(".msg.mine", has_text="oops, wrong chat").get_by_role("button", name="Recall").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Recall").click()
    expect(ben.page.locator(".msg-system", has_text="Ann recalled a message")).to_be_visible()
    expect(ben.message("oops, wrong chat")).to_have_count(0)
    expect(ann.page.locator(".msg-system", has_text="You recalled a message")).to_be_visible()

    # ---- a group made from contacts
    ann.nav("groups")
    ann.page.get_by_role("link", name="New group").first.click()
    ann.page.get_by_label("Group name").fill("Team <script>x</script>")
    ann.page.get_by_label(f"{evil}Ben").check()
    ann.page.get_by_label("Notice (optional)").fill("<b>bring snacks</b>")
    ann.page.get_by_role("button", name="Create group").click()
    expect(ann.page.locator(".chat-header h1")).to_have_text("Team <script>x</script>")
    expect(ann.page.locator(".msg-system", has_text="You created the group “Team <script>x</script>”")).to_be_visible()
    ann.send("hi team")
    ben.nav("chats")
    group_item = ben.page.locator(".conv-item", has_text="Team <script>x</script>")
    expect(group_item.locator(".conv-preview")).to_have_text("Ann: hi team")
    group_item.click()
    expect(ben.message("hi team")).to_be_visible()
    ben.send("hello group")
    expect(ann.message("hello group")).to_be_visible()
    expect(ann.page.locator(".msg.mine .msg-status").last).to_have_text("Read by 1")
    ben.page.get_by_role("link", name="Group details").click()
    expect(ben.page.locator(".notice .signature")).to_have_text("<b>bring snacks</b>")
    expect(ben.page.locator("[data-member]")).to_have_count(2)

    # ---- Ben loses the network, misses messages, comes back: each exactly once
    ben.open_chat("Ann")
    ben.context.set_offline(True)
    ben.page.evaluate("wsc.socket.drop()")
    banner = ben.page.locator("#conn-banner")
    expect(banner).to_contain_text("Connection lost")
    ben.send("written while offline")
    expect(ben.page.locator("[data-pending] .msg-status")).to_have_text("Sending…")
    ann.open_chat(f"{evil}Ben")
    for text in ("missed one", "missed two"):
        ann.send(text)
        expect(ann.message(text)).to_be_visible()
    time.sleep(0.5)
    expect(ben.message("missed one")).to_have_count(0)
    ben.context.set_offline(False)
    expect(banner).to_contain_text("Connected again")
    for text in ("missed one", "missed two"):
        expect(ben.message(text)).to_have_count(1)
    expect(ann.message("written while offline")).to_have_count(1)
    expect(ben.message("written while offline")).to_have_count(1)
    expect(ben.page.locator("[data-pending]")).to_have_count(0)
    # And after a reload, from the server's history: still once each, in order.
    ben.page.reload()
    ben.wait_online()
    texts = ben.page.locator(".messages .msg .text").all_inner_texts()
    assert texts.count("missed one") == 1 and texts.count("written while offline") == 1
    assert texts.index("missed one") < texts.index("missed two")

    ann.assert_clean()
    ben.assert_clean()
