"""A search hit leads to the message: the chat opens at it (loading the
history back to it), marks it and the words found; the hit's row shows the
chat's face. And a group has one face everywhere (Chats and Groups)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from web.tests.browser import day_safe_now, index_for_search, png, send_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]


def test_a_search_hit_opens_the_chat_at_the_message_with_the_words_marked(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_find", nickname="Ann")
    ben = user_factory("ben_find", nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    direct = str(Conversation.objects.get(pk=contact.conversation_id).uuid)
    send_as(ben, direct, "Did you take the blue umbrella home?")
    # Well over a page of newer messages: the hit is not in what a chat shows first.
    for i in range(130):
        send_as(ben if i % 2 else ann, direct, f"later message {i}")

    index_for_search(direct)
    page_of_ann = people()
    page_of_ann.login("ann_find", PASSWORD)
    page = page_of_ann.page
    page.locator("#chat-search").fill("umbrella")
    results = page.get_by_role("region", name="Messages found")
    hit = results.get_by_role("link").filter(has_text="blue umbrella")
    expect(hit).to_have_count(1)
    # The row shows the chat's face (Ben's "B"), not the signed-in user's.
    expect(hit.locator(".avatar")).to_have_text("B")
    hit.click()

    found = page_of_ann.item("Did you take the blue umbrella home?")
    expect(found).to_be_in_viewport()
    expect(found.locator("mark.found")).to_have_text("umbrella")
    expect(page_of_ann.message("later message 129")).not_to_be_in_viewport()
    page_of_ann.shot("search-hit-desktop")
    page_of_ann.assert_clean()


def _settled_colour(avatar) -> str:
    """The avatar's background colour. The list may draw itself again while it
    is read (a live update right after sign-in): a node taken out of the page
    has no computed style, so it is read again until the one in the page answers."""
    for _ in range(50):
        colour = avatar.evaluate("n => n.isConnected ? getComputedStyle(n).backgroundColor : ''")
        if colour:
            return colour
        avatar.page.wait_for_timeout(100)
    raise AssertionError(f"no colour: {avatar.evaluate('n => n.outerHTML')}")


def test_a_group_has_one_face_in_chats_and_in_groups(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from groups.services import do_create_group

    ann = user_factory("ann_face", nickname="Ann")
    ben = user_factory("ben_face", nickname="Ben")
    do_connect(user=ann, other=ben)
    do_create_group(owner=ann, name="Garden club", members=[str(ben.uuid)])

    person = people()
    person.login("ann_face", PASSWORD)
    page = person.page
    in_chats = page.locator(".conv-item", has_text="Garden club").locator(".avatar")
    expect(in_chats).to_have_attribute("data-hue", re.compile(r"^\d$"))
    chats_hue = in_chats.get_attribute("data-hue")
    chats_colour = _settled_colour(in_chats)
    person.nav("groups")
    in_groups = (
        page.get_by_role("list", name="My groups").locator(".conv-item", has_text="Garden club").locator(".avatar")
    )
    expect(in_groups).to_have_attribute("data-hue", chats_hue)
    assert _settled_colour(in_groups) == chats_colour
    person.assert_clean()


def test_addresses_are_links_and_nothing_else_is(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_links", nickname="Ann")
    ben = user_factory("ben_links", nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    direct = str(Conversation.objects.get(pk=contact.conversation_id).uuid)
    send_as(ben, direct, "Tickets: https://example.org/show?id=7&seat=12. Or ask me!")
    send_as(ben, direct, 'javascript:alert(1) <a href="https://evil.example">click</a> ftp://files.example/x')

    person = people()
    person.login("ann_links", PASSWORD)
    person.open_chat("Ben")
    first = person.page.locator(".messages .msg .text", has_text="Tickets:")
    link = first.locator("a.msg-link")
    expect(link).to_have_count(1)
    # The sentence's full stop is not part of the address.
    expect(link).to_have_text("https://example.org/show?id=7&seat=12")
    expect(link).to_have_attribute("href", "https://example.org/show?id=7&seat=12")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(first).to_have_text("Tickets: https://example.org/show?id=7&seat=12. Or ask me!")
    # No other scheme becomes a link, and markup in a message stays text; the
    # https address written inside it is a link of its own, to itself.
    second = person.page.locator(".messages .msg .text", has_text="javascript:")
    expect(second).to_have_text('javascript:alert(1) <a href="https://evil.example">click</a> ftp://files.example/x')
    expect(second.locator("a")).to_have_count(1)
    expect(second.locator("a")).to_have_attribute("href", "https://evil.example/")
    person.assert_clean()


def test_an_empty_chat_list_offers_to_add_a_contact(people, user_factory):
    from conftest import PASSWORD

    user_factory("new_here", nickname="New")
    person = people()
    person.login("new_here", PASSWORD)
    button = person.page.locator(".list-pane .empty").get_by_role("link", name="Add a contact")
    expect(button).to_be_visible()
    button.click()
    expect(person.page.get_by_label("Username or phone number")).to_be_visible()
    person.assert_clean()


def test_days_have_their_line_and_one_senders_messages_run_together(people, user_factory):
    from datetime import timedelta

    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation, Message

    ann = user_factory("ann_runs", nickname="Ann")
    ben = user_factory("ben_runs", nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    direct = str(Conversation.objects.get(pk=contact.conversation_id).uuid)
    now = day_safe_now()  # and the browser's clock stands still there
    yesterday = now.replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    plan = [
        (ben, "yesterday one", yesterday),
        (ben, "yesterday two", yesterday + timedelta(seconds=40)),
        (ben, "today one", now - timedelta(seconds=50)),
        (ben, "today two", now - timedelta(seconds=30)),
        (ann, "my answer", now - timedelta(seconds=10)),
    ]
    for sender, text, at in plan:
        Message.objects.filter(uuid=send_as(sender, direct, text)).update(created_at=at)

    person = people(timezone_id="UTC")
    person.page.clock.set_fixed_time(now)
    person.login("ann_runs", PASSWORD)
    person.open_chat("Ben")
    page = person.page
    lines = page.locator(".messages .date-line")
    expect(lines).to_have_text(["Yesterday", "Today"])
    # Each line stands right before its day's first message.
    order = page.locator(".messages > li").evaluate_all(
        "items => items.map(n => n.classList.contains('date-line') ? '|' + n.textContent : n.querySelector('.text')?.textContent || '')"
    )
    assert [o for o in order if o] == [
        "|Yesterday",
        "yesterday one",
        "yesterday two",
        "|Today",
        "today one",
        "today two",
        "my answer",
    ], order
    run = {text: person.item(text) for _, text, _ in plan}
    expect(run["yesterday one"]).not_to_have_class(re.compile(r"\brun-next\b"))
    expect(run["yesterday two"]).to_have_class(re.compile(r"\brun-next\b"))
    expect(run["yesterday two"].locator(".avatar")).to_be_hidden()
    expect(run["today one"]).not_to_have_class(re.compile(r"\brun-next\b"))  # a new day starts a run
    expect(run["today two"]).to_have_class(re.compile(r"\brun-next\b"))
    expect(run["my answer"]).not_to_have_class(re.compile(r"\brun-next\b"))
    # Inside a run the time waits for a hover.
    expect(run["today one"].locator(".msg-meta")).to_be_hidden()
    run["today one"].locator(".bubble").hover()
    expect(run["today one"].locator(".msg-meta")).to_be_visible()
    expect(run["today two"].locator(".msg-meta")).to_be_visible()
    person.shot("chat-runs-desktop")
    person.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_images_open_in_a_viewer_that_pages_zooms_and_closes_with_back(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect

    ann = user_factory("ann_pics", nickname="Ann")
    ben = user_factory("ben_pics", nickname="Ben")
    do_connect(user=ann, other=ben)
    person = people()
    person.login("ann_pics", PASSWORD)
    person.open_chat("Ben")
    page = person.page
    names = ["red.png", "green.png", "blue.png"]
    colours = [(200, 40, 40), (40, 160, 60), (40, 60, 200)]
    page.locator("#composer-file").set_input_files(
        [{"name": n, "mimeType": "image/png", "buffer": png(c)} for n, c in zip(names, colours, strict=True)]
    )
    expect(page.locator(".messages .msg:not([data-pending]) img.thumb")).to_have_count(3)
    chat_url = page.url
    # The uploads go in parallel: the chat's order is the one they were stored in.
    order = page.locator(".messages .msg:not([data-pending]) img.thumb").evaluate_all("imgs => imgs.map(i => i.alt)")
    assert sorted(order) == sorted(names)
    page.get_by_role("link", name=f"Open image {order[1]}").click()
    viewer = page.get_by_role("dialog", name="Image")
    caption = viewer.locator(".viewer-caption")
    expect(caption).to_have_text(f"{order[1]} · 2 of 3")
    page.keyboard.press("ArrowRight")
    expect(caption).to_have_text(f"{order[2]} · 3 of 3")
    expect(viewer.get_by_role("button", name="Next image")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(caption).to_have_text(f"{order[0]} · 1 of 3")
    viewer.locator(".viewer-image").click()
    expect(viewer).to_have_class(re.compile(r"\bzoomed\b"))
    expect(viewer.get_by_role("button", name="Zoom")).to_have_attribute("aria-pressed", "true")
    person.shot("image-viewer-desktop")
    # The browser's Back closes the viewer and stays in the chat.
    page.go_back()
    expect(viewer).to_have_count(0)
    assert page.url == chat_url
    expect(person.message("Did you get them?")).to_have_count(0)
    person.send("Did you get them?")
    expect(person.message("Did you get them?")).to_have_count(1)
    person.assert_clean()


# --------------------------------------------------------------------------- the search pane


def send_file_as(sender, conversation: str, name: str, data: bytes, caption: str = "") -> str:
    """`sender` sends a file (with a caption) from the server's side."""
    import uuid

    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.models import Message
    from files.services import do_upload_file
    from messaging.actions.send import check_send_message, do_send_message

    stored = do_upload_file(owner=sender, upload=SimpleUploadedFile(name, data))
    cmid = str(uuid.uuid4())
    do_send_message(
        draft=check_send_message(
            sender=sender,
            client_msg_id=cmid,
            kind="file",
            file=str(stored.uuid),
            content=caption or None,
            conversation=conversation,
        )
    )
    found = None
    for _ in range(300):
        if found := Message.objects.filter(sender=sender, client_msg_id=cmid).first():
            break
        __import__("time").sleep(0.05)
    assert found, f"{name!r} was never stored"
    return str(found.uuid)


