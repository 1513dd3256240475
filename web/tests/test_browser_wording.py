"""The app's sentences read right in English and Chinese: counts take their
plural form ("1 member", not "1 members"), a name after the first word of a
sentence is "you" (not "added You"), and a Chinese line has no stray space
between "你" and the words after it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from web.tests.browser import PHONE, send_as

# What these pages render and send goes through REST alone, the same over
# either configuration's services (one_config: the real-services run only).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]


def words_world(user_factory):
    """Ann owns a group of one and a group of two (she added Ben); Ben wrote
    a message there and recalled it."""
    from conftest import PASSWORD
    from contacts.services import do_connect
    from groups.services import do_add_members, do_create_group
    from messaging.actions.recall import do_recall_message

    ann = user_factory("ann_words", nickname="Ann")
    ben = user_factory("ben_words", nickname="Ben")
    do_connect(user=ann, other=ben)
    do_create_group(owner=ann, name="Just me")
    pair = do_create_group(owner=ann, name="Us two")
    do_add_members(user=ann, group_id=str(pair.uuid), users=[str(ben.uuid)])
    oops = send_as(ben, str(pair.conversation.uuid), "oops, wrong chat")
    do_recall_message(user=ben, message_id=oops)
    return PASSWORD


def test_counts_take_their_plural_form_and_you_is_lower_case_mid_sentence(people, user_factory):
    password = words_world(user_factory)
    ann = people()
    ann.login("ann_words", password)
    ann.nav("groups")
    groups = ann.page.get_by_role("list", name="My groups")
    expect(groups.get_by_role("link", name="Just me")).to_have_text(re.compile(r"1 member$"))
    expect(groups.get_by_role("link", name="Us two")).to_have_text(re.compile(r"2 members$"))
    ann.open_chat("Us two")
    expect(ann.page.locator(".chat-header")).to_contain_text("2 members")

    ben = people()
    ben.login("ben_words", password)
    ben.open_chat("Us two")
    system = ben.page.locator(".msg-system")
    # (has_text with a string ignores case; a pattern does not.)
    expect(system.filter(has_text=re.compile(r"^Ann added you$"))).to_have_count(1)
    expect(system.filter(has_text=re.compile("You recalled a message"))).to_have_count(1)
    ben.shot("wording-group-en")
    ann.assert_clean()
    ben.assert_clean()


def test_chinese_lines_have_no_stray_space(people, user_factory):
    from accounts.models import User

    password = words_world(user_factory)
    # Ben chose Chinese on another device: the account's language wins here too.
    User.objects.filter(username="ben_words").update(language="zh-hans")
    ben = people(viewport=PHONE, phone=True)
    ben.login("ben_words", password)
    expect(ben.page.locator("html")).to_have_attribute("lang", "zh-Hans")
    ben.open_chat("Us two")
    system = ben.page.locator(".msg-system")
    expect(system.filter(has_text="你撤回了一条消息")).to_have_count(1)
    expect(system.filter(has_text="Ann邀请你加入了群聊")).to_have_count(1)
    expect(system.filter(has_text=re.compile("你 "))).to_have_count(0)
    expect(ben.page.locator(".chat-header")).to_contain_text("2 名成员")
    ben.shot("wording-group-zh-phone")
    ben.assert_clean()
