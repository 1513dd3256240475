"""A group as its members see it, live, in a real browser: an open chat
follows a rename and a new picture; a role change reaches every member's
page (another admin is not offered what the new role forbids) and the
keyboard stays where it was; a dismissed group is not offered to join, and
its owner can drop it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def _crew(user_factory, tag: str):
    from contacts.services import do_connect
    from groups.services import do_create_group, do_set_member_role

    ann = user_factory(f"ann_{tag}", nickname="Ann")
    adam = user_factory(f"adam_{tag}", nickname="Adam")
    mia = user_factory(f"mia_{tag}", nickname="Mia")
    for other in (adam, mia):
        do_connect(user=ann, other=other)
    group = do_create_group(owner=ann, name="Old name", members=[str(adam.uuid), str(mia.uuid)])
    do_set_member_role(user=ann, group_id=str(group.uuid), member_id=str(adam.uuid), role="admin")
    return ann, adam, mia, group


def test_an_open_group_chat_follows_a_rename_and_a_new_picture(people, user_factory):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chatsite.testing import image_bytes
    from conftest import PASSWORD
    from files.services import do_upload_file
    from groups.services import do_update_group

    ann_user, adam_user, _, group = _crew(user_factory, "rename")
    adam = people()
    adam.login("adam_rename", PASSWORD)
    adam.page.goto(f"{adam.base}/chats/{group.conversation.uuid}")
    header = adam.page.locator(".chat-header")
    expect(header.locator("h1")).to_have_text("Old name")
    expect(header.locator(".avatar img")).to_have_count(0)
    adam.wait_online()
    do_update_group(user=ann_user, group_id=str(group.uuid), name="New name")
    expect(header.locator("h1")).to_have_text("New name")
    picture = do_upload_file(
        owner=ann_user, upload=SimpleUploadedFile("g.png", image_bytes(), content_type="image/png")
    )
    do_update_group(user=ann_user, group_id=str(group.uuid), avatar=str(picture.uuid))
    expect(header.locator(".avatar img")).to_have_count(1)
    adam.assert_clean()


def test_a_role_change_reaches_every_page_and_the_keyboard_stays_on_its_row(people, user_factory):
    from conftest import PASSWORD

    _, _, mia_user, group = _crew(user_factory, "roles")
    ann, adam = people(), people()
    ann.login("ann_roles", PASSWORD)
    adam.login("adam_roles", PASSWORD)
    for person in (ann, adam):
        person.page.goto(f"{person.base}/groups/{group.uuid}")
        person.wait_online()
    mia_on = {p: p.page.locator(f'li[data-member="{mia_user.uuid}"]') for p in (ann, adam)}
    expect(mia_on[adam].get_by_role("button", name="Remove")).to_be_visible()
    # Ann, by keyboard: Make admin.
    make_admin = mia_on[ann].get_by_role("button", name="Make admin")
    make_admin.focus()
    ann.page.keyboard.press("Enter")
    expect(mia_on[ann].get_by_role("button", name="Remove admin")).to_be_visible()
    # The page was drawn again; the keyboard is still on Mia's row, not at the top.
    focused_in_row = "(row) => row.contains(document.activeElement) && document.activeElement.tagName === 'BUTTON'"
    assert mia_on[ann].evaluate(focused_in_row), ann.page.evaluate("document.activeElement.outerHTML")
    # Adam, an admin, may not remove an admin: his page stops offering it.
    expect(mia_on[adam].get_by_role("button", name="Remove")).to_have_count(0)
    expect(mia_on[adam]).to_contain_text("Admin")
    ann.assert_clean()
    adam.assert_clean()


def test_a_dismissed_group_is_not_offered_to_join_and_its_owner_can_drop_it(people, user_factory):
    from conftest import PASSWORD
    from groups.services import do_dismiss_group

    ann_user, _, _, group = _crew(user_factory, "dead")
    user_factory("zoe_dead", nickname="Zoe")
    do_dismiss_group(user=ann_user, group_id=str(group.uuid))
    zoe = people()
    zoe.login("zoe_dead", PASSWORD)
    zoe.page.goto(f"{zoe.base}/groups/join")
    zoe.page.get_by_label("Group ID").fill(str(group.uuid))
    zoe.page.get_by_role("button", name="Find group").click()
    main = zoe.page.locator("#main")
    expect(main).to_contain_text("This group is disabled or dismissed.")
    expect(main.get_by_role("button", name="Ask to join")).to_have_count(0)
    expect(main.get_by_role("button", name="Join")).to_have_count(0)

    ann = people()
    ann.login("ann_dead", PASSWORD)
    ann.page.goto(f"{ann.base}/groups/{group.uuid}")
    ann.page.get_by_role("button", name="Leave group").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Leave").click()
    expect(ann.page.get_by_role("list", name="My groups")).to_have_count(0)
    expect(ann.page.locator(".list-scroll")).not_to_contain_text("Old name")
    ann.page.reload()
    expect(ann.page.locator(".list-scroll")).not_to_contain_text("Old name")
    zoe.assert_clean()
    ann.assert_clean()
