"""What this tab sends and has not seen stored is never lost or left saying
the wrong thing, in a real browser: a message the server refuses while its
chat is not open (resent after a reconnect, whatever the person is looking
at) says *Not sent* with *Retry* and *Remove* when the chat is shown again,
and its composer says why, as for a refusal seen live; an edit saved while
the connection is down keeps the box in edit mode with the new text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from web.tests.browser import send_as, wait_js

pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

WAITING = "Not sent yet · will send when back online"


def _pair(user_factory, a: str, b: str) -> tuple:
    """Ann and Ben, contacts, and their chat's id."""
    from contacts.services import do_connect
    from conversations.models import Conversation

    ann = user_factory(a, nickname="Ann")
    ben = user_factory(b, nickname="Ben")
    contact = do_connect(user=ann, other=ben)
    return ann, ben, str(Conversation.objects.get(pk=contact.conversation_id).uuid)


@pytest.mark.parametrize("elsewhere", ["contacts", "another_chat"])
def test_a_send_refused_while_its_chat_is_not_open_says_not_sent_when_shown_again(people, user_factory, elsewhere):
    """Ann writes to Ben while offline; Ben blocks her meanwhile; she moves on
    (another section, or another chat) and the network comes back. The
    outbox resends, the server refuses (`blocked`): back in Ben's chat the
    bubble says *Not sent* with *Retry* and *Remove* (not "will send when back
    online", forever), and the composer says she can't write there, as when
    the refusal comes with the chat open. The chat she was in is untouched."""
    from conftest import PASSWORD
    from contacts.services import do_block, do_connect

    ann_user, ben_user, _ = _pair(user_factory, "ann_refused", "ben_refused")
    cat_user = user_factory("cat_refused", nickname="Cat")
    do_connect(user=ann_user, other=cat_user)
    ann = people()
    ann.login("ann_refused", PASSWORD)
    page = ann.page
    ann.open_chat("Ben")

    page.context.set_offline(True)
    page.evaluate("window.wsc.socket.drop()")
    expect(page.locator("#conn-banner")).to_be_visible(timeout=8000)
    ann.send("are you there?")
    pending = page.locator("[data-pending]")
    expect(pending.locator(".msg-status")).to_have_text(WAITING, timeout=8000)

    do_block(user=ben_user, target_id=str(ann_user.uuid))
    if elsewhere == "contacts":
        ann.nav("contacts")
    else:
        ann.open_chat("Cat")
    expect(pending).to_have_count(0)

    page.context.set_offline(False)
    ann.wait_online()
    # Resent and answered: the refusal is no longer in the outbox.
    wait_js(page, "window.wsc.socket.outbox.frames.size === 0")
    page.wait_for_timeout(300)  # the error frame handled
    if elsewhere == "another_chat":
        # Cat's chat is not the one refused.
        expect(page.get_by_label("Message", exact=True)).to_be_visible()
        expect(page.locator(".composer-disabled")).to_have_count(0)

    ann.open_chat("Ben")
    expect(ann.message("are you there?")).to_have_count(1)
    status = pending.locator(".msg-status")
    expect(status).to_have_text("Not sent: One of you has blocked the other.")
    expect(pending).not_to_have_class(re.compile(r"\bwaiting\b"))
    expect(pending.get_by_role("button", name="Retry")).to_be_visible()
    expect(pending.get_by_role("button", name="Remove")).to_be_visible()
    expect(page.locator(".composer-disabled")).to_have_text("You can't send messages in this chat.")
    expect(page.get_by_label("Message", exact=True)).to_have_count(0)

    # Remove takes it away for good: it is not in the chat when it opens again.
    pending.get_by_role("button", name="Remove").click()
    expect(pending).to_have_count(0)
    ann.nav("contacts")
    ann.open_chat("Ben")
    expect(ann.message("are you there?")).to_have_count(0)
    ann.assert_clean()


def test_an_edit_saved_while_offline_stays_in_the_box(people, user_factory):
    """Ann rewrites her message and saves it while the connection is down:
    she is told it was not sent, and the box still holds her new words, in
    edit mode (Save, the bar, ×). Saved again once the connection is back,
    the edit goes."""
    from conftest import PASSWORD

    ann_user, _, direct = _pair(user_factory, "ann_edit_off", "ben_edit_off")
    send_as(ann_user, direct, "see you at 8")
    ann = people()
    ann.login("ann_edit_off", PASSWORD)
    page = ann.page
    ann.open_chat("Ben")
    expect(ann.message("see you at 8")).to_be_visible()

    ann.open_menu("see you at 8").get_by_role("menuitem", name="Edit").click()
    box = page.get_by_label("Message", exact=True)
    bar = page.locator(".composer-context")
    expect(box).to_have_value("see you at 8")
    box.fill("see you at 9")

    page.context.set_offline(True)
    page.evaluate("window.wsc.socket.drop()")
    expect(page.locator("#conn-banner")).to_be_visible(timeout=8000)
    box.press("Enter")
    expect(page.locator(".toast", has_text="Not connected. Try again when the connection is back.")).to_be_visible()
    expect(box).to_have_value("see you at 9")
    expect(bar).to_contain_text("Edit message")
    expect(page.get_by_role("button", name="Save")).to_be_visible()
    expect(ann.message("see you at 8")).to_have_count(1)  # unchanged

    page.context.set_offline(False)
    ann.wait_online()
    page.get_by_role("button", name="Save").click()
    expect(ann.message("see you at 9")).to_be_visible()
    expect(ann.item("see you at 9").locator(".msg-edited")).to_have_text("edited")
    expect(box).to_have_value("")
    expect(bar).to_be_hidden()
    ann.assert_clean()


