"""A call in trouble ends, or goes on, as it should, in a real browser: an
answer the caller's browser cannot use, a hang-up or a decline or an accept
while the socket is down, an invite whose call.ringing went to a socket that
dropped (or that never reached the server, or whose end never came), a peer
connection that stays lost, a video call's sound (once), a busy of one's own
whatever the order of its frames, a ring the caller's vanishing ends, a
peer disabled by an administrator."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from web.tests.browser import wait_js
from web.tests.test_browser_call_ends import SLOW_MEDIA, _last_call, _pair, _wait_call

pytestmark = [
    pytest.mark.browser,
    pytest.mark.one_config,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]


# The peer connection of the page's call says it is in `state` (the real one
# stays connected: loopback cannot be broken from here).
FAKE_CONNECTION = """(state) => {
  const pc = window.wsc.calls.currentCall().pc;
  Object.defineProperty(pc, "connectionState", { value: state, configurable: true });
  pc.onconnectionstatechange();
}"""


def _wait_until(condition, what: str, page, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(50)


def _signed_in(people, a: str, b: str, *, ann_setup=None, ben_setup=None):
    """Ann and Ben signed in, Ann in the chat with Ben; `*_setup(person)` runs
    before the sign-in (routes, init scripts)."""
    from conftest import PASSWORD

    ann, ben = people(), people()
    if ann_setup:
        ann_setup(ann)
    if ben_setup:
        ben_setup(ben)
    ann.login(a, PASSWORD)
    ben.login(b, PASSWORD)
    ann.open_chat("Ben")
    return ann, ben


def _in_a_call(people, ann_user, a: str, b: str, media: str = "Voice call", *, ann_setup=None):
    ann, ben = _signed_in(people, a, b, ann_setup=ann_setup)
    ann.page.get_by_role("button", name=media).click()
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    for person in (ann, ben):
        expect(person.page.locator(".call-status")).to_have_text(media, timeout=30_000)
    _wait_call(ann_user, ann.page, state="active")
    return ann, ben


def _go_offline(person) -> None:
    person.context.set_offline(True)
    wait_js(person.page, "!window.wsc.socket.ready")


def _back_online(person) -> None:
    person.context.set_offline(False)
    person.wait_online()


def test_an_answer_the_callers_browser_cannot_use_hangs_the_call_up(people, user_factory):
    """Ben's answer does not apply in Ann's browser: her tab hangs the call
    up, so it ends for Ben too (he stayed on Connecting…, the call active on
    the server, and Ann's next call was refused as already in a call)."""
    ann_user, _ = _pair(user_factory, "ann_sdp", "ben_sdp")

    def broken_answers(ann):
        def stand_in(ws):
            server = ws.connect_to_server()

            def down(message):
                if isinstance(message, str) and '"call.accepted"' in message:
                    frame = json.loads(message)
                    if frame.get("sdp"):
                        frame["sdp"]["sdp"] = "v=0\r\nthis is no answer\r\n"
                        message = json.dumps(frame)
                ws.send(message)

            server.on_message(down)

        ann.page.route_web_socket(re.compile(r"/ws/"), stand_in)

    ann, ben = _signed_in(people, "ann_sdp", "ben_sdp", ann_setup=broken_answers)
    ann.page.get_by_role("button", name="Voice call").click()
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    expect(ann.page.locator(".call-status")).to_have_text("The call failed: the connection was lost.")
    call = _wait_call(ann_user, ann.page, state="ended")
    assert call.outcome == "completed"
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended · "))
    assert ann.page.evaluate("window.wsc.calls.currentCall()") is None
    ann.assert_clean()
    ben.assert_clean()


def test_a_hang_up_while_offline_that_crosses_the_accept_ends_the_call(people, user_factory):
    """Ben is accepting (his microphone slow to open) when Ann, her socket
    down, hangs up: her end is a cancel, which the server refuses once Ben's
    accept made the call active. When her socket is back her tab ends the
    call as a hang-up: it was left active, Ben on Connecting…."""
    ann_user, _ = _pair(user_factory, "ann_cross_off", "ben_cross_off")
    ann, ben = _signed_in(
        people, "ann_cross_off", "ben_cross_off", ben_setup=lambda ben: ben.context.add_init_script(SLOW_MEDIA)
    )
    ann.page.get_by_role("button", name="Voice call").click()
    view = ann.page.get_by_role("dialog", name="Call with Ben")
    expect(view.locator(".call-status")).to_have_text("Ringing Ben…")
    ben.page.get_by_role("dialog", name="Ann").get_by_role("button", name="Accept").click()
    _go_offline(ann)
    view.get_by_role("button", name="Hang up").click()
    expect(view.locator(".call-status")).to_have_text("Call ended")
    _wait_call(ann_user, ann.page, state="active")  # Ben's accept won the race
    _back_online(ann)
    call = _wait_call(ann_user, ann.page, state="ended")
    assert call.outcome == "completed"
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended · "))
    from calls.models import CallSlot

    assert not CallSlot.objects.filter(call=call).exists()
    ann.assert_clean()
    ben.assert_clean()


def test_a_decline_while_offline_goes_when_the_socket_is_back(people, user_factory):
    """Ben declines with his socket down: the decline goes on reconnect, so
    Ann hears it at once and the call is a rejected one (it rang on for the
    ring timeout and was logged missed)."""
    ann_user, _ = _pair(user_factory, "ann_decl", "ben_decl")
    ann, ben = _signed_in(people, "ann_decl", "ben_decl")
    ann.page.get_by_role("button", name="Voice call").click()
    incoming = ben.page.get_by_role("dialog", name="Ann")
    expect(incoming).to_contain_text("is calling you")
    _go_offline(ben)
    incoming.get_by_role("button", name="Decline").click()
    expect(incoming).to_have_count(0)
    _back_online(ben)
    expect(ann.page.locator(".call-status")).to_have_text("Ben declined the call.")
    call = _wait_call(ann_user, ann.page, state="ended")
    assert call.outcome == "rejected"
    expect(incoming).to_have_count(0)  # the call.incoming the new socket got is not shown again
    ann.assert_clean()
    ben.assert_clean()


def test_an_accept_while_offline_says_so_and_the_call_keeps_ringing(people, user_factory):
    """Ben clicks Accept with his socket down: nothing can be answered, so the
    dialog stays and says why (it closed, and he sat on Connecting… while Ann
    rang on). Once the socket is back his Accept answers the call."""
    ann_user, _ = _pair(user_factory, "ann_acc", "ben_acc")
    ann, ben = _signed_in(people, "ann_acc", "ben_acc")
    ann.page.get_by_role("button", name="Voice call").click()
    incoming = ben.page.get_by_role("dialog", name="Ann")
    expect(incoming).to_contain_text("is calling you")
    _go_offline(ben)
    incoming.get_by_role("button", name="Accept").click()
    expect(incoming.get_by_role("alert")).to_have_text(
        "Not connected: the call can be answered once the connection is back."
    )
    expect(incoming).to_be_visible()
    expect(ben.page.locator(".call-view")).to_have_count(0)
    assert _last_call(ann_user).state == "ringing"
    _back_online(ben)
    expect(incoming.get_by_role("alert")).to_have_count(0)
    incoming.get_by_role("button", name="Accept").click()
    for person in (ann, ben):
        expect(person.page.locator(".call-status")).to_have_text("Voice call", timeout=30_000)
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    assert _wait_call(ann_user, ann.page, state="ended").outcome == "completed"
    ann.assert_clean()
    ben.assert_clean()


def test_a_connection_lost_for_good_ends_the_call(people, user_factory):
    """Ann's peer connection drops: she is told at once, and the warning goes
    when it comes back. When it fails and stays failed, her tab hangs up
    after a bounded time, saying the call was lost (it said "Connection
    problems…" for ever, the call going on at the server)."""
    ann_user, _ = _pair(user_factory, "ann_lost", "ben_lost")
    # Her tab's clock runs as usual and is moved on where the test waits.
    ann, ben = _in_a_call(people, ann_user, "ann_lost", "ben_lost", ann_setup=lambda ann: ann.page.clock.install())
    status = ann.page.locator(".call-status")
    ann.page.evaluate(FAKE_CONNECTION, "disconnected")
    expect(status).to_have_text("Connection problems…")
    ann.page.evaluate(FAKE_CONNECTION, "connected")
    expect(status).to_have_text("Voice call")
    ann.page.evaluate(FAKE_CONNECTION, "failed")
    expect(status).to_have_text("Connection problems…")
    ann.page.clock.fast_forward("00:15")
    ann.page.wait_for_timeout(300)
    expect(status).to_have_text("Connection problems…")  # not at once: it may come back
    assert _last_call(ann_user).state == "active"
    ann.page.clock.fast_forward("00:06")
    expect(status).to_have_text("The call was lost.")
    assert ann.page.evaluate("window.wsc.calls.currentCall()") is None
    assert _wait_call(ann_user, ann.page, state="ended").outcome == "completed"
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended · "))
    ann.assert_clean()
    ben.assert_clean()


def _dropping(frame_type: str, into: list, *, direction: str = "down", only_first: bool = True):
    """A stand-in for the page's sockets that keeps frames of `frame_type`
    (from the server: "down"; from the page: "up") in `into` instead of
    passing them on (only the first one, with `only_first`)."""
    marker = f'"type":"{frame_type}"'

    def wanted(message) -> bool:
        if not isinstance(message, str) or marker not in message.replace(" ", ""):
            return False
        return not (only_first and into)

    def stand_in(ws):
        server = ws.connect_to_server()
        if direction == "down":

            def down(message):
                if wanted(message):
                    into.append(message)
                else:
                    ws.send(message)

            server.on_message(down)
        else:

            def up(message):
                if wanted(message):
                    into.append(message)
                else:
                    server.send(message)

            ws.on_message(up)

    return stand_in


def test_an_invite_whose_ringing_went_to_a_dropped_socket_is_picked_up(people, user_factory):
    """Ann's socket drops between her invite and its call.ringing: once it is
    back, her tab finds the call in the log and goes on with it (it said
    Calling… for ever, the microphone open, ignoring the call's frames)."""
    ann_user, _ = _pair(user_factory, "ann_lostring", "ben_lostring")
    held: list = []
    ann, ben = _signed_in(
        people,
        "ann_lostring",
        "ben_lostring",
        ann_setup=lambda ann: ann.page.route_web_socket(re.compile(r"/ws/"), _dropping("call.ringing", held)),
    )
    ann.page.get_by_role("button", name="Voice call").click()
    incoming = ben.page.get_by_role("dialog", name="Ann")
    expect(incoming).to_contain_text("is calling you")
    _wait_until(lambda: held, "call.ringing never came", ann.page)
    status = ann.page.locator(".call-status")
    expect(status).to_have_text("Calling Ben…")
    ann.page.evaluate("window.wsc.socket.drop()")
    expect(status).to_have_text("Ringing Ben…")
    incoming.get_by_role("button", name="Accept").click()
    for person in (ann, ben):
        expect(person.page.locator(".call-status")).to_have_text("Voice call", timeout=30_000)
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    expect(ben.page.locator(".call-status")).to_have_text(re.compile(r"^Call ended · "))
    assert _wait_call(ann_user, ann.page, state="ended").outcome == "completed"
    ann.assert_clean()
    ben.assert_clean()


def test_an_invite_lost_with_its_socket_ends_after_the_reconnect(people, user_factory):
    """Ann's invite never reaches the server (its socket died under it):
    after the reconnect her tab says the call could not be placed and lets
    the microphone go."""
    ann_user, _ = _pair(user_factory, "ann_noinv", "ben_noinv")
    lost: list = []
    ann, ben = _signed_in(
        people,
        "ann_noinv",
        "ben_noinv",
        ann_setup=lambda ann: ann.page.route_web_socket(
            re.compile(r"/ws/"), _dropping("call.invite", lost, direction="up")
        ),
    )
    ann.page.get_by_role("button", name="Voice call").click()
    _wait_until(lambda: lost, "the invite was never sent", ann.page)
    status = ann.page.locator(".call-status")
    expect(status).to_have_text("Calling Ben…")
    ann.page.evaluate("window.wsc.socket.drop()")
    expect(status).to_have_text("The call could not be placed: the connection was lost.")
    assert ann.page.evaluate("window.wsc.calls.currentCall()") is None
    assert _last_call(ann_user) is None
    expect(ben.page.get_by_role("dialog", name="Ann")).to_have_count(0)
    ann.assert_clean()
    ben.assert_clean()


def test_a_ring_whose_end_never_comes_is_given_up_by_the_caller(people, user_factory):
    """Nothing more comes for Ann's ringing call (its call.ended would go to
    a socket that is gone): past the ring timeout and a margin her tab gives
    up, cancels it and lets the microphone go (it rang for ever)."""
    ann_user, _ = _pair(user_factory, "ann_ringout", "ben_ringout")
    ann, ben = _signed_in(people, "ann_ringout", "ben_ringout", ann_setup=lambda ann: ann.page.clock.install())
    ann.page.get_by_role("button", name="Voice call").click()
    status = ann.page.locator(".call-status")
    expect(status).to_have_text("Ringing Ben…")
    incoming = ben.page.get_by_role("dialog", name="Ann")
    expect(incoming).to_contain_text("is calling you")
    ann.page.clock.fast_forward("00:50")
    ann.page.wait_for_timeout(300)
    expect(status).to_have_text("Ringing Ben…")  # not before the server's timeout and a margin
    ann.page.clock.fast_forward("00:15")
    expect(status).to_have_text("Ben did not answer.")
    assert ann.page.evaluate("window.wsc.calls.currentCall()") is None
    assert _wait_call(ann_user, ann.page, state="ended").outcome == "cancelled"
    expect(incoming).to_have_count(0)
    ann.assert_clean()
    ben.assert_clean()


def test_a_video_calls_sound_plays_once(people, user_factory):
    """In a video call the other person's sound plays from one element (it
    played from the video and from the audio element both: an echo)."""
    ann_user, _ = _pair(user_factory, "ann_echo", "ben_echo")
    ann, ben = _in_a_call(people, ann_user, "ann_echo", "ben_echo", media="Video call")
    playing = """() => [...document.querySelectorAll(".call-view video.remote-video, .call-view audio")]
      .filter((el) => el.srcObject && el.srcObject.getAudioTracks().length && !el.muted && !el.paused).length"""
    video_paused = "document.querySelector('.call-view video.remote-video').paused"
    for person in (ann, ben):
        _wait_until(lambda p=person: p.page.evaluate(playing) >= 1, "no remote sound plays", person.page)
        assert person.page.evaluate(playing) == 1
        # The picture plays too (it starts a moment after the sound on a busy machine).
        _wait_until(lambda p=person: p.page.evaluate(video_paused) is False, "the video stays paused", person.page)
        assert person.page.evaluate(playing) == 1
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    _wait_call(ann_user, ann.page, state="ended")
    ann.assert_clean()
    ben.assert_clean()


def test_my_own_busy_says_so_whatever_the_order_of_its_frames(people, user_factory):
    """Ann, in a call with Ben in one tab, calls him from another: it is her
    own call in the way, and the tab says so even when the busy call.ended
    comes before the error that says whose call it is (it blamed Ben)."""
    ann_user, _ = _pair(user_factory, "ann_busy", "ben_busy")
    ann, ben = _in_a_call(people, ann_user, "ann_busy", "ben_busy")
    held: list = []
    relay: dict = {}

    def stand_in(ws):
        server = ws.connect_to_server()
        relay["ws"] = ws

        def down(message):
            if isinstance(message, str) and '"busy"' in message and '"type":"error"' in message.replace(" ", ""):
                held.append(message)  # until the call.ended has gone by
            else:
                ws.send(message)

        server.on_message(down)

    other = ann.new_tab()
    other.route_web_socket(re.compile(r"/ws/"), stand_in)
    other.goto(f"{ann.base}/")
    ann.wait_online(other)
    ann.open_chat("Ben", other)
    other.get_by_role("button", name="Voice call").click()
    _wait_until(lambda: held, "no busy error came", other)
    other.wait_for_timeout(300)  # the call.ended (busy) is in
    relay["ws"].send(held[0])
    expect(other.locator(".call-status")).to_have_text("You are already in a call.")
    ann.page.get_by_role("dialog", name="Call with Ben").get_by_role("button", name="Hang up").click()
    ann.assert_clean()
    ben.assert_clean()


# A server of its own (short grace): real services only, as in
# test_browser.py's ring timer test.
@pytest.mark.real_services
def test_a_ring_the_callers_vanishing_ends_is_a_missed_call(
    browser, message_worker, user_factory, django_db_blocker, tmp_path_factory
):
    """Ann's tab goes away while her call rings at Ben's: the server ends it
    `failed`, and for Ben it is a missed call, told like one (the dialog just
    went)."""
    from web.tests.test_browser import pair_on_a_server_of_their_own

    ann_user, _ = _pair(user_factory, "ann_vanish", "ben_vanish")
    timers = {"CALL_RECONNECT_GRACE_S": 2, "CALL_SWEEP_INTERVAL_S": 1}
    directory = tmp_path_factory.mktemp("vanish")
    with pair_on_a_server_of_their_own(
        browser, django_db_blocker, directory, env=timers, logins=("ann_vanish", "ben_vanish")
    ) as (ann, ben):
        ann.page.get_by_role("button", name="Voice call").click()
        incoming = ben.page.get_by_role("dialog", name="Ann")
        expect(incoming).to_contain_text("is calling you")
        ann.page.close()
        expect(incoming).to_have_count(0, timeout=15_000)
        assert _last_call(ann_user).outcome == "failed"
        expect(ben.page.locator(".toast", has_text="Missed call from Ann").first).to_be_visible()
        ben.assert_clean()


def test_a_call_whose_peer_is_disabled_says_why_it_ended(people, user_factory):
    """An administrator disables Ben during his call with Ann: the call ends
    at once, and Ann's view says it was his account, not the connection."""
    from backoffice.services import do_disable_user

    ann_user, ben_user = _pair(user_factory, "ann_off", "ben_off")
    boss = user_factory("boss_off", is_staff=True, is_superuser=True)
    ann, ben = _in_a_call(people, ann_user, "ann_off", "ben_off")
    do_disable_user(actor=boss, user_id=str(ben_user.uuid), reason="spam")
    expect(ann.page.locator(".call-status")).to_have_text("The call ended: Ben's account is no longer active.")
    found = _wait_call(ann_user, ann.page, state="ended")
    assert (found.outcome, found.end_reason) == ("failed", "account_disabled")
    ann.assert_clean()
