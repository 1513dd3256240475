"""The pinned bar of an open group chat follows recalls live: a recall
unpins (no unpin event comes), also of a message older than the history
the chat has loaded."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from web.tests.browser import send_as

# Messages the test sends reach the served product's sockets only with real services
# (embedded, the served process has an in-memory layer of its own).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


def test_a_recalled_pin_leaves_the_bar_even_when_not_loaded(people, user_factory):
    from contacts.services import do_connect
    from groups.services import do_create_group
    from messaging.actions.pins import do_pin_message
    from messaging.actions.recall import do_recall_message

    ann = user_factory("ann_pl", nickname="Ann")
    ben = user_factory("ben_pl", nickname="Ben")
    do_connect(user=ann, other=ben)
    group = do_create_group(owner=ann, name="Pin club", members=[str(ben.uuid)])
    conv = str(group.conversation.uuid)
    first = send_as(ben, conv, "pin me please")
    second = send_as(ann, conv, "the agenda for Monday")
    do_pin_message(user=ann, conversation_id=conv, message_id=first)
    do_pin_message(user=ann, conversation_id=conv, message_id=second)
    for i in range(40):  # more than the chat loads at first
        send_as(ann if i % 2 else ben, conv, f"filler {i}")

    tab = people()
    tab.login("ben_pl", "correct-horse-42")
    tab.open_chat("Pin club")
    page = tab.page
    bar = page.locator(".pin-bar")
    expect(bar).to_contain_text("Pinned message 1 of 2")
    expect(bar).to_contain_text("Ann: the agenda for Monday")
    expect(tab.message("filler 39")).to_be_visible()
    assert tab.message("the agenda for Monday").count() == 0  # not loaded

    # The owner recalls the newest pin: the bar shows the other one.
    do_recall_message(user=ann, message_id=second)
    expect(bar).to_contain_text("You: pin me please")
    expect(bar.locator(".pin-bar-label")).to_have_text("Pinned message")
    expect(bar).not_to_contain_text("agenda")
    tab.shot("pin-bar-after-recall")

    # And the last one: no bar.
    do_recall_message(user=ann, message_id=first)
    expect(bar).to_be_hidden()
    tab.assert_clean()
