"""Smart replies in the web app: the `reply.suggestions` frame drawn as
buttons above the composer while the message it answers is the chat's
newest; picking one fills the box (never sends); a newer message or a send
takes them away; a chat that is not open keeps them for when it is opened;
Me › Settings switches them off (or says the server offers none); Chinese
on a phone.

The module's server runs with ASSISTANT=1 (the suite's default is off,
tests/workers.py): embedded, its in-process bus runs the `assistant` group;
with Kafka, assistant/tests/conftest.py's `run_assistant` runs beside it.
History is stored and embedded in this process as the worker would."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from assistant.tests.conftest import _assistant_worker, assistant_on, smart_replies  # noqa: F401 (fixtures)
from conftest import PASSWORD, module_server
from web.tests.browser import PHONE, wait_js
from web.tests.test_browser import LAYOUT_PROBLEMS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

# The first suggestion loads the model and embeds the built-in replies'
# examples in the server (a few seconds; more on a busy box).
FIRST_S = 45_000
# Long enough for a suggestion that was going to come.
SILENCE_S = 3.0

# The chips are not cut or off the screen (LAYOUT_PROBLEMS checks .btn and labels).
CHIPS_WHOLE = """() => [...document.querySelectorAll('.reply-chip')].filter((el) => {
  const box = el.getBoundingClientRect();
  return el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1
    || box.right > document.documentElement.clientWidth + 1 || box.left < 0;
}).map((el) => el.textContent)"""


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """This module's server, with smart replies on."""
    with module_server(django_db_blocker, tmp_path_factory, env={"ASSISTANT": "1", "OMP_NUM_THREADS": "1"}) as url:
        yield url