def test_an_empty_file_is_refused_in_the_persons_language_before_it_is_sent(people, user_factory):
    """Ann, whose browser speaks Chinese, picks an empty file: she is told in
    Chinese at once, and nothing is uploaded or left pending (the server's
    refusal is in English)."""
    from conftest import PASSWORD
    from files.models import File

    ann_user, _, _ = _pair(user_factory, "ann_empty", "ben_empty")
    ann = people(locale="zh-CN")
    ann.login("ann_empty", PASSWORD)
    ann.open_chat("Ben")
    page = ann.page
    page.locator("#composer-file").set_input_files([{"name": "空.txt", "mimeType": "text/plain", "buffer": b""}])
    expect(page.locator(".toast", has_text="“空.txt”是空文件。")).to_be_visible()
    page.wait_for_timeout(500)
    expect(page.locator(".messages .pending")).to_have_count(0)
    assert not File.objects.filter(owner=ann_user).exists()
    ann.assert_clean()


def test_a_recall_refused_after_its_chat_was_left_still_says_why(people, user_factory):
    """Ann recalls a message and goes to her contacts before the answer comes;
    the server refuses (the recall window closed meanwhile): she is told so
    where she is, not left believing it was taken back."""
    import datetime
    import json

    from django.utils import timezone

    from conftest import PASSWORD
    from conversations.models import Message

    ann_user, _, direct = _pair(user_factory, "ann_rcl", "ben_rcl")
    message_id = send_as(ann_user, direct, "take this back")
    held: list[str] = []
    page_side = []

    def stand_in(ws):
        server = ws.connect_to_server()
        page_side.append(ws)

        def down(message):
            frame = json.loads(message) if isinstance(message, str) else {}
            if frame.get("type") == "error" and str(frame.get("ref", "")).startswith("recall-"):
                held.append(message)
            else:
                ws.send(message)

        server.on_message(down)

    ann = people()
    page = ann.page
    page.route_web_socket(re.compile(r"/ws/"), stand_in)
    ann.login("ann_rcl", PASSWORD)
    ann.open_chat("Ben")
    ann.wait_online()
    # The page has read it fresh (its history came before the change below).
    expect(ann.message("take this back")).to_be_visible()
    # Too old now for the server; the page, which saw it fresh, still offers Recall.
    Message.objects.filter(uuid=message_id).update(created_at=timezone.now() - datetime.timedelta(hours=1))
    ann.open_menu("take this back").get_by_role("menuitem", name="Recall").click()
    page.get_by_role("dialog").get_by_role("button", name="Recall").click()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the recall was never refused"
    ann.nav("contacts")
    expect(page.locator(".toast")).to_have_count(0)
    page_side[-1].send(held[0])
    expect(page.locator(".toast-error")).to_contain_text("You can only recall your own messages within 2 minutes.")
    ann.assert_clean()


def test_a_file_whose_upload_failed_can_be_tried_again_unless_the_file_was_refused(people, user_factory):
    """The connection drops during Ann's upload: *Retry* uploads it again and
    it is sent. A file the server refuses (her storage is full) says the
    server's reason and offers only *Remove*: trying again would change nothing."""
    import json

    from conftest import PASSWORD
    from files.models import File

    ann_user, _, _ = _pair(user_factory, "ann_upl", "ben_upl")
    ann = people()
    page = ann.page
    answers = ["drop"]

    def files(route):
        what = answers.pop(0) if answers else "pass"
        if what == "drop":
            route.abort("connectionreset")
        elif what == "full":
            error = {"code": "too_large", "message": "This file does not fit in your storage quota."}
            route.fulfill(status=413, content_type="application/json", body=json.dumps({"error": error}))
        else:
            route.continue_()

    page.route(re.compile(r"/api/v1/files$"), files)
    ann.login("ann_upl", PASSWORD)
    ann.open_chat("Ben")
    ann.wait_online()
    page.locator("#composer-file").set_input_files(
        [{"name": "report.txt", "mimeType": "text/plain", "buffer": b"numbers"}]
    )
    pending = page.locator(".messages .pending", has_text="report.txt")
    expect(pending).to_contain_text("Not sent")
    pending.get_by_role("button", name="Retry").click()
    expect(page.locator(".messages .pending")).to_have_count(0)
    expect(page.locator(".messages li.msg:not(.pending) .file-name", has_text="report.txt")).to_be_visible()
    assert File.objects.filter(owner=ann_user, name="report.txt").count() == 1

    answers.append("full")
    page.locator("#composer-file").set_input_files([{"name": "big.txt", "mimeType": "text/plain", "buffer": b"more"}])
    refused = page.locator(".messages .pending", has_text="big.txt")
    expect(refused).to_contain_text("Not sent: This file does not fit in your storage quota.")
    expect(refused.get_by_role("button", name="Retry")).to_have_count(0)
    expect(refused.get_by_role("button", name="Remove")).to_be_visible()
    # The two failed loads were the test's own doing; nothing else went wrong.
    assert len(ann.problems) == 2 and all("Failed to load resource" in p for p in ann.problems), ann.problems


