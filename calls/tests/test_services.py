"""The call state machine's guarantees that frames alone cannot show: timers
kept in the rows (a restarted or different process ends the call), exactly
once with several sweepers, the database as the cluster-wide busy check, leases."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import UserStatus
from calls import services
from calls.models import Call, CallSlot
from calls.tests.helpers import ANSWER, OFFER, call_messages, candidate
from chatsite.errors import Blocked, Busy, CallState, Forbidden, NotContact, NotFound, TooLarge
from contacts.models import Block, Contact
from contacts.services import do_connect, do_delete_contact, do_update_contact

pytestmark = pytest.mark.django_db(transaction=True)


def ring(caller, callee, *, socket_id: str = "sock-caller", session_id: str | None = None) -> Call:
    return services.do_invite_call(
        caller=caller,
        to=str(callee.uuid),
        media="audio",
        sdp=OFFER,
        socket_id=socket_id,
        ref=None,
        **_session(session_id),
    )


def answer(call: Call, callee, *, socket_id: str = "sock-callee", session_id: str | None = None) -> Call:
    return services.do_accept_call(
        user=callee, call_id=str(call.uuid), sdp=ANSWER, socket_id=socket_id, ref=None, **_session(session_id)
    )


def _session(session_id: str | None) -> dict:
    # Only when given, so the calls that pass none run on code without the argument too.
    return {} if session_id is None else {"session_id": session_id}


def hold(user, socket_id: str, *, now, session: str | None = None) -> list:
    """What the sweeper of a process holding `socket_id` of `user` does at
    `now`: renew the user's lease and the lease of the endpoint it holds."""
    services.renew_leases(user_ids=[user.pk], now=now)
    sock = services.LocalSocket(
        user_id=user.pk, socket_id=socket_id, session_id=session, connected_at=now - dt.timedelta(hours=1)
    )
    return services.renew_endpoints(sockets=[sock], now=now)


