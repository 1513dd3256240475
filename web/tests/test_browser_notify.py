"""A hidden tab's desktop notifications, by the rules push follows: a
mention from someone I block (in a muted group) neither notifies nor counts
(as the server counts `unread_mentions`), from the moment the block is made
on any device, and a recalled message's
notification goes, with or without a service worker."""

from __future__ import annotations

import json
import time

import pytest

from web.tests.browser import Person, send_as, wait_js

# Messages the test sends reach the served product's sockets only with real services
# (embedded, the served process has an in-memory layer of its own).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

READY = "navigator.serviceWorker.ready"
HIDE = """
Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
document.dispatchEvent(new Event("visibilitychange"));
"""
# A browser without a service worker, whose desktop notifications are kept
# in `window.__notes` (a notification closed says so in `closed`).
NO_WORKER = """
delete Navigator.prototype.serviceWorker;
window.__notes = [];
window.Notification = class {
  static get permission() { return "granted"; }
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options = {}) {
    Object.assign(this, options, { title, closed: false });
    window.__notes.push(this);
  }
  close() {
    this.closed = true;
    if (this.onclose) this.onclose();
  }
};
"""


def signed_in(people, username: str, **options) -> Person:
    person = people(**options)
    person.context.grant_permissions(["notifications"], origin=person.base)
    person.login(username, "correct-horse-42")
    return person


def controlled(person: Person) -> None:
    """The service worker controls the page (reloaded once if needed)."""
    page = person.page
    wait_js(page, f"{READY}.then((r) => r.active && r.active.state === 'activated')")
    if not page.evaluate("!!navigator.serviceWorker.controller"):
        page.reload()
        person.wait_online()
    wait_js(page, "!!navigator.serviceWorker.controller")


def notifications(page, tag: str) -> list[dict]:
    return page.evaluate(
        f"""{READY}.then((r) => r.getNotifications({json.dumps({"tag": tag})}))
            .then((list) => list.map((n) => ({{title: n.title, body: n.body, data: n.data}})))"""
    )


def counts(page, conv: str) -> list[int]:
    return page.evaluate(
        f"(() => {{ const c = window.wsc.state.conversations.get('{conv}'); return [c.unread, c.unread_mentions]; }})()"
    )


def server_counts(page, conv: str) -> list[int]:
    return page.evaluate(
        f"""fetch('/api/v1/conversations', {{credentials: 'same-origin'}}).then((r) => r.json())
            .then((p) => p.results.filter((c) => c.id === '{conv}').map((c) => [c.unread, c.unread_mentions])[0])"""
    )


def test_a_blocked_persons_mention_in_a_muted_group_neither_notifies_nor_counts(people, user_factory):
    from contacts.services import do_block, do_connect
    from conversations.models import Member
    from groups.services import do_create_group

    ann = user_factory("ann_nb", nickname="Ann")
    ben = user_factory("ben_nb", nickname="Ben")
    cat = user_factory("cat_nb", nickname="Cat")  # a stranger to Ben, blocked
    dan = user_factory("dan_nb", nickname="Dan")  # Ben's contact, blocked
    for a, b in [(ann, ben), (ann, cat), (ann, dan), (ben, dan)]:
        do_connect(user=a, other=b)
    group = do_create_group(owner=ann, name="Team", members=[str(ben.uuid), str(cat.uuid), str(dan.uuid)])
    conv = str(group.conversation.uuid)
    Member.objects.filter(conversation=group.conversation, user=ben).update(muted=True)
    do_block(user=ben, target_id=str(cat.uuid))
    do_block(user=ben, target_id=str(dan.uuid))

    tab = signed_in(people, "ben_nb")
    controlled(tab)
    page = tab.page
    wait_js(page, f"window.wsc.state.contacts.has('{dan.uuid}') && window.wsc.state.conversations.has('{conv}')")
    page.wait_for_load_state("networkidle")  # what the tab reads at start, read
    page.evaluate(HIDE)

    # Their mentions come (a group's messages are shown), but say nothing.
    send_as(cat, conv, "@Ben look at this", mentions=[str(ben.uuid)])
    send_as(dan, conv, "@Ben and this", mentions=[str(ben.uuid)])
    wait_js(page, f"window.wsc.state.conversations.get('{conv}').unread === 2")
    page.wait_for_timeout(500)
    assert notifications(page, f"chat-{conv}") == []
    assert counts(page, conv) == [2, 0] == server_counts(page, conv)
    assert page.title() == "Chats · WebsocketChat"

    # Ann's mention does.
    send_as(ann, conv, "@Ben over to you", mentions=[str(ben.uuid)])
    wait_js(page, f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 1)")
    [shown] = notifications(page, f"chat-{conv}")
    assert (shown["title"], shown["body"]) == ("Team", "Ann: [Mentioned you] @Ben over to you")
    assert counts(page, conv) == [3, 1] == server_counts(page, conv)
    assert page.title() == "(1) Chats · WebsocketChat"
    tab.assert_clean()