def test_a_draft_typed_just_before_a_reload_is_kept(people, user_factory):
    """Ann types and reloads within the second the draft waits: the page's
    closing saves it (a request that outlives the page), so it is there after."""
    from conftest import PASSWORD
    from conversations.models import Member

    ann_user, _, direct = _pair(user_factory, "ann_drq", "ben_drq")
    ann = people()
    ann.login("ann_drq", PASSWORD)
    page = ann.page
    ann.open_chat("Ben")
    ann.wait_online()
    box = page.get_by_label("Message", exact=True)
    box.press_sequentially("meet at 7")
    page.reload()
    ann.wait_online()
    expect(page.get_by_label("Message", exact=True)).to_have_value("meet at 7")
    assert Member.objects.get(conversation__uuid=direct, user=ann_user).draft_text == "meet at 7"
    ann.assert_clean()


def test_leaving_the_page_with_a_message_not_yet_stored_asks_first(people, user_factory):
    """Offline, Ann's message waits to be sent; it lives in the page only, so
    a reload would lose it: the browser asks, she stays, and it is sent when
    the connection is back. With nothing on its way, a reload asks nothing."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from conftest import PASSWORD
    from conversations.models import Message

    ann_user, _, direct = _pair(user_factory, "ann_bfu", "ben_bfu")
    ann = people()
    ann.login("ann_bfu", PASSWORD)
    page = ann.page
    ann.open_chat("Ben")
    ann.wait_online()
    page.context.set_offline(True)
    page.evaluate("window.wsc.socket.drop()")
    expect(page.locator("#conn-banner")).to_be_visible(timeout=8000)
    ann.send("see you at 7")
    expect(page.locator(".messages .pending")).to_contain_text(WAITING)
    asked: list[str] = []

    # The page's own handler dismisses it (she stays); this one notes what it was.
    page.on("dialog", lambda dialog: asked.append(dialog.type))
    try:
        page.reload(timeout=3000)
    except PlaywrightTimeout:
        pass  # she stayed: the reload never happened
    assert asked == ["beforeunload"], asked
    ann.problems.remove("unexpected dialog: ")  # that one was expected
    expect(page.locator(".messages .pending")).to_contain_text("see you at 7")
    page.context.set_offline(False)
    ann.wait_online()
    expect(page.locator(".messages .pending")).to_have_count(0)
    expect(ann.message("see you at 7")).to_be_visible()
    assert Message.objects.filter(conversation__uuid=direct, text="see you at 7").count() == 1
    asked.clear()
    page.reload()
    ann.wait_online()
    assert asked == []
    ann.assert_clean()


def test_a_forced_sign_out_leaves_without_asking_though_a_message_is_on_its_way(people, user_factory):
    """Ann's message is on its way (its frame lost on the way) when her
    password is changed on her other device: the page goes to the sign-in
    page at once; no "leave the page?" stands in the way of a message that
    can no longer be sent."""
    from conftest import PASSWORD

    _pair(user_factory, "ann_fso", "ben_fso")
    ann = people()
    page = ann.page

    def stand_in(ws):
        server = ws.connect_to_server()

        def up(message):
            if '"message.send"' not in message:  # lost on the way: never acked
                server.send(message)

        ws.on_message(up)

    page.route_web_socket(re.compile(r"/ws/"), stand_in)
    ann.login("ann_fso", PASSWORD)
    ann.open_chat("Ben")
    ann.send("are you there?")
    expect(page.locator(".messages .pending")).to_contain_text("Sending…")
    other = people()
    other.login("ann_fso", PASSWORD)
    body = {"old_password": PASSWORD, "new_password": "another-good-password-2"}
    answer = other.page.evaluate(
        """(body) => fetch('/api/v1/me/password', {method: 'POST', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json',
                      'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
            body: JSON.stringify(body)}).then((r) => r.status)""",
        body,
    )
    assert answer == 204
    page.wait_for_url(re.compile(r"/login\?reason=signed_out"), timeout=15000)
    ann.assert_clean()