def in_threads(n: int, fn) -> list:
    """Run `fn(i)` in `n` threads released together; returns results or exceptions."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_ring_timer_lives_in_the_row(alice, bob, settings):
    """Nothing about the timer is in memory: any process sweeping later ends the call."""
    call = ring(alice, bob)
    deadline = Call.objects.get(pk=call.pk).ring_deadline
    assert deadline == call.started_at + dt.timedelta(seconds=settings.CALL_RING_TIMEOUT_S)
    # The caller is still connected (some process renews her leases); Bob never answers.
    hold(alice, "sock-caller", now=deadline - dt.timedelta(seconds=1))
    assert services.sweep_due_calls(now=deadline - dt.timedelta(seconds=1)) == []
    [ended] = services.sweep_due_calls(now=deadline)
    assert ended.pk == call.pk
    row = Call.objects.get(pk=call.pk)
    assert (row.state, row.outcome, row.duration_s, row.ended_at) == ("ended", "missed", 0, deadline)
    assert (row.ring_deadline, row.offer, row.caller_socket) == (None, None, "")
    assert call_messages(alice, bob) == [
        {
            "content": {"call_id": str(call.uuid), "media": "audio", "outcome": "missed", "duration_s": 0},
            "sender": alice.pk,
        }
    ]
    assert not CallSlot.objects.exists()
    assert services.sweep_due_calls(now=deadline + dt.timedelta(minutes=5)) == []
    assert len(call_messages(alice, bob)) == 1


def test_several_sweepers_end_a_call_exactly_once(alice, bob, dave):
    calls = [ring(alice, bob)]
    later = timezone.now() + dt.timedelta(minutes=1)
    results = in_threads(4, lambda i: services.sweep_due_calls(now=later))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(c.pk for r in results for c in r) == [calls[0].pk]
    assert len(call_messages(alice, bob)) == 1
    assert Call.objects.get(pk=calls[0].pk).outcome == "missed"


def test_a_frame_and_the_sweeper_racing_end_the_call_once(alice, bob):
    call = ring(alice, bob)
    later = timezone.now() + dt.timedelta(minutes=1)

    def contender(i: int):
        if i == 0:
            return services.sweep_due_calls(now=later)
        return services.do_cancel_call(user=alice, call_id=str(call.uuid))

    results = in_threads(2, contender)
    swept, cancelled = results
    # Whoever came second found the call ended: no second outcome, no second message.
    assert isinstance(cancelled, (Call, CallState)), results
    assert isinstance(swept, list)
    outcome = Call.objects.get(pk=call.pk).outcome
    assert outcome == ("cancelled" if isinstance(cancelled, Call) else "missed")
    assert len(swept) == (0 if isinstance(cancelled, Call) else 1)
    assert [m["content"]["outcome"] for m in call_messages(alice, bob)] == [outcome]


def test_two_callers_racing_for_one_callee_one_gets_busy(alice, bob, dave):
    def call_bob(i: int):
        return ring([alice, dave][i], bob, socket_id=f"s{i}")

    results = in_threads(2, call_bob)
    assert sorted(type(r).__name__ for r in results) == ["Busy", "Call"], results
    winner = next(r for r in results if isinstance(r, Call))
    assert set(CallSlot.objects.values_list("user_id", "call_id")) == {
        (winner.caller_id, winner.pk),
        (bob.pk, winner.pk),
    }
    assert Call.objects.filter(outcome="busy").count() == 1
    assert Call.objects.filter(state="ringing").get().pk == winner.pk


def test_calling_each_other_at_once_does_not_deadlock(alice, bob):
    def call_other(i: int):
        me, other = (alice, bob) if i == 0 else (bob, alice)
        return ring(me, other, socket_id=f"s{i}")

    results = in_threads(2, call_other)
    assert sorted(type(r).__name__ for r in results) == ["Busy", "Call"], results
    assert CallSlot.objects.count() == 2


def test_busy_when_either_side_is_in_a_call(alice, bob, dave):
    ring(alice, bob)
    # Each says whose call is in the way: not "the other party" when it is mine.
    with pytest.raises(Busy, match=f"^{bob.nickname} is already in a call.$"):
        ring(dave, bob)  # the callee is busy
    with pytest.raises(Busy, match="^You are already in a call.$"):
        ring(bob, dave)  # the caller is busy
    busy = list(Call.objects.filter(outcome="busy").order_by("id").values_list("caller_id", "callee_id", "state"))
    assert busy == [(dave.pk, bob.pk, "ended"), (bob.pk, dave.pk, "ended")]
    assert call_messages(dave, bob) == []


def test_busy_names_the_callee_by_the_callers_remark(alice, bob, dave):
    """The caller knows the callee by their own remark when they set one, as in their contact list."""
    ring(alice, bob)
    do_update_contact(user=dave, other_id=str(bob.uuid), remark="Bobby from work")
    with pytest.raises(Busy, match="^Bobby from work is already in a call.$"):
        ring(dave, bob)
    # A remark is private to its owner: clearing it brings back the nickname.
    do_update_contact(user=dave, other_id=str(bob.uuid), remark="")
    with pytest.raises(Busy, match=f"^{bob.nickname} is already in a call.$"):
        ring(dave, bob)


def test_a_party_fails_only_after_the_lease_runs_out(alice, bob, carol, settings):
    call = ring(alice, bob)
    answer(call, bob)
    t = timezone.now()
    grace = dt.timedelta(seconds=settings.CALL_RECONNECT_GRACE_S + settings.CALL_SWEEP_INTERVAL_S)
    # Only users in a live call are touched (carol has a socket here but no call).
    assert services.renew_leases(user_ids=[alice.pk, bob.pk, carol.pk], now=t) == 2
    # Alice keeps a socket on this process, Bob has none any more.
    assert services.renew_leases(user_ids=[alice.pk, carol.pk], now=t + grace) == 1
    assert services.sweep_due_calls(now=t + grace - dt.timedelta(seconds=1)) == []
    [ended] = services.sweep_due_calls(now=t + grace + dt.timedelta(seconds=1))
    row = Call.objects.get(pk=ended.pk)
    assert (row.outcome, row.ended_by_id) == ("failed", None)
    assert row.duration_s == int((row.ended_at - row.answered_at).total_seconds() + 0.5)


def test_a_new_socket_renews_the_lease(alice, bob, settings):
    call = ring(alice, bob)
    answer(call, bob)
    grace = dt.timedelta(seconds=settings.CALL_RECONNECT_GRACE_S + settings.CALL_SWEEP_INTERVAL_S)
    CallSlot.objects.update(seen_at=timezone.now() - grace - dt.timedelta(seconds=5))
    assert services.on_user_connected(user_id=bob.pk) is None  # active: nothing to ring
    assert services.on_user_connected(user_id=alice.pk) is None
    assert services.sweep_due_calls() == []


def test_while_ringing_only_the_caller_can_fail(alice, bob, settings):
    call = ring(alice, bob)
    t = timezone.now()
    grace = dt.timedelta(seconds=settings.CALL_RECONNECT_GRACE_S + settings.CALL_SWEEP_INTERVAL_S)
    later = t + grace + dt.timedelta(seconds=1)
    # Bob (the callee) has no socket at all: that is not a failure, the call rings on.
    hold(alice, "sock-caller", now=later)
    assert services.sweep_due_calls(now=later) == []
    # Alice (the caller) gone for the grace: failed.
    [ended] = services.sweep_due_calls(now=later + grace + dt.timedelta(seconds=1))
    assert ended.pk == call.pk and Call.objects.get(pk=call.pk).outcome == "failed"


def test_the_ring_deadline_wins_over_a_lapsed_lease(alice, bob):
    call = ring(alice, bob)
    [ended] = services.sweep_due_calls(now=timezone.now() + dt.timedelta(hours=1))
    assert ended.pk == call.pk and Call.objects.get(pk=call.pk).outcome == "missed"


def test_on_user_connected_rings_a_new_callee_socket(alice, bob):
    call = ring(alice, bob)
    frame = services.on_user_connected(user_id=bob.pk)
    assert frame["type"] == "call.incoming" and frame["call_id"] == str(call.uuid)
    assert frame["from"]["id"] == str(alice.uuid) and frame["sdp"] == OFFER and frame["media"] == "audio"
    assert services.on_user_connected(user_id=alice.pk) is None
    assert services.ended_frame_if_ended(call_id=str(call.uuid)) is None
    services.do_reject_call(user=bob, call_id=str(call.uuid))
    assert services.on_user_connected(user_id=bob.pk) is None
    assert services.ended_frame_if_ended(call_id=str(call.uuid)) == {
        "type": "call.ended",
        "call_id": str(call.uuid),
        "by": str(bob.uuid),
        "outcome": "rejected",
        "duration_s": 0,
    }


def test_a_closed_endpoint_is_released_and_taken_over(alice, bob):
    call = ring(alice, bob, socket_id="a1")
    answer(call, bob, socket_id="b1")
    services.release_endpoints(call_ids=[str(call.uuid)], socket_id="b1")
    row = Call.objects.get(pk=call.pk)
    assert (row.caller_socket, row.callee_socket) == ("a1", "")
    services.do_relay_candidate(user=bob, call_id=str(call.uuid), candidate=candidate(1), socket_id="b2")
    assert Call.objects.get(pk=call.pk).callee_socket == "b2"
    with pytest.raises(CallState):
        services.do_relay_candidate(user=bob, call_id=str(call.uuid), candidate=candidate(1), socket_id="b3")


def test_held_candidates_are_capped(alice, bob):
    call = ring(alice, bob, socket_id="a1")
    for n in range(services.MAX_HELD_CANDIDATES):
        services.do_relay_candidate(user=alice, call_id=str(call.uuid), candidate=candidate(n), socket_id="a1")
    with pytest.raises(TooLarge):
        services.do_relay_candidate(user=alice, call_id=str(call.uuid), candidate=candidate(0), socket_id="a1")
    assert len(Call.objects.get(pk=call.pk).held_candidates) == services.MAX_HELD_CANDIDATES
    answer(call, bob)
    assert Call.objects.get(pk=call.pk).held_candidates == []


def test_relaying_a_candidate_is_one_query(alice, bob):
    call = ring(alice, bob, socket_id="a1")
    answer(call, bob, socket_id="b1")
    with CaptureQueriesContext(connection) as captured:
        services.do_relay_candidate(user=alice, call_id=str(call.uuid), candidate=candidate(1), socket_id="a1")
    statements = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    assert len(statements) == 1 and statements[0].startswith("SELECT"), statements


def test_ending_calls_between_two_users(alice, bob):
    call = ring(alice, bob)
    [ended] = services.do_end_calls_between(user=bob, other=alice)
    assert ended.pk == call.pk
    row = Call.objects.get(pk=call.pk)
    assert (row.outcome, row.ended_by_id) == ("rejected", bob.pk)
    call = ring(alice, bob)
    answer(call, bob)
    services.do_end_calls_between(user=alice, other=bob)
    assert Call.objects.get(pk=call.pk).outcome == "completed"
    assert services.do_end_calls_between(user=alice, other=bob) == []
    assert [m["content"]["outcome"] for m in call_messages(alice, bob)] == ["rejected", "completed"]


def test_the_call_message_goes_to_the_direct_conversation_even_without_the_link(alice, bob):
    """A call whose conversation link was lost still leaves its message in the pair's conversation."""
    call = ring(alice, bob)
    Call.objects.filter(pk=call.pk).update(conversation=None)
    services.do_cancel_call(user=alice, call_id=str(call.uuid))
    assert [m["content"]["outcome"] for m in call_messages(alice, bob)] == ["cancelled"]