class Frames:
    """The socket frames a page sent and received (parsed), from the moment it connects."""

    def __init__(self, page):
        self.sent: list[dict] = []
        self.received: list[dict] = []
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        ws.on("framesent", lambda payload: self.sent.append(_parse(payload)))
        ws.on("framereceived", lambda payload: self.received.append(_parse(payload)))

    def sent_of(self, kind: str) -> list[dict]:
        return [f for f in self.sent if f.get("type") == kind]

    def received_of(self, kind: str) -> list[dict]:
        return [f for f in self.received if f.get("type") == kind]

    def wait_received(self, kind: str, page, test=lambda f: True, timeout: float = 45.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            found = [f for f in self.received_of(kind) if test(f)]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"no {kind} frame came"
            page.wait_for_timeout(100)


def _parse(payload) -> dict:
    try:
        return json.loads(payload)
    except (TypeError, ValueError):
        return {}


def history(alice, bob, exchanges: list[tuple[str, str]]) -> str:
    """Alice and Bob are contacts; Bob asked each question and Alice answered,
    in their direct chat, and the assistant worker's step handled them all
    (as assistant/tests do). Returns the conversation's id."""
    from assistant.models import MessageVector
    from assistant.smart_replies import handle_stored
    from contacts.services import do_connect
    from conversations.models import Message
    from messaging.tests.helpers import store_text_sync

    conversation = str(do_connect(user=alice, other=bob).conversation.uuid)
    asked, stored = [], []
    for question, answer in exchanges:
        asked.append(store_text_sync(sender=bob, conversation_uuid=conversation, text=question).pk)
        stored += [asked[-1], store_text_sync(sender=alice, conversation_uuid=conversation, text=answer).pk]
    handle_stored(list(Message.objects.select_related("conversation").filter(pk__in=stored).order_by("pk")))
    assert MessageVector.objects.filter(message_id__in=asked, recipient=alice).count() == len(asked)
    return conversation


def sent_by(user, text: str) -> int:
    from conversations.models import Message

    return Message.objects.filter(sender=user, text=text).count()


@pytest.mark.usefixtures("smart_replies")
def test_suggestions_fill_the_box_never_send_and_go_when_something_newer_comes(people, user_factory):
    alice_user = user_factory("alice_sr", nickname="Alice")
    bob_user = user_factory("bob_sr", nickname="Bob")
    carol_user = user_factory("carol_sr", nickname="Carol")
    from contacts.services import do_connect

    do_connect(user=alice_user, other=carol_user)
    history(alice_user, bob_user, [("what time is the meeting tomorrow?", "10am, room 4")])
    answer = "10am, room 4"
    question = "What time is the meeting tomorrow?"

    alice = people()
    frames = Frames(alice.page)
    alice.login("alice_sr", PASSWORD)
    bob = people()
    bob.login("bob_sr", PASSWORD)
    page = alice.page
    alice.open_chat("Bob")
    bob.open_chat("Alice")
    chips = page.locator(".reply-chips")
    expect(chips).to_be_hidden()
    box = page.get_by_label("Message", exact=True)

    # Bob asks again: Alice is offered what she answered then, first.
    bob.send(question)
    expect(alice.message(question)).to_be_visible()
    first = chips.get_by_role("button").first
    expect(first).to_have_text(answer, timeout=FIRST_S)
    offered = frames.wait_received("reply.suggestions", page)
    assert offered["suggestions"][0] == answer
    expect(chips.get_by_role("button")).to_have_count(len(offered["suggestions"]))
    expect(chips).to_have_attribute("data-message", offered["message"])
    expect(chips).to_have_attribute("aria-label", "Suggested replies")
    # The newest message is still in sight above them.
    expect(alice.message(question)).to_be_in_viewport()
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    assert page.evaluate(CHIPS_WHOLE) == []
    alice.shot("smart-replies-desktop")
    # Bob, who asked, is offered nothing.
    expect(bob.page.locator(".reply-chips")).to_be_hidden()

    # By keyboard: back from the box to the chips, Enter fills the box and
    # gives it the focus.
    box.focus()
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.classList.contains('reply-chip')"):
            break
    focused = page.evaluate("document.activeElement.textContent")
    assert focused in offered["suggestions"]
    page.keyboard.press("Enter")
    expect(box).to_have_value(focused)
    expect(box).to_be_focused()
    # Picking again while the box holds just a suggestion's words replaces them.
    first.click()
    expect(box).to_have_value(answer)
    first.click()
    expect(box).to_have_value(answer)
    # A draft of her own stays: the words go in after it.
    box.fill("")
    box.press_sequentially("Sure,")
    first.click()
    expect(box).to_have_value(f"Sure, {answer}")
    expect(box).to_be_focused()
    alice.shot("smart-replies-filled-desktop")
    # Nothing went: no send frame, nothing stored, Bob sees nothing new.
    page.wait_for_timeout(1500)
    assert frames.sent_of("message.send") == []
    assert sent_by(alice_user, answer) == 1 and sent_by(alice_user, f"Sure, {answer}") == 0
    expect(bob.message(answer)).to_have_count(1)  # the one from before

    # Send: the chips go at once, and Bob gets the message.
    box.fill("")
    first.click()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(chips).to_be_hidden()
    expect(box).to_have_value("")
    expect(bob.message(answer)).to_have_count(2)
    assert [f["content"] for f in frames.sent_of("message.send")] == [answer]

    # A chat that is not open keeps them for when it is opened.
    alice.open_chat("Carol")
    bob.send(question)
    later = frames.wait_received("reply.suggestions", page, lambda f: f["message"] != offered["message"])
    assert later["message"] != offered["message"]
    expect(page.locator(".reply-chips")).to_be_hidden()
    alice.open_chat("Bob")
    expect(chips).to_have_attribute("data-message", later["message"])
    expect(chips.get_by_role("button")).to_have_count(len(later["suggestions"]))

    # A newer message, from anyone (here Bob), takes them away.
    bob.send("Never mind, I found it.")
    expect(alice.message("Never mind, I found it.")).to_be_visible()
    expect(page.locator(f'.reply-chips[data-message="{later["message"]}"]')).to_have_count(0)
    # ...and so does one from Alice's other tab.
    other = alice.open_tab()
    alice.open_chat("Bob", page=other)
    bob.send(question)
    newest = frames.wait_received(
        "reply.suggestions", page, lambda f: f["message"] not in (offered["message"], later["message"])
    )
    expect(chips).to_have_attribute("data-message", newest["message"])
    alice.send("Checking, one moment", page=other)
    expect(alice.message("Checking, one moment")).to_be_visible()
    expect(chips).to_be_hidden()
    other.close()

    # Switched off in Me › Settings: no more suggestions.
    alice.nav("profile")
    page.get_by_role("link", name="Profile, password and devices").click()
    toggle = page.get_by_role("switch", name="Smart replies")
    expect(toggle).to_have_attribute("aria-checked", "true")
    expect(toggle).to_be_enabled()
    page.wait_for_timeout(300)  # the switch's slide
    alice.shot("smart-replies-settings-desktop")
    toggle.click()
    expect(toggle).to_have_attribute("aria-checked", "false")
    expect(page.locator("#smart-replies-status")).to_have_text(
        "Off. The messages you receive are not used for suggestions, and what was kept from earlier ones has been deleted."
    )
    assert alice.axe() == []
    page.reload()
    alice.wait_online()
    expect(page.get_by_role("switch", name="Smart replies")).to_have_attribute("aria-checked", "false")
    count = len(frames.received_of("reply.suggestions"))
    alice.open_chat("Bob")
    bob.send(question)
    expect(alice.message(question)).to_have_count(4)
    page.wait_for_timeout(SILENCE_S * 1000)
    assert len(frames.received_of("reply.suggestions")) == count
    expect(chips).to_be_hidden()
    alice.assert_clean()
    bob.assert_clean()


def test_where_the_server_offers_none_the_switch_says_so(people, user_factory):
    user_factory("dora_sr", nickname="Dora")
    dora = people(viewport=PHONE, phone=True)
    page = dora.page
    page.route(
        "**/api/v1/me/assistant",
        lambda route: route.fulfill(json={"smart_replies": False, "available": False}),
    )
    dora.login("dora_sr", PASSWORD)
    page.goto(f"{dora.base}/profile/settings")
    dora.wait_online()
    toggle = page.get_by_role("switch", name="Smart replies")
    expect(toggle).to_be_disabled()
    expect(toggle).to_have_attribute("aria-checked", "false")
    expect(page.locator("#smart-replies-status")).to_have_text(
        "This server doesn't offer smart replies: its administrator has turned them off."
    )
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    dora.shot("smart-replies-settings-unavailable-phone")
    assert dora.axe() == []
    dora.assert_clean()


@pytest.mark.usefixtures("smart_replies")
def test_in_chinese_on_a_phone(people, user_factory):
    from accounts.models import User

    alice_user = user_factory("alice_zh", nickname="小红")
    bob_user = user_factory("bob_zh", nickname="小明")
    User.objects.filter(pk=alice_user.pk).update(language="zh-hans")
    conversation = history(alice_user, bob_user, [("你吃饭了吗", "吃了，你呢")])

    alice = people(viewport=PHONE, phone=True, locale="zh-CN")
    frames = Frames(alice.page)
    alice.login("alice_zh", PASSWORD)
    bob = people()
    bob.login("bob_zh", PASSWORD)
    page = alice.page
    alice.open_chat("小明")
    bob.open_chat("小红")
    bob.send("你吃了吗？")
    expect(alice.message("你吃了吗？")).to_be_visible()
    chips = page.locator(".reply-chips")
    first = chips.get_by_role("button").first
    expect(first).to_have_text("吃了，你呢", timeout=FIRST_S)
    expect(chips).to_have_attribute("aria-label", "建议回复")
    offered = frames.wait_received("reply.suggestions", page)
    expect(chips.get_by_role("button")).to_have_count(len(offered["suggestions"]))
    expect(alice.message("你吃了吗？")).to_be_in_viewport()
    page.wait_for_timeout(150)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    assert page.evaluate(CHIPS_WHOLE) == []
    alice.shot("smart-replies-phone-zh-hans")
    assert alice.axe() == []

    # A tap fills the box; only Send sends.
    first.tap()
    box = page.locator("#composer-input")
    expect(box).to_have_value("吃了，你呢")
    expect(box).to_be_focused()
    page.wait_for_timeout(1000)
    assert frames.sent_of("message.send") == []
    assert sent_by(alice_user, "吃了，你呢") == 1
    alice.shot("smart-replies-filled-phone-zh-hans")
    # A draft of her own in Chinese: no space is put between the words.
    box.fill("嗯")
    first.tap()
    expect(box).to_have_value("嗯吃了，你呢")
    box.fill("")
    first.tap()
    page.locator("form.composer button.send").tap()
    expect(chips).to_be_hidden()
    expect(bob.message("吃了，你呢")).to_have_count(2)
    # Her tab has her message stored (its seq is the chat's newest): the
    # suggestions given below answer that, and nothing newer drops them.
    expect(alice.message("吃了，你呢")).to_have_count(2)
    expect(page.locator("[data-pending]")).to_have_count(0)
    expect_newest = f"""(() => {{
      const c = window.wsc.state.conversations.get({json.dumps(conversation)});
      return Boolean(c && c.last_message && c.last_message.content === "吃了，你呢" && c.last_message.seq);
    }})()"""
    wait_js(page, expect_newest)

    # The longest suggestions a frame may carry (60 characters, three) wrap on
    # the phone, whole; given to the page as its socket would.
    longest = [
        "I'm on my way now and will be there in about twenty minutes!",
        "Sorry, I can't make it tonight; can we move it to tomorrow?",
        "好的，我们明天上午十点在老地方见面，到时候再详细聊聊这个计划吧，不见不散哦！",
    ]
    assert all(len(text) <= 60 for text in longest)
    page.evaluate(
        """([conversation, texts]) => {
          const newest = window.wsc.state.conversations.get(conversation).last_message;
          const frame = {type: "reply.suggestions", conversation, message: newest.id, seq: newest.seq, suggestions: texts};
          window.wsc.socket.dispatchEvent(new CustomEvent("frame", {detail: frame}));
        }""",
        [conversation, longest],
    )
    expect(chips.get_by_role("button")).to_have_count(3)
    page.wait_for_timeout(150)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    assert page.evaluate(CHIPS_WHOLE) == []
    alice.shot("smart-replies-longest-phone")
    chips.get_by_role("button").nth(2).tap()
    expect(box).to_have_value(longest[2])

    # The switch, in Chinese on a phone.
    page.goto(f"{alice.base}/profile/settings")
    alice.wait_online()
    toggle = page.get_by_role("switch", name="智能回复")
    expect(toggle).to_have_attribute("aria-checked", "true")
    page.wait_for_timeout(150)
    assert page.evaluate(LAYOUT_PROBLEMS) == []
    alice.shot("smart-replies-settings-phone-zh-hans")
    assert alice.axe() == []
    assert re.search(r"建议", page.locator("#smart-replies-hint").inner_text())
    alice.assert_clean()
    bob.assert_clean()