def test_a_block_made_on_another_device_takes_effect_here_without_a_reload(people, user_factory):
    from contacts.services import do_block, do_connect, do_unblock
    from conversations.models import Member
    from groups.services import do_create_group

    ann = user_factory("ann_bd", nickname="Ann")
    ben = user_factory("ben_bd", nickname="Ben")
    cat = user_factory("cat_bd", nickname="Cat")
    for a, b in [(ann, ben), (ann, cat), (ben, cat)]:
        do_connect(user=a, other=b)
    group = do_create_group(owner=ann, name="Team", members=[str(ben.uuid), str(cat.uuid)])
    conv = str(group.conversation.uuid)
    Member.objects.filter(conversation=group.conversation, user=ben).update(muted=True)

    tab = signed_in(people, "ben_bd")
    controlled(tab)
    page = tab.page
    wait_js(page, f"window.wsc.state.contacts.has('{cat.uuid}') && window.wsc.state.conversations.has('{conv}')")
    page.wait_for_load_state("networkidle")
    page.evaluate(HIDE)

    # Ben blocks Cat on his phone (the service, as the phone's request runs
    # it): this tab hears of it and shows it, without being reloaded ...
    do_block(user=ben, target_id=str(cat.uuid))
    wait_js(page, f"window.wsc.state.contacts.get('{cat.uuid}').blocked === true")
    # ... and Cat's mention in the muted group neither notifies nor counts.
    send_as(cat, conv, "@Ben look at this", mentions=[str(ben.uuid)])
    wait_js(page, f"window.wsc.state.conversations.get('{conv}').unread === 1")
    page.wait_for_timeout(500)
    assert notifications(page, f"chat-{conv}") == []
    assert counts(page, conv) == [1, 0] == server_counts(page, conv)

    # Unblocked on the phone: Cat's next mention notifies here again.
    do_unblock(user=ben, target_id=str(cat.uuid))
    wait_js(page, f"window.wsc.state.contacts.get('{cat.uuid}').blocked === false")
    send_as(cat, conv, "@Ben and now?", mentions=[str(ben.uuid)])
    wait_js(page, f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 1)")
    [shown] = notifications(page, f"chat-{conv}")
    assert (shown["title"], shown["body"]) == ("Team", "Cat: [Mentioned you] @Ben and now?")
    # The counts are the server's, the same as after a reload: the mention
    # made during the block never counts, not after it is lifted either.
    wait_js(page, f"window.wsc.state.conversations.get('{conv}').unread_mentions === 1")
    page.wait_for_timeout(500)
    assert counts(page, conv) == [2, 1] == server_counts(page, conv)
    tab.assert_clean()


def test_a_recalled_messages_notification_goes(people, user_factory):
    from contacts.services import do_connect
    from conversations.models import Conversation
    from messaging.actions.recall import do_recall_message

    ann = user_factory("ann_nr", nickname="Ann")
    ben = user_factory("ben_nr", nickname="Ben")
    conv = str(Conversation.objects.get(pk=do_connect(user=ann, other=ben).conversation_id).uuid)

    # Ann's desktop (a service worker shows the notifications) and her
    # laptop (none: the page's own Notification); the recalls their sockets get.
    recalls: list[str] = []
    desk = people()
    desk.context.grant_permissions(["notifications"], origin=desk.base)
    laptop = people()
    laptop.context.add_init_script(NO_WORKER)
    for tab in (desk, laptop):
        tab.page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda f: recalls.append(f) if "message.recalled" in f else None),
        )
        tab.login("ann_nr", "correct-horse-42")
    controlled(desk)
    assert laptop.page.evaluate("'serviceWorker' in navigator") is False
    for tab in (desk, laptop):
        tab.page.evaluate(HIDE)

    lunch = send_as(ben, conv, "Lunch?")
    mill = send_as(ben, conv, "Meet at the old mill")
    wait_js(
        desk.page,
        f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 1 && l[0].body === 'Meet at the old mill')",
    )
    wait_js(laptop.page, "window.__notes.length === 2")
    assert laptop.page.evaluate("window.__notes.map((n) => [n.body, n.closed])") == [
        ["Lunch?", False],
        ["Meet at the old mill", False],
    ]

    # The older message recalled: the notification shows the newer one, and stays.
    do_recall_message(user=ben, message_id=lunch)
    deadline = time.monotonic() + 15
    while len([f for f in recalls if lunch in f]) < 2:
        assert time.monotonic() < deadline, "the recall never came"
        desk.page.wait_for_timeout(100)
    desk.page.wait_for_timeout(500)
    [shown] = notifications(desk.page, f"chat-{conv}")
    assert shown["body"] == "Meet at the old mill"
    assert laptop.page.evaluate("window.__notes[1].closed") is False

    # The one it shows recalled: it goes, here and there.
    do_recall_message(user=ben, message_id=mill)
    wait_js(desk.page, f"{READY}.then((r) => r.getNotifications({{tag: 'chat-{conv}'}})).then((l) => l.length === 0)")
    wait_js(laptop.page, "window.__notes[1].closed === true")
    desk.assert_clean()
    laptop.assert_clean()