def test_the_sweep_command(alice, bob, settings):
    settings.CALL_RING_TIMEOUT_S = 1
    call = ring(alice, bob)
    Call.objects.filter(pk=call.pk).update(ring_deadline=timezone.now() - dt.timedelta(seconds=1))
    out = StringIO()
    call_command("sweep_calls", stdout=out)
    assert out.getvalue() == f"{call.uuid} missed\n"
    out = StringIO()
    call_command("sweep_calls", stdout=out)
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- who may still talk


def test_removing_a_contact_ends_their_live_call(alice, bob):
    """A removal takes effect at once, as a block does: a ringing call is
    rejected or cancelled, an active one completed, as the remover's doing."""
    call = ring(alice, bob)
    do_delete_contact(user=bob, other_id=str(alice.uuid))
    row = Call.objects.get(pk=call.pk)
    assert (row.state, row.outcome, row.ended_by_id) == ("ended", "rejected", bob.pk)
    do_connect(user=alice, other=bob)
    call = ring(alice, bob)
    answer(call, bob)
    do_delete_contact(user=alice, other_id=str(bob.uuid))
    row = Call.objects.get(pk=call.pk)
    assert (row.state, row.outcome, row.ended_by_id) == ("ended", "completed", alice.pk)
    assert not CallSlot.objects.exists()


