"""A call ends the way the person meant it, in a real browser, when the
timing is awkward: hung up right after Accept (a decline, never a call),
given up before the server named the invite, hung up while the socket is
down, or ended by the other side while this tab's socket was down (the tab
learns it on reconnect instead of staying in a call that is over, locked).
The call view gives the keyboard back where it was when it closes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]

# The browser takes its time to give the microphone (a permission prompt up).
SLOW_MEDIA = """(() => {
  const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (c) =>
    new Promise((ok, no) => setTimeout(() => open(c).then(ok, no), window.__mediaDelay ?? 3000));
})()"""


def _pair(user_factory, a: str, b: str):
    from contacts.services import do_connect

    ann = user_factory(a, nickname="Ann")
    ben = user_factory(b, nickname="Ben")
    do_connect(user=ann, other=ben)
    return ann, ben


def _last_call(ann_user):
    from calls.models import Call

    return Call.objects.filter(caller=ann_user).order_by("-id").first()


def _wait_call(ann_user, page, timeout: float = 15, **expected):
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = _last_call(ann_user)
        if found is not None and all(getattr(found, k) == v for k, v in expected.items()):
            return found
        assert time.monotonic() < deadline, (expected, found and (found.state, found.outcome))
        page.wait_for_timeout(100)


def test_hanging_up_right_after_accept_declines_the_call(people, user_factory):
    """Ben clicks Accept, then Hang up while his browser is still opening the
    microphone: the call is declined for both, and is never answered."""
    from conftest import PASSWORD

    ann_user, _ = _pair(user_factory, "ann_quick", "ben_quick")
    ann, ben = people(), people()
    ben.context.add_init_script(SLOW_MEDIA)
    ann.login("ann_quick", PASSWORD)
    ben.login("ben_quick", PASSWORD)
    ann.open_chat("Ben")
    ann.page.get_by_role("button", name="Voice call").click()
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    view = ben.page.get_by_role("dialog", name="Call with Ann")
    expect(view.locator(".call-status")).to_have_text("Connecting…")
    view.get_by_role("button", name="Hang up").click()
    expect(view.locator(".call-status")).to_have_text("Call declined")
    expect(ann.page.locator(".call-status")).to_have_text("Ben declined the call.")
    ben.page.wait_for_timeout(3500)  # the microphone comes meanwhile: no accept follows
    call = _wait_call(ann_user, ben.page, state="ended")
    assert (call.outcome, call.answered_at) == ("rejected", None)
    assert ben.page.evaluate("window.wsc.calls.currentCall()") is None
    ann.assert_clean()
    ben.assert_clean()


def test_an_invite_given_up_before_it_rings_is_cancelled_for_the_callee(people, user_factory):
    """Ann hangs up after her invite went but before the server's
    call.ringing came back: Ben's ringing stops at once (it went on for the
    ring timeout), and the call is a cancelled one."""
    from conftest import PASSWORD

    ann_user, _ = _pair(user_factory, "ann_early", "ben_early")
    ann, ben = people(), people()
    ringing: list = []
    sockets: list = []

    def stand_in(ws):
        server = ws.connect_to_server()
        sockets.append(ws)

        def down(message):
            # Hold call.ringing until the test lets it through.
            if isinstance(message, str) and '"call.ringing"' in message:
                ringing.append(message)
                return
            ws.send(message)

        server.on_message(down)

    ann.page.route_web_socket(re.compile(r"/ws/"), stand_in)
    ann.login("ann_early", PASSWORD)
    ben.login("ben_early", PASSWORD)
    ann.open_chat("Ben")
    ann.page.get_by_role("button", name="Voice call").click()
    incoming = ben.page.get_by_role("dialog", name="Ann")
    expect(incoming).to_contain_text("is calling you")
    assert ringing, "call.ringing never came"
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    expect(ann.page.locator(".call-status")).to_have_text("Call cancelled")
    # Now the server's answer to the invite arrives: the tab cancels the call.
    sockets[-1].send(ringing[0])
    expect(incoming).to_have_count(0)
    call = _wait_call(ann_user, ann.page, state="ended")
    assert call.outcome == "cancelled"
    ann.assert_clean()
    ben.assert_clean()


def _in_a_call(people, ann_user, a: str, b: str):
    from conftest import PASSWORD

    ann, ben = people(), people()
    ann.login(a, PASSWORD)
    ben.login(b, PASSWORD)
    ann.open_chat("Ben")
    ann.page.get_by_role("button", name="Voice call").click()
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    for person in (ann, ben):
        expect(person.page.locator(".call-status")).to_have_text("Voice call", timeout=30_000)
    _wait_call(ann_user, ann.page, state="active")
    return ann, ben


def test_a_call_ended_while_the_socket_was_down_is_over_when_it_is_back(people, user_factory):
    """Ben hangs up while Ann's socket is down (her call.ended goes nowhere):
    when her socket is back the tab says the call ended and gives the page
    back; it stayed in the call, and its Hang up then locked the page."""
    ann_user, _ = _pair(user_factory, "ann_gone", "ben_gone")
    ann, ben = _in_a_call(people, ann_user, "ann_gone", "ben_gone")
    ann.context.set_offline(True)
    ann.page.wait_for_function("!window.wsc.socket.ready")
    ben.page.get_by_role("dialog", name="Call with Ann").get_by_role("button", name="Hang up").click()
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended · "))
    _wait_call(ann_user, ann.page, state="ended")
    ann.context.set_offline(False)
    ann.wait_online()
    status = ann.page.locator(".call-status")
    expect(status).to_have_text(re.compile(r"^Call ended · "))
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Close").click()
    expect(ann.page.locator(".call-view")).to_have_count(0)
    assert ann.page.evaluate("document.querySelector('.app').inert") is False
    # The keyboard is back on the button that placed the call, at once.
    expect(ann.page.locator(".chat-header").get_by_role("button", name="Voice call")).to_be_focused(timeout=1000)
    ann.assert_clean()


def test_hanging_up_while_the_socket_is_down_ends_the_call_for_both(people, user_factory):
    """Ann hangs up with her socket down: her view ends at once, and the
    hang-up goes when the socket is back, so Ben's call ends as completed
    rather than failing after the reconnect grace (or never, if she came
    back within it)."""
    ann_user, _ = _pair(user_factory, "ann_down", "ben_down")
    ann, ben = _in_a_call(people, ann_user, "ann_down", "ben_down")
    ann.context.set_offline(True)
    ann.page.wait_for_function("!window.wsc.socket.ready")
    view = ann.page.get_by_role("dialog", name="Call with Ben")
    hang = view.get_by_role("button", name="Hang up")
    hang.hover()
    # Under the pointer the red control keeps a dark background for its white label.
    assert hang.evaluate("(b) => getComputedStyle(b).backgroundColor") == "rgba(0, 0, 0, 0)"
    hang.click()
    expect(view.locator(".call-status")).to_have_text("Call ended")
    ann.context.set_offline(False)
    ann.wait_online()
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended · "), timeout=10_000)
    call = _wait_call(ann_user, ben.page, state="ended")
    assert call.outcome == "completed"
    ann.assert_clean()
    ben.assert_clean()


def test_a_cancel_that_crosses_the_callees_accept_ends_the_call_for_both(people, user_factory):
    """Ben accepts; Ann hangs up before his accept reaches her tab, so her
    cancel finds the call answered (call_state). Her tab ends it as a call
    (a hang-up), not leaving it going on the server with both of them busy."""
    from conftest import PASSWORD

    ann_user, _ = _pair(user_factory, "ann_cross", "ben_cross")
    ann, ben = people(), people()
    accepted: list = []
    sockets: list = []

    def stand_in(ws):
        server = ws.connect_to_server()
        sockets.append(ws)

        def down(message):
            if isinstance(message, str) and '"call.accepted"' in message:
                accepted.append(message)  # late, as on a slow connection
                return
            ws.send(message)

        server.on_message(down)

    ann.page.route_web_socket(re.compile(r"/ws/"), stand_in)
    ann.login("ann_cross", PASSWORD)
    ben.login("ben_cross", PASSWORD)
    ann.open_chat("Ben")
    ann.page.get_by_role("button", name="Voice call").click()
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    _wait_call(ann_user, ann.page, state="active")
    # The frame follows the commit: it reaches the stand-in a moment later.
    for _ in range(100):
        if accepted:
            break
        ann.page.wait_for_timeout(100)
    assert accepted
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    call = _wait_call(ann_user, ann.page, state="ended")
    assert call.outcome == "completed"
    sockets[-1].send(accepted[0])  # the accept comes at last: the call stays over
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended"))
    ann.page.wait_for_timeout(500)
    assert ann.page.evaluate("window.wsc.calls.currentCall()") is None
    from calls.models import CallSlot

    assert not CallSlot.objects.filter(call=call).exists()
    ann.assert_clean()
    ben.assert_clean()


def test_a_tab_that_accepted_second_lets_the_call_go_and_its_camera(people, user_factory):
    """Ben accepts in two tabs; the first is still opening the microphone when
    the second's accept wins: the first tab lets the call go (media off, it
    says so) instead of saying Connecting… for the whole call."""
    from conftest import PASSWORD

    ann_user, _ = _pair(user_factory, "ann_tabs", "ben_tabs")
    ann, ben = people(), people()
    ben.context.add_init_script(SLOW_MEDIA)
    ann.login("ann_tabs", PASSWORD)
    ben.login("ben_tabs", PASSWORD)
    other = ben.open_tab()
    ben.wait_online(other)
    other.evaluate("window.__mediaDelay = 0")
    ann.open_chat("Ben")
    ann.page.get_by_role("button", name="Voice call").click()
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    other.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    expect(other.locator(".call-status")).to_have_text("Voice call", timeout=30_000)
    expect(ben.page.locator(".call-status")).to_have_text("The call was answered on another device.")
    ben.page.wait_for_timeout(3500)  # its microphone comes meanwhile: stopped, no accept sent
    assert ben.page.evaluate("window.wsc.calls.currentCall()") is None
    _wait_call(ann_user, ann.page, state="active")
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    _wait_call(ann_user, ann.page, state="ended")
    ann.assert_clean()
    ben.assert_clean()