# Every <mark> of a snippet lies inside the snippet's box (two lines, the rest clipped).
SHOWN = """el => [...el.querySelectorAll('mark')].every(m => {
    const r = m.getBoundingClientRect(), b = el.getBoundingClientRect();
    return r.top >= b.top - 1 && r.bottom <= b.bottom + 1 && r.left >= b.left - 1 && r.right <= b.right + 1;
})"""


def hits(page):
    return page.get_by_role("region", name="Messages found").locator(".search-hits .conv-item")


def search_for(page, words: str) -> None:
    box = page.get_by_role("searchbox", name="Search chats and messages")
    box.fill(words)
    expect(page.get_by_role("region", name="Messages found")).to_have_attribute("aria-busy", "false")


def test_a_hit_shows_a_snippet_with_the_words_marked_even_for_two_chinese_characters(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_snip", nickname="Ann")
    ben = user_factory("ben_snip", nickname="Ben")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)
    send_as(ben, direct, "我们说中文吧")
    send_as(ann, direct, "好的，没问题")
    send_as(ben, direct, "🎉 Party at the old bridge, bring <b>snacks</b>")
    long_text = "So many words before the thing we look for. " * 4 + "The harbour lighthouse is the place."
    send_as(ben, direct, long_text)
    send_as(ann, direct, "later message")

    index_for_search(direct)
    for viewport in ("desktop", "phone"):
        person = people(**({"viewport": {"width": 390, "height": 844}, "phone": True} if viewport == "phone" else {}))
        person.login("ann_snip", PASSWORD)
        page = person.page
        # Two Chinese characters: no minimum length stands in the way.
        search_for(page, "中文")
        expect(hits(page)).to_have_count(1)
        snippet = hits(page).first.locator(".hit-snippet")
        expect(snippet).to_have_text("Ben: 我们说中文吧")
        expect(snippet.locator("mark")).to_have_text(["中文"])
        expect(hits(page).first.locator(".conv-name")).to_have_text("Ben")
        expect(hits(page).first.locator("time")).not_to_be_empty()
        person.shot(f"search-chinese-{viewport}")
        # One character is a query too.
        search_for(page, "说")
        expect(hits(page)).to_have_count(1)
        expect(hits(page).first.locator("mark")).to_have_text(["说"])
        # Markup in a message is text in its snippet; the emoji before the
        # word does not move the mark.
        search_for(page, "bridge")
        expect(hits(page)).to_have_count(1)
        expect(hits(page).first.locator(".hit-snippet")).to_contain_text("<b>snacks</b>")
        expect(hits(page).first.locator(".hit-snippet b")).to_have_count(0)
        expect(hits(page).first.locator("mark")).to_have_text(["bridge"])
        # Far into a long message: the snippet shows the words found.
        search_for(page, "lighthouse")
        expect(hits(page).first.locator("mark")).to_have_text(["lighthouse"])
        # ...inside the two lines a hit shows, not cut off after them.
        assert hits(page).first.locator(".hit-snippet").evaluate(SHOWN), "the words found are cut off"
        expect(hits(page).first.locator(".hit-snippet")).to_contain_text("…")
        person.shot(f"search-long-{viewport}")
        toggle = page.get_by_role("button", name="Filters", exact=True)
        toggle.click()
        expect(page.get_by_role("group", name="Search filters")).to_be_visible()
        person.shot(f"search-filters-open-{viewport}")
        assert not person.axe(), person.axe()
        # Esc in the panel closes it and gives the focus back to its button.
        page.get_by_label("Sent by").focus()
        page.keyboard.press("Escape")
        expect(page.get_by_role("group", name="Search filters")).to_be_hidden()
        expect(toggle).to_be_focused()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        # Nothing found says so.
        search_for(page, "zebra crossing")
        expect(hits(page)).to_have_count(0)
        expect(page.get_by_role("region", name="Messages found").get_by_role("status")).to_have_text(
            "No messages found."
        )
        # The hit opens the chat at the message with the words marked.
        search_for(page, "中文")
        hits(page).first.click()
        found = person.item("我们说中文吧")
        expect(found).to_be_in_viewport()
        expect(found.locator("mark.found")).to_have_text("中文")
        person.shot(f"search-chinese-opened-{viewport}")
        person.assert_clean()
        assert not person.axe(), person.axe()