def test_accept_rechecks_that_the_two_may_still_talk(alice, bob):
    call = ring(alice, bob)
    # The relation gone without its ending the call (a call from before the
    # rule, or a gap between the two): the answer is refused all the same.
    Contact.objects.filter(owner__in=(alice, bob)).delete()
    with pytest.raises(NotContact):
        answer(call, bob)
    do_connect(user=alice, other=bob)
    block = Block.objects.create(blocker=alice, blocked=bob)
    with pytest.raises(Blocked):
        answer(call, bob)
    block.delete()
    assert answer(call, bob).state == "active"


def test_accept_refuses_a_call_from_a_caller_no_longer_active(alice, bob):
    call = ring(alice, bob)
    type(alice).objects.filter(pk=alice.pk).update(status=UserStatus.DISABLED)
    # A callee socket that connects now is not rung, and an answer is refused.
    assert services.on_user_connected(user_id=bob.pk) is None
    with pytest.raises(NotFound):
        answer(call, bob)
    assert Call.objects.get(pk=call.pk).state == "ringing"


def test_ending_the_calls_of_a_user_tells_both_with_the_reason(events, alice, bob, carol):
    call = ring(alice, bob)
    answer(call, bob)
    with events.capture():
        [ended] = services.do_end_calls_of_user(user=bob, reason=services.REASON_ACCOUNT_DISABLED)
        assert services.do_end_calls_of_user(user=carol, reason=services.REASON_ACCOUNT_DISABLED) == []
    row = Call.objects.get(pk=call.pk)
    assert (row.outcome, row.ended_by_id, row.end_reason) == ("failed", None, "account_disabled")
    frame = {
        "type": "call.ended",
        "call_id": str(call.uuid),
        "by": None,
        "outcome": "failed",
        "duration_s": row.duration_s,
        "reason": "account_disabled",
    }
    assert events.of_type("call.ended") == [({alice.pk}, frame), ({bob.pk}, frame)]
    assert services.ended_frame_if_ended(call_id=str(call.uuid)) == frame
    assert not CallSlot.objects.exists()


def test_bots_take_no_calls(alice, user_factory):
    bot = user_factory("helper_bot", nickname="Helper", is_bot=True, bot_owner=alice)
    do_connect(user=alice, other=bot)
    with pytest.raises(Forbidden):
        ring(alice, bot)
    with pytest.raises(Forbidden):
        ring(bot, alice)
    assert not Call.objects.exists()


def test_a_repeated_call_ended_carries_the_reason(alice, bob):
    call = ring(alice, bob)
    services.do_reject_call(user=bob, call_id=str(call.uuid), reason="media")
    assert services.ended_frame_if_ended(call_id=str(call.uuid)) == {
        "type": "call.ended",
        "call_id": str(call.uuid),
        "by": str(bob.uuid),
        "outcome": "rejected",
        "duration_s": 0,
        "reason": "media",
    }


# --------------------------------------------------------------------------- the device in the call


