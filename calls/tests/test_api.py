"""REST: GET /calls (the call log) and GET /calls/ice-servers (rest.md "Calls")."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.serializers import user_to_wire
from calls import services
from calls.models import Call
from calls.serializers import call_to_wire
from calls.tests.helpers import ANSWER, OFFER
from chatsite.errors import Busy
from chatsite.wire import iso

pytestmark = pytest.mark.django_db


def ring(caller, callee) -> Call:
    return services.do_invite_call(
        caller=caller, to=str(callee.uuid), media="video", sdp=OFFER, socket_id="s", ref=None
    )


def statements(captured) -> int:
    return len([q for q in captured.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT"))])


def test_the_call_log_shows_every_field(api, alice, bob):
    call = ring(alice, bob)
    services.do_accept_call(user=bob, call_id=str(call.uuid), sdp=ANSWER, socket_id="b", ref=None)
    services.do_hangup_call(user=bob, call_id=str(call.uuid))
    call.refresh_from_db()
    response = api.get("/api/v1/calls")
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {
                "id": str(call.uuid),
                "caller": user_to_wire(alice),
                "callee": user_to_wire(bob),
                "media": "video",
                "state": "ended",
                "outcome": "completed",
                "started_at": iso(call.started_at),
                "answered_at": iso(call.answered_at),
                "ended_at": iso(call.ended_at),
                "duration_s": call.duration_s,
                "reason": None,
            }
        ],
        "next": None,
    }


def test_the_call_log_says_why_a_call_ended_where_the_outcome_does_not(api_for, alice, bob, admin_user):
    """The callee's words with a rejection, and an account an administrator
    disabled mid-call: the log keeps what `call.ended` said."""
    from backoffice.services import do_disable_user

    declined = ring(alice, bob)
    services.do_reject_call(user=bob, call_id=str(declined.uuid), reason="In a meeting")
    cut = ring(bob, alice)
    services.do_accept_call(user=alice, call_id=str(cut.uuid), sdp=ANSWER, socket_id="a", ref=None)
    do_disable_user(actor=admin_user, user_id=str(bob.uuid), reason="spam")

    log = {c["id"]: c for c in api_for(alice).get("/api/v1/calls").json()["results"]}
    assert (log[str(declined.uuid)]["outcome"], log[str(declined.uuid)]["reason"]) == ("rejected", "In a meeting")
    assert (log[str(cut.uuid)]["outcome"], log[str(cut.uuid)]["reason"]) == ("failed", "account_disabled")


def test_a_live_call_is_listed_as_it_is(api_for, alice, bob):
    call = ring(alice, bob)
    [item] = api_for(bob).get("/api/v1/calls").json()["results"]
    assert item["id"] == str(call.uuid)
    assert (item["state"], item["outcome"], item["answered_at"], item["ended_at"], item["duration_s"]) == (
        "ringing",
        None,
        None,
        None,
        0,
    )


def test_newest_first_paged_and_only_the_callers_own(api, api_for, alice, bob, dave, carol):
    made = []
    for _ in range(3):
        call = ring(alice, bob)
        services.do_cancel_call(user=alice, call_id=str(call.uuid))
        made.append(call)
    call = ring(bob, alice)
    services.do_reject_call(user=alice, call_id=str(call.uuid))
    made.append(call)
    # A busy attempt: in the caller's (Dave's) log, not in the callee's (Bob's).
    live = ring(alice, bob)
    with pytest.raises(Busy):
        ring(dave, bob)
    busy = Call.objects.get(outcome="busy")
    made.append(live)
    newest_first = [str(c.uuid) for c in reversed(made)]

    first = api.get("/api/v1/calls?limit=2").json()
    assert [c["id"] for c in first["results"]] == newest_first[:2] and first["next"]
    second = api.get(f"/api/v1/calls?limit=2&cursor={first['next']}").json()
    assert [c["id"] for c in second["results"]] == newest_first[2:4] and second["next"]
    third = api.get(f"/api/v1/calls?limit=2&cursor={second['next']}").json()
    assert [c["id"] for c in third["results"]] == newest_first[4:] and third["next"] is None

    assert [c["id"] for c in api_for(bob).get("/api/v1/calls").json()["results"]] == newest_first
    dave_log = api_for(dave).get("/api/v1/calls").json()["results"]
    assert [(c["id"], c["outcome"], c["callee"]["id"]) for c in dave_log] == [(str(busy.uuid), "busy", str(bob.uuid))]
    assert api_for(carol).get("/api/v1/calls").json() == {"results": [], "next": None}


def test_the_call_log_costs_a_fixed_number_of_queries(api, alice, bob, dave):
    for _ in range(2):
        services.do_cancel_call(user=alice, call_id=str(ring(alice, bob).uuid))
    with CaptureQueriesContext(connection) as few:
        assert len(api.get("/api/v1/calls?limit=1").json()["results"]) == 1
    for _ in range(6):
        services.do_cancel_call(user=alice, call_id=str(ring(alice, bob).uuid))
    with CaptureQueriesContext(connection) as many:
        page = api.get("/api/v1/calls").json()
    assert len(page["results"]) == 8
    assert statements(many) == statements(few)
    cursor = api.get("/api/v1/calls?limit=1").json()["next"]
    with CaptureQueriesContext(connection) as paged:
        assert len(api.get(f"/api/v1/calls?limit=1&cursor={cursor}").json()["results"]) == 1
    assert statements(paged) == statements(few) + 1  # the cursor's anchor


@pytest.mark.parametrize(
    "query", ["cursor=garbage", "cursor=WyJ4Il0", "limit=0", "limit=101", "limit=x", "limit=%C2%B2", "limit=%D9%A3"]
)
def test_bad_page_parameters(api, query):
    response = api.get(f"/api/v1/calls?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_the_call_log_needs_a_login(anon):
    for path in ("/api/v1/calls", "/api/v1/calls/ice-servers"):
        response = anon.get(path)
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_ice_servers_with_nothing_configured(api, settings):
    settings.ICE_STUN_URLS, settings.TURN_URLS, settings.TURN_SHARED_SECRET = [], [], None
    response = api.get("/api/v1/calls/ice-servers")
    assert response.status_code == 200
    assert response.json() == {"ice_servers": [], "ttl": settings.TURN_TTL_S}


def test_ice_servers_with_a_turn_shared_secret(api, alice, settings):
    settings.ICE_STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    settings.TURN_SHARED_SECRET = "s3cret-shared-with-coturn"
    settings.TURN_TTL_S = 600
    before = int(time.time())
    response = api.get("/api/v1/calls/ice-servers")
    after = int(time.time())
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    stun, turn = body["ice_servers"]
    assert body["ttl"] == 600
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"]
    expiry, user_id = turn["username"].split(":")
    assert user_id == str(alice.uuid) and before + 600 <= int(expiry) <= after + 600
    # What coturn computes with `use-auth-secret` / `static-auth-secret`.
    expected = base64.b64encode(
        hmac.new(b"s3cret-shared-with-coturn", turn["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected
    assert set(turn) == {"urls", "username", "credential"}


def test_ice_servers_with_fixed_turn_credentials(api, settings):
    settings.ICE_STUN_URLS = []
    settings.TURN_URLS = ["turn:turn.example.org"]
    settings.TURN_SHARED_SECRET = None
    settings.TURN_USERNAME, settings.TURN_PASSWORD = "chat", "pw"
    assert api.get("/api/v1/calls/ice-servers").json()["ice_servers"] == [
        {"urls": ["turn:turn.example.org"], "username": "chat", "credential": "pw"}
    ]


def test_the_call_wire_shape_matches_its_serializer(alice, bob):
    from calls.serializers import CallOut

    call = Call.objects.select_related("caller__avatar", "callee__avatar").get(pk=ring(alice, bob).pk)
    assert set(call_to_wire(call)) == set(CallOut().fields)
