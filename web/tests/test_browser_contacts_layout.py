"""Contacts on a phone and a desktop: the A–Z index sits at the list pane's
right edge (it floated beside the last contact), and a friend request's
message uses the card's width (it was squeezed to ~150 px on a phone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from web.tests.browser import DESKTOP, PHONE, seed_world

# What these pages render and send goes through REST alone, the same over
# either configuration's services (one_config: the real-services run only).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def settled_box(page, locator) -> dict:
    """The element's box once it is drawn: the list is drawn again when
    presence or the contacts come (panes.js refill), and an element being
    replaced has no box for that moment."""
    for _ in range(50):
        box = locator.bounding_box()
        if box is not None:
            return box
        page.wait_for_timeout(100)
    raise AssertionError(f"{locator} never had a box")


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_letter_index_is_at_the_pane_edge_and_requests_use_the_width(people, user_factory, screen):
    password, *_ = seed_world(user_factory)
    person = people(viewport=PHONE, phone=True) if screen == "phone" else people(viewport=DESKTOP)
    person.login("ann_pages", password)
    page = person.page
    person.nav("contacts")
    index = page.locator(".az-index")
    expect(index).to_be_visible()
    pane = page.locator(".list-pane")
    box, edge = settled_box(page, index), settled_box(page, pane)
    # Flush with the pane's right edge (a few pixels of margin), whatever the list's length.
    assert abs((box["x"] + box["width"]) - (edge["x"] + edge["width"])) <= 12, (box, edge)
    person.shot(f"contacts-index-{screen}")

    page.get_by_role("link", name="New requests").click()
    message = page.locator(".request", has_text="Carol").locator(".request-message")
    expect(message).to_be_visible()
    card = page.locator(".request", has_text="Carol").bounding_box()
    width = message.bounding_box()["width"]
    assert width >= card["width"] * 0.6, f"the request's message is {width:.0f} px of a {card['width']:.0f} px card"
    person.shot(f"contacts-request-{screen}")
    person.assert_clean()