def test_a_released_endpoint_fails_the_call_though_the_party_keeps_other_sockets(alice, bob, settings):
    call = ring(alice, bob, socket_id="a1")
    answer(call, bob, socket_id="b1")
    t = timezone.now()
    grace = dt.timedelta(seconds=settings.CALL_RECONNECT_GRACE_S + settings.CALL_SWEEP_INTERVAL_S)
    services.release_endpoints(call_ids=[str(call.uuid)], socket_id="b1", now=t)
    # Both keep sockets on this process (Bob's other device: "b9"), which
    # renews their leases and Alice's endpoint; Bob's endpoint stays gone.
    hold(alice, "a1", now=t + grace)
    assert hold(bob, "b9", now=t + grace) == []
    assert services.sweep_due_calls(now=t + grace - dt.timedelta(seconds=1)) == []
    [ended] = services.sweep_due_calls(now=t + grace + dt.timedelta(seconds=1))
    row = Call.objects.get(pk=ended.pk)
    assert (row.outcome, row.ended_by_id) == ("failed", None)


def test_a_taken_over_endpoint_keeps_the_call(alice, bob, settings):
    call = ring(alice, bob, socket_id="a1")
    answer(call, bob, socket_id="b1")
    t = timezone.now()
    grace = dt.timedelta(seconds=settings.CALL_RECONNECT_GRACE_S + settings.CALL_SWEEP_INTERVAL_S)
    services.release_endpoints(call_ids=[str(call.uuid)], socket_id="b1", now=t)
    services.do_relay_candidate(user=bob, call_id=str(call.uuid), candidate=candidate(1), socket_id="b2")
    later = timezone.now() + grace + dt.timedelta(seconds=1)
    hold(alice, "a1", now=later)
    hold(bob, "b2", now=later)
    assert services.sweep_due_calls(now=later) == []
    assert Call.objects.get(pk=call.pk).state == "active"


def test_an_endpoint_its_process_stopped_renewing_is_taken_over(alice, bob, settings):
    """A node that dies runs no disconnect hook: Bob's endpoint stays bound to
    a socket that is gone. Once its lease is QUIET_SWEEPS intervals old, a
    socket of Bob's takes it over with its next signal."""
    call = ring(alice, bob, socket_id="a1")
    answer(call, bob, socket_id="b1")
    with pytest.raises(CallState):  # b1 renewed just now: it holds the media
        services.do_relay_candidate(user=bob, call_id=str(call.uuid), candidate=candidate(1), socket_id="b2")
    quiet = dt.timedelta(seconds=services.QUIET_SWEEPS * settings.CALL_SWEEP_INTERVAL_S + 1)
    Call.objects.filter(pk=call.pk).update(callee_seen_at=timezone.now() - quiet)
    services.do_relay_candidate(user=bob, call_id=str(call.uuid), candidate=candidate(1), socket_id="b2")
    row = Call.objects.get(pk=call.pk)
    assert row.callee_socket == "b2" and row.callee_seen_at > timezone.now() - quiet
    with pytest.raises(CallState):
        services.do_relay_candidate(user=bob, call_id=str(call.uuid), candidate=candidate(2), socket_id="b3")


def test_a_reconnected_socket_of_the_same_session_gets_the_endpoint_back(alice, bob, settings):
    """Without signalling: the sweeper of the process holding the new socket
    hands the endpoint over; never to another session's socket, nor to one
    that was open before the endpoint went."""
    call = ring(alice, bob, socket_id="a1", session_id="sa")
    answer(call, bob, socket_id="b1", session_id="sb")
    t = timezone.now()
    services.release_endpoints(call_ids=[str(call.uuid)], socket_id="b1", now=t)
    later = t + dt.timedelta(seconds=1)

    def sock(socket_id: str, session: str, connected_at) -> services.LocalSocket:
        return services.LocalSocket(user_id=bob.pk, socket_id=socket_id, session_id=session, connected_at=connected_at)

    older = t - dt.timedelta(minutes=5)
    services.renew_leases(user_ids=[bob.pk], now=later)
    assert services.renew_endpoints(sockets=[sock("b7", "other", later), sock("b8", "sb", older)], now=later) == []
    assert Call.objects.get(pk=call.pk).callee_socket == ""
    handed = services.renew_endpoints(
        sockets=[sock("b7", "other", later), sock("b8", "sb", older), sock("b2", "sb", later)], now=later
    )
    assert handed == [("b2", str(call.uuid))]
    row = Call.objects.get(pk=call.pk)
    assert (row.callee_socket, row.callee_session, row.callee_seen_at) == ("b2", "sb", later)
    # And after a node died without releasing: the same, once the lease is quiet.
    dead = later + dt.timedelta(seconds=services.QUIET_SWEEPS * settings.CALL_SWEEP_INTERVAL_S + 1)
    assert services.renew_endpoints(sockets=[sock("b3", "sb", dead)], now=dead) == [("b3", str(call.uuid))]
