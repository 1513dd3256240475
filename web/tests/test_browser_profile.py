"""Me and its settings: the Me card on a desktop (beside the profile form)
follows a save at once (the new nickname and the signature, which it
showed neither of until a reload); the settings forms say a refusal under
the field it is about; each session's Sign out names its device."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from web.tests.browser import PHONE

# What these pages render and send goes through REST alone, the same over
# either configuration's services (one_config: the real-services run only).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


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


# --------------------------------------------------------------------------- the settings forms

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def open_settings(person) -> None:
    person.nav("profile")
    person.page.get_by_role("link", name="Profile, password and devices").click()
    expect(person.page.get_by_role("heading", name="Settings")).to_be_visible()


def expect_field_error(page, label: str, text: str) -> None:
    """`text` under the field `label`, which is marked invalid and described by it."""
    box = page.get_by_label(label, exact=True)
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_have_accessible_description(re.compile(re.escape(text)))
    expect(box.locator("xpath=ancestor::div[contains(@class, 'field')][1]").locator(".field-errors")).to_have_text(text)


def test_the_signature_is_one_line_saved_by_enter_and_a_refusal_is_said_under_its_field(people, user_factory):
    from accounts.models import User
    from conftest import PASSWORD

    user_factory("sid_sig", nickname="Sid", signature="")
    sid = people(viewport=PHONE, phone=True)
    sid.login("sid_sig", PASSWORD)
    page = sid.page
    open_settings(sid)
    signature = page.get_by_label("Signature", exact=True)
    # One line, as the server keeps it, and no longer than it allows.
    expect(signature).to_have_js_property("tagName", "INPUT")
    expect(signature).to_have_attribute("maxlength", "200")
    # A character the server refuses (a tab): said under the signature, and
    # the nickname typed with it is still there to save again.
    page.get_by_label("Nickname", exact=True).fill("Sidney")
    signature.fill("tea\tbiscuits")
    page.get_by_role("button", name="Save", exact=True).click()
    expect_field_error(page, "Signature", "Must not contain control characters.")
    expect(page.locator(".toast-error")).to_have_count(0)
    sid.problems = [p for p in sid.problems if "status of 400" not in p]
    expect(page.get_by_label("Nickname", exact=True)).to_have_value("Sidney")
    assert sid.axe() == []
    sid.shot("profile-settings-signature-error-phone")
    # Enter saves both; the error goes.
    signature.fill("Tea and biscuits")
    signature.press("Enter")
    expect(page.locator(".toast", has_text="Saved.").first).to_be_visible()
    expect(signature).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-errors")).to_have_count(0)
    user = User.objects.get(username="sid_sig")
    assert (user.nickname, user.signature) == ("Sidney", "Tea and biscuits")
    sid.assert_clean()


def test_the_password_form_says_each_refusal_under_its_field_and_checks_the_repeat_first(people, user_factory):
    from accounts.models import User
    from conftest import PASSWORD

    user_factory("pia_pw", nickname="Pia")
    pia = people(viewport={"width": 1280, "height": 800})
    pia.login("pia_pw", PASSWORD)
    page = pia.page
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/me/password") else None)
    open_settings(pia)
    change = page.get_by_role("button", name="Change password")
    # The new password typed twice differently: said under the repeat, nothing sent.
    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-brand-new-password")
    page.get_by_label("Repeat the new password", exact=True).fill("a-brand-new-passwort")
    change.click()
    expect_field_error(page, "Repeat the new password", "The two passwords differ.")
    expect(page.get_by_label("Repeat the new password", exact=True)).to_be_focused()
    assert sent == []
    # A wrong current password: the server's sentence, under that field.
    page.get_by_label("Current password", exact=True).fill("not-my-password")
    page.get_by_label("Repeat the new password", exact=True).fill("a-brand-new-password")
    change.click()
    expect_field_error(page, "Current password", "The current password is wrong.")
    expect(page.get_by_label("Repeat the new password", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator(".toast-error")).to_have_count(0)
    # A new password the server refuses: under the new password.
    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("12345678")
    page.get_by_label("Repeat the new password", exact=True).fill("12345678")
    change.click()
    expect_field_error(page, "New password", "Must not be all digits.")
    expect(page.get_by_label("Current password", exact=True)).not_to_have_attribute("aria-invalid", "true")
    # (the browser logs the refused requests as failed loads: expected here)
    pia.problems = [p for p in pia.problems if "status of 401" not in p and "status of 400" not in p]
    assert pia.axe() == []
    pia.shot("profile-settings-password-error-desktop")
    assert len(sent) == 2
    assert User.objects.get(username="pia_pw").check_password(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a-brand-new-password")
    page.get_by_label("Repeat the new password", exact=True).fill("a-brand-new-password")
    change.click()
    expect(page.locator(".toast", has_text="Password changed").first).to_be_visible()
    expect(page.locator(".field-errors")).to_have_count(0)
    expect(page.get_by_label("Repeat the new password", exact=True)).to_have_value("")
    assert User.objects.get(username="pia_pw").check_password("a-brand-new-password")
    pia.assert_clean()


def test_each_session_is_signed_out_by_a_button_naming_its_device(people, user_factory):
    from accounts.actions.sessions import Client, start_session
    from accounts.models import LoginSession
    from conftest import PASSWORD

    kit = user_factory("kit_sessions", nickname="Kit")
    other = start_session(user=kit, client=Client(ip="203.0.113.9", device=FIREFOX_LINUX)).session
    kit_person = people(viewport={"width": 1280, "height": 800})
    kit_person.login("kit_sessions", PASSWORD)
    page = kit_person.page
    open_settings(kit_person)
    # On a desktop the Me list (with the main Sign out) is beside the settings.
    expect(page.get_by_role("button", name="Sign out", exact=True)).to_have_count(1)
    row_button = page.get_by_role("button", name="Sign out Firefox · Linux", exact=True)
    row_button.scroll_into_view_if_needed()
    expect(row_button).to_be_visible()
    assert kit_person.axe() == []
    kit_person.shot("profile-settings-sessions-desktop")
    row_button.click()
    expect(row_button).to_have_count(0)
    other.refresh_from_db()
    assert other.revoked_at is not None
    assert LoginSession.objects.filter(user=kit, revoked_at__isnull=True).count() == 1
    kit_person.assert_clean()
