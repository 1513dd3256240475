"""The Me card on a desktop (beside the profile form) follows a save at once:
the new nickname and the signature, which it shows (it showed neither
until a reload)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_the_me_card_shows_a_new_nickname_and_the_signature_without_a_reload(people, user_factory):
    from conftest import PASSWORD

    user_factory("sam_card", nickname="Sam", signature="")
    sam = people()
    sam.login("sam_card", PASSWORD)
    page = sam.page
    sam.nav("profile")
    card = page.locator(".list-pane .card.center")
    expect(card.locator("h2")).to_have_text("Sam")
    expect(card.locator(".signature")).to_be_hidden()
    page.get_by_role("link", name="Profile, password and devices").click()
    page.get_by_label("Nickname").fill("Samantha")
    page.get_by_label("Signature").fill("Out walking <the dog>")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".toast", has_text="Saved.").first).to_be_visible()
    # Both panes are on screen: the card changed with no reload or navigation.
    expect(card.locator("h2")).to_have_text("Samantha")
    expect(card.locator(".signature")).to_have_text("Out walking <the dog>")
    expect(card.locator(".signature")).to_be_visible()
    sam.shot("profile-card-desktop")
    sam.assert_clean()
