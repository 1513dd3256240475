"""A search hit leads to the message: the chat opens at it (loading the
history back to it), marks it and the words found; the hit's row shows the
chat's face. And a group has one face everywhere (Chats and Groups)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from web.tests.browser import png, send_as

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
    chats_colour = in_chats.evaluate("n => getComputedStyle(n).backgroundColor")
    person.nav("groups")
    in_groups = (
        page.get_by_role("list", name="My groups").locator(".conv-item", has_text="Garden club").locator(".avatar")
    )
    expect(in_groups).to_have_attribute("data-hue", chats_hue)
    assert in_groups.evaluate("n => getComputedStyle(n).backgroundColor") == chats_colour
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

    from django.utils import timezone

    from conftest import PASSWORD
    from contacts.services import do_connect
    from conversations.models import Conversation, Message

    ann = user_factory("ann_runs", nickname="Ann")
    ben = user_factory("ben_runs", nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    direct = str(Conversation.objects.get(pk=contact.conversation_id).uuid)
    now = timezone.now()
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

    person = people()
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
