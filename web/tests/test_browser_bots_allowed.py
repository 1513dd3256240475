"""Who may add a private bot, on its page in My bots: the owner allows a
contact (picked from their contacts), who can then add the bot; taking
someone off the list; refusals said under the section; the section gone
while the bot is public. And the card of someone else's private bot that one
was allowed to add: its details are asked for once (a 404: no details), not
at every redraw of the card."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conftest import PASSWORD
from web.tests.browser import PHONE
from web.tests.test_browser import LAYOUT_PROBLEMS
from web.tests.test_browser_bots import expect_refused

# What these pages render and send goes through REST alone, the same over
# either configuration's services (one_config: the real-services run only).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]


def allowed_section(page):
    return page.locator(".bot-section", has=page.get_by_role("heading", name="Who may add this bot"))


def test_the_owner_allows_a_contact_who_can_then_add_the_private_bot(people, user_factory):
    from bots.services import do_create_bot
    from contacts.services import do_connect

    ann_user = user_factory("ann_allow", nickname="Ann")
    carol_user = user_factory("carol_allow", nickname="Carol")
    ben_user = user_factory("ben_allow", nickname="Ben")
    do_connect(user=ann_user, other=carol_user)
    do_connect(user=ann_user, other=ben_user)
    bot = do_create_bot(owner=ann_user, username="secret_allow", nickname="Secret", description="Only for friends.")
    bot_id = str(bot.user.uuid)

    # Carol may not add it yet.
    carol = people()
    carol.login("carol_allow", PASSWORD)
    carol.nav("contacts")
    carol.page.get_by_role("link", name="Add a contact").first.click()
    search = carol.page.get_by_label("Username or phone number")
    search.fill("secret_allow")
    carol.page.get_by_role("button", name="Search").click()
    result = carol.page.locator(".user-result")
    result.get_by_role("button", name="Add bot").click()
    expect(result).to_contain_text("This bot is private")

    # Ann allows her: picked from her contacts, listed with Remove.
    ann = people()
    ann.login("ann_allow", PASSWORD)
    page = ann.page
    page.goto(f"{ann.base}/profile/bots/{bot_id}")
    ann.wait_online()
    section = allowed_section(page)
    expect(section.get_by_text("Nobody else yet: only you can add it.")).to_be_visible()
    pick = section.get_by_label("Add one of your contacts")
    expect(pick.locator("option")).to_have_text(["Choose a contact", "Ben", "Carol"])
    # Nothing chosen: said under the list, nothing sent.
    section.get_by_role("button", name="Allow").click()
    expect(section.locator(".field-errors")).to_have_text("Choose a contact.")
    expect(pick).to_have_attribute("aria-invalid", "true")
    pick.select_option(label="Carol")
    section.get_by_role("button", name="Allow").click()
    row = section.locator("li[data-allowed]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Carol")
    expect(row).to_contain_text("@carol_allow")
    expect(page.locator(".toast", has_text="Carol may add this bot now.").first).to_be_visible()
    expect(section.locator(".field-errors")).to_have_count(0)
    expect(pick.locator("option")).to_have_text(["Choose a contact", "Ben"])
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    section.scroll_into_view_if_needed()
    ann.shot("bots-allowed-desktop")
    assert ann.axe() == []
    from bots.models import Bot

    assert list(Bot.objects.get(pk=bot.pk).allowed.values_list("username", flat=True)) == ["carol_allow"]

    # A refusal of the server is said under the section, and the list stays.
    page.route(
        f"**/api/v1/bots/{bot_id}/allowed",
        lambda route: route.fulfill(
            status=400,
            json={
                "error": {
                    "code": "invalid",
                    "message": "Invalid.",
                    "fields": {"users": ["A list of at most 50 user ids."]},
                }
            },
        ),
        times=1,
    )
    pick.select_option(label="Ben")
    section.get_by_role("button", name="Allow").click()
    expect(section.locator(".field-errors")).to_have_text("A list of at most 50 user ids.")
    expect(row).to_have_count(1)
    expect_refused(ann, 400, 1)

    # Carol adds it now, without a request.
    result.get_by_role("button", name="Add bot").click()
    expect(result).to_contain_text("Secret is now in your contacts.")
    # Its card: Carol may read the bot's card (she was allowed to add it),
    # read once each time the card opens, however often it is drawn meanwhile.
    asked = []
    carol.page.on("request", lambda r: asked.append(r.url) if re.search(rf"/api/v1/bots/{bot_id}$", r.url) else None)
    contact = carol.page.locator("[data-contact]", has_text="Secret")
    contact.click()
    card = carol.page.locator("main .profile-card")
    expect(card.locator(".bot-badge")).to_be_visible()
    expect(card).to_contain_text("Only for friends.")
    expect(card.get_by_role("link", name="Manage this bot")).to_have_count(0)
    carol.page.locator("[data-contact]", has_text="Ann").click()
    expect(card).to_contain_text("Ann")
    contact.click()
    expect(card).to_contain_text("Secret")
    carol.page.wait_for_timeout(500)
    assert 1 <= len(asked) <= 2, asked
    carol.page.get_by_role("button", name="Send message").click()
    expect(carol.page.locator(".chat-header h1")).to_have_text("Secret")
    # Only the add refused at first: the card's details were hers to read.
    expect_refused(carol, 404, 1)
    carol.assert_clean()

    # Taking Carol off: the list is empty, and she can be picked again.
    section.get_by_role("button", name="Remove Carol").click()
    expect(section.get_by_text("Nobody else yet: only you can add it.")).to_be_visible()
    expect(pick.locator("option")).to_have_text(["Choose a contact", "Ben", "Carol"])
    assert not Bot.objects.get(pk=bot.pk).allowed.exists()
    # Public: anyone may add it, so the section goes.
    settings = page.locator("form", has=page.get_by_role("heading", name="Settings"))
    settings.get_by_label("Public").check()
    settings.get_by_role("button", name="Save").click()
    expect(section).to_be_hidden()
    ann.assert_clean()


@pytest.mark.parametrize("lang", ["en", "zh-hans"])
def test_on_a_phone_the_section_is_whole_and_accessible(people, user_factory, lang):
    from accounts.models import User
    from bots.services import do_create_bot, do_set_allowed
    from contacts.services import do_connect

    tag = lang[:2]
    owner = user_factory(f"ann_al{tag}", nickname="Ann")
    User.objects.filter(pk=owner.pk).update(language=lang)
    friends = [
        user_factory(f"zhang_al{tag}", nickname="张伟"),
        user_factory(f"maximilian_al{tag}", nickname="Maximilian Alexander von Habsburg-Lothringen"),
    ]
    for friend in friends:
        do_connect(user=owner, other=friend)
    user_factory(f"li_al{tag}", nickname="李娜")
    do_connect(user=owner, other=User.objects.get(username=f"li_al{tag}"))
    bot = do_create_bot(owner=owner, username=f"secret_al{tag}", nickname="Secret")
    do_set_allowed(user=owner, bot_id=str(bot.user.uuid), users=[str(f.uuid) for f in friends])

    ann = people(viewport=PHONE, phone=True, locale="zh-CN" if lang == "zh-hans" else "en-US")
    page = ann.page
    ann.login(f"ann_al{tag}", PASSWORD)
    page.goto(f"{ann.base}/profile/bots/{bot.user.uuid}")
    ann.wait_online()
    rows = page.locator("li[data-allowed]")
    expect(rows).to_have_count(2)
    heading = "谁可以添加此机器人" if lang == "zh-hans" else "Who may add this bot"
    section = page.locator(".bot-section", has=page.get_by_role("heading", name=heading))
    section.scroll_into_view_if_needed()
    page.wait_for_timeout(150)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    ann.shot(f"bots-allowed-phone-{lang}")
    assert ann.axe() == []
    ann.assert_clean()