def test_filters_narrow_the_results_by_person_file_chat_and_date(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation
    from groups.models import Group
    from groups.services import do_create_group

    ann = user_factory("ann_filt", nickname="Ann")
    ben = user_factory("ben_filt", nickname="Ben")
    cat = user_factory("cat_filt", nickname="Cat")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)
    do_connect(user=ann, other=cat)
    group = do_create_group(owner=ann, name="Lunch crew", members=[str(ben.uuid), str(cat.uuid)])
    group_conv = str(Group.objects.get(pk=group.pk).conversation.uuid)
    send_as(ben, group_conv, "lunch plans for friday?")
    send_as(cat, group_conv, "lunch at noon works")
    send_as(ben, direct, "lunch tomorrow, just us")
    send_file_as(ben, direct, "menu.txt", b"soup and bread", caption="the lunch menu")
    send_as(ann, direct, "lunch sounds good")
    index_for_search(direct, group_conv)

    person = people()
    person.login("ann_filt", PASSWORD)
    page = person.page
    search_for(page, "lunch")
    expect(hits(page)).to_have_count(5)
    page.get_by_role("button", name="Filters", exact=True).click()
    filters = page.get_by_role("group", name="Search filters")
    expect(filters).to_be_visible()
    # From a person: only Ben's three.
    filters.get_by_label("Sent by").select_option(label="Ben")
    expect(page.get_by_role("button", name="Filters (1)", exact=True)).to_be_visible()
    expect(hits(page)).to_have_count(3)
    expect(hits(page).locator(".hit-snippet")).to_have_text(
        # The file's hit may show its name before the caption.
        [
            re.compile(r"^Ben: \[File\] .*the lunch menu$"),
            "Ben: lunch tomorrow, just us",
            "Ben: lunch plans for friday?",
        ]
    )
    # Has a file: only the menu.
    filters.get_by_label("Contains").select_option("file")
    expect(hits(page)).to_have_count(1)
    expect(hits(page).first.locator(".hit-snippet mark")).to_have_text(["lunch"])
    person.shot("search-filters-desktop")
    # A date range after today finds nothing, and says so.
    filters.get_by_role("button", name="Clear filters").click()
    expect(hits(page)).to_have_count(5)
    filters.get_by_label("Since").fill("2099-01-01")
    expect(page.get_by_role("region", name="Messages found").get_by_role("status")).to_have_text(
        "No messages found. Try fewer filters."
    )
    # A range that ends before it starts is explained, not sent.
    filters.get_by_label("Since").fill("2026-12-10")
    filters.get_by_label("Until").fill("2026-12-01")
    expect(page.get_by_role("region", name="Messages found").get_by_role("alert")).to_have_text(
        "The first day is after the last: change Since or Until."
    )
    filters.get_by_label("Until").fill("")
    filters.get_by_label("Since").fill("")
    expect(hits(page)).to_have_count(5)
    expect(filters.get_by_role("button", name="Clear filters")).to_have_count(0)
    # This chat only: from the group's header; the chats matched by name go.
    person.open_chat("Lunch crew")
    page.get_by_role("button", name="Search in this chat").first.click()
    expect(page.get_by_role("searchbox", name="Search chats and messages")).to_be_focused()
    expect(page.get_by_label("Only in Lunch crew")).to_be_checked()
    expect(hits(page)).to_have_count(2)
    expect(hits(page).locator(".conv-name")).to_have_text(["Lunch crew", "Lunch crew"])
    # The group's members are offered as senders.
    page.get_by_label("Sent by").select_option(label="Cat")
    expect(hits(page)).to_have_count(1)
    expect(hits(page).first.locator(".hit-snippet")).to_have_text("Cat: lunch at noon works")
    person.shot("search-in-chat-desktop")
    person.assert_clean()
    assert not person.axe(), person.axe()


def test_more_results_load_page_by_page(people, user_factory):
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_more", nickname="Ann")
    ben = user_factory("ben_more", nickname="Ben")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)
    total = 55
    for i in range(1, total + 1):
        send_as(ben, direct, f"receipt number {i}")
    index_for_search(direct)

    person = people()
    person.login("ann_more", PASSWORD)
    page = person.page
    search_for(page, "receipt")
    first_page = hits(page).count()
    assert 0 < first_page < total
    expect(hits(page).first.locator(".hit-snippet")).to_have_text(f"Ben: receipt number {total}")
    more = page.get_by_role("button", name="More results")
    # By keyboard: Enter on "More results", and the focus goes on to the
    # first hit of the next page (the button itself is replaced).
    more.focus()
    # Focusing it scrolls it into view; that alone loads nothing (a page
    # loading by itself would move the focus on to its first hit, and the
    # Enter that follows would open that hit).
    page.evaluate(
        "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 500))))"
    )
    expect(more).to_be_focused()
    assert hits(page).count() == first_page
    expect(page.get_by_role("region", name="Messages found")).to_have_attribute("aria-busy", "false")
    page.keyboard.press("Enter")
    expect(hits(page).nth(first_page)).to_be_focused()
    while hits(page).count() < total:
        before = hits(page).count()
        if more.count():
            more.scroll_into_view_if_needed()
        expect(hits(page)).not_to_have_count(before)
        expect(page.get_by_role("region", name="Messages found")).to_have_attribute("aria-busy", "false")
    texts = hits(page).locator(".hit-snippet").all_text_contents()
    # Newest first, each once.
    assert texts == [f"Ben: receipt number {i}" for i in range(total, 0, -1)], texts
    expect(more).to_have_count(0)
    expect(page.get_by_role("region", name="Messages found").get_by_role("status")).to_have_text("No more results.")
    # The pages that loaded while a hit had the focus (each draw replaces the
    # list) left the focus on that hit.
    expect(hits(page).nth(first_page)).to_be_focused()
    # Opening a hit and coming back keeps every page.
    hits(page).nth(total - 1).click()
    expect(person.item("receipt number 1")).to_be_in_viewport()
    person.nav("chats")
    expect(hits(page)).to_have_count(total)
    person.assert_clean()


def test_ranges_count_code_points_and_a_refused_search_is_explained(people, user_factory):
    """The server's `match` is drawn as sent: ranges in code points (an emoji
    and a CJK character outside the BMP count one each), the snippet as text.
    A 400 names what to fix."""
    import json

    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_range", nickname="Ann")
    ben = user_factory("ben_range", nickname="Ben")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)
    older = send_as(ben, direct, "😀 older: Pizza and 中文")
    message = send_as(ben, direct, "🎉𠀀 we said 中文 then <i>pizza</i>")

    person = people()
    person.login("ann_range", PASSWORD)
    page = person.page
    snippet = "…🎉𠀀 we said 中文 then <i>pizza</i>"
    # Python indexes a str by code points, as the server counts.
    start = snippet.index("中文")
    pizza = snippet.index("pizza")
    body = {
        "results": [
            {
                "id": message,
                "conversation": direct,
                "seq": 2,
                "kind": "text",
                "content": "🎉𠀀 we said 中文 then <i>pizza</i>",
                "sender": {"id": str(ben.uuid), "username": "ben_range", "nickname": "Ben", "avatar": None},
                "created_at": "2026-12-01T10:00:00Z",
                "match": {"snippet": snippet, "ranges": [[pizza, pizza + 5], [start, start + 2]]},
            },
            # A server without `match`: the text, with the words marked here.
            {
                "id": older,
                "conversation": direct,
                "seq": 1,
                "kind": "text",
                "content": "😀 older: Pizza and 中文",
                "sender": {"id": str(ben.uuid), "username": "ben_range", "nickname": "Ben", "avatar": None},
                "created_at": "2026-11-30T10:00:00Z",
            },
        ],
        "next": None,
    }
    asked = []

    def answer(route):
        asked.append(route.request.url)
        if "after=" in route.request.url:
            route.fulfill(
                status=400,
                content_type="application/json",
                body=json.dumps(
                    {"error": {"code": "invalid", "message": "Bad.", "fields": {"after": ["Not a date."]}}}
                ),
            )
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/messages/search?*", answer)
    search_for(page, "pizza 中文")
    expect(hits(page)).to_have_count(2)
    snip = hits(page).first.locator(".hit-snippet")
    expect(snip).to_have_text(f"Ben: {snippet}")
    expect(snip.locator("mark")).to_have_text(["中文", "pizza"])
    expect(snip.locator("i")).to_have_count(0)
    assert snip.evaluate(SHOWN), "the words found are cut off"
    expect(hits(page).nth(1).locator(".hit-snippet mark")).to_have_text(["Pizza", "中文"])
    # A refusal says what to fix, and offers to try again.
    page.get_by_role("button", name="Filters", exact=True).click()
    page.get_by_label("Since").fill("2026-11-01")
    alert = page.get_by_role("region", name="Messages found").get_by_role("alert")
    expect(alert).to_have_text("This search can't be done: check the dates.")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    assert any("after=2026-1" in url for url in asked), asked
    person.shot("search-error-desktop")
    page.unroute("**/api/v1/messages/search?*")
    # The browser logs the refusal it was given on purpose; nothing else.
    person.problems = [p for p in person.problems if "status of 400 (Bad Request)" not in p]
    person.assert_clean()


@pytest.mark.one_config  # what the page renders, the same over either configuration's services
def test_the_search_pane_speaks_chinese_on_a_phone(people, user_factory):
    from accounts.models import User
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_zh", nickname="安")
    User.objects.filter(pk=ann.pk).update(language="zh-hans")
    ben = user_factory("ben_zh", nickname="本")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)
    send_as(ben, direct, "我们说中文吧")
    index_for_search(direct)

    person = people(viewport={"width": 390, "height": 844}, phone=True)
    person.login("ann_zh", PASSWORD)
    page = person.page
    page.get_by_role("searchbox", name="搜索聊天和消息").fill("中文")
    found = page.get_by_role("region", name="找到的消息").locator(".search-hits .conv-item")
    expect(found).to_have_count(1)
    expect(found.first.locator(".hit-snippet")).to_have_text("本: 我们说中文吧")
    expect(found.first.locator("mark")).to_have_text(["中文"])
    page.get_by_role("button", name="筛选", exact=True).click()
    panel = page.get_by_role("group", name="搜索筛选")
    for label in ("发送者", "包含", "起始日期", "截止日期"):
        expect(panel.get_by_label(label)).to_be_visible()
    panel.get_by_label("包含").select_option("image")
    expect(page.get_by_role("button", name="筛选（1）")).to_be_visible()
    expect(page.get_by_role("region", name="找到的消息").get_by_role("status")).to_have_text(
        "没有找到消息。试试减少筛选条件。"
    )
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    person.shot("search-filters-zh-phone")
    # The chat's own "Search in this chat" is in the header's menu on a phone.
    panel.get_by_role("button", name="清除筛选").click()
    found.first.click()
    page.get_by_role("button", name="更多").click()
    page.get_by_role("button", name="在此聊天中搜索").click()
    expect(page.get_by_role("searchbox", name="搜索聊天和消息")).to_be_focused()
    expect(page.get_by_label("仅在「本」中")).to_be_checked()
    expect(found).to_have_count(1)
    person.shot("search-in-chat-zh-phone")
    person.assert_clean()
    assert not person.axe(), person.axe()


def test_an_answer_that_comes_after_the_panes_were_redrawn_still_shows(people, user_factory):
    """While a search is on its way the pane says so; going elsewhere and
    back meanwhile draws the panes again, and the answer lands in the new one."""
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory("ann_late", nickname="Ann")
    ben = user_factory("ben_late", nickname="Ben")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)
    send_as(ben, direct, "the parcel is at the door")
    index_for_search(direct)

    person = people()
    person.login("ann_late", PASSWORD)
    page = person.page
    held = []
    page.route("**/api/v1/messages/search?*", lambda route: held.append(route))
    page.get_by_role("searchbox", name="Search chats and messages").fill("parcel")
    results = page.get_by_role("region", name="Messages found")
    expect(results.get_by_role("status")).to_have_text("Searching…")
    expect(results).to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    person.nav("contacts")
    expect(results).to_have_count(0)
    person.nav("chats")
    expect(results.get_by_role("status")).to_have_text("Searching…")
    held[0].continue_()
    expect(hits(page)).to_have_count(1)
    expect(hits(page).first.locator("mark")).to_have_text(["parcel"])
    assert len(held) == 1  # drawn again from what was on its way, not asked twice
    page.unroute("**/api/v1/messages/search?*")
    person.assert_clean()


@pytest.mark.one_config  # the message the test sends at the end reaches the page with real services only
def test_a_hit_in_a_hidden_chat_or_a_group_left_opens_it_without_listing_it(people, user_factory):
    """Search finds what Ann may still read: in her chat with Ben, which she
    hid, and in a group she left. A hit opens the chat at the message (the
    group read-only, up to her leaving); neither comes back into her list,
    until a new message un-hides Ben's."""
    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation
    from conversations.services import do_hide_conversation
    from groups.services import do_create_group, do_leave_group

    ann_user = user_factory("ann_unl", nickname="Ann")
    ben = user_factory("ben_unl", nickname="Ben")
    direct = str(Conversation.objects.get(pk=do_connect(user=ann_user, other=ben).conversation_id).uuid)
    group = do_create_group(owner=ben, name="Walrus club", members=[str(ann_user.uuid)])
    club = str(group.conversation.uuid)
    send_as(ben, direct, "the purple giraffe is here")
    send_as(ben, club, "the orange walrus sings")
    index_for_search(direct, club)
    do_hide_conversation(user=ann_user, conversation_id=direct)
    do_leave_group(user=ann_user, group_id=str(group.uuid))

    ann = people()
    ann.login("ann_unl", PASSWORD)
    page = ann.page
    listed = page.locator("a.conv-item")
    expect(listed).to_have_count(0)
    found = page.get_by_role("region", name="Messages found")

    page.locator("#chat-search").fill("walrus")
    found.get_by_role("link").filter(has_text="walrus sings").click()
    expect(ann.item("the orange walrus sings")).to_be_visible()
    expect(page.locator(".chat-header")).to_contain_text("Walrus club")
    expect(page.locator("main")).to_contain_text("You are no longer a member of this group.")

    page.locator("#chat-search").fill("giraffe")
    found.get_by_role("link").filter(has_text="giraffe").click()
    expect(ann.item("the purple giraffe is here")).to_be_visible()
    expect(page.locator(".chat-header")).to_contain_text("Ben")
    page.locator("#chat-search").fill("")
    expect(listed).to_have_count(0)  # still hidden
    ann.shot("search-hit-hidden-chat")

    send_as(ben, direct, "are you there?")  # a new message un-hides it
    expect(ann.message("are you there?")).to_be_visible()
    expect(listed).to_have_count(1)
    expect(listed.first).to_have_attribute("href", f"/chats/{direct}")
    ann.assert_clean()
