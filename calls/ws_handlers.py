"""WebSocket frames of calls (docs/protocol/websocket.md "Calls"): thin adapters
over calls.services, plus the per-process sweeper that runs the call timers."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.utils import timezone

from calls import services
from chatsite import lifespan
from chatsite.db import run_in_db_thread
from chatsite.gateway.consumer import local_connections
from chatsite.gateway.registry import frame_handler, on_connect, on_disconnect

logger = logging.getLogger(__name__)

# conn.state[ENDPOINTS]: ids of the calls whose media this socket holds.
ENDPOINTS = "call_endpoints"
# conn.state[CONNECTED_AT]: when the socket connected (wall clock, for the sweeper).
CONNECTED_AT = "calls_connected_at"


def _hold_endpoint(conn, call_id: str) -> None:
    conn.state.setdefault(ENDPOINTS, set()).add(call_id)


async def _signal(conn) -> None:
    await services.acheck_signal_rate(user_id=conn.user_id)


@frame_handler("call.invite")
async def handle_call_invite(conn, frame: dict) -> None:
    await _signal(conn)
    await services.acheck_invite_rate(user_id=conn.user_id)
    call = await conn.run_sync(
        services.do_invite_call,
        caller=conn.user,
        to=frame.get("to"),
        media=frame.get("media"),
        sdp=frame.get("sdp"),
        socket_id=conn.socket_id,
        session_id=conn.session_id,
        ref=frame["ref"],
    )
    _hold_endpoint(conn, str(call.uuid))


@frame_handler("call.accept", ref_field="call_id")
async def handle_call_accept(conn, frame: dict) -> None:
    await _signal(conn)
    call = await conn.run_sync(
        services.do_accept_call,
        user=conn.user,
        call_id=frame.get("call_id"),
        sdp=frame.get("sdp"),
        socket_id=conn.socket_id,
        session_id=conn.session_id,
        ref=frame["ref"],
    )
    _hold_endpoint(conn, str(call.uuid))


@frame_handler("call.ice", ref_field="call_id")
async def handle_call_ice(conn, frame: dict) -> None:
    await _signal(conn)
    call = await conn.run_sync(
        services.do_relay_candidate,
        user=conn.user,
        call_id=frame.get("call_id"),
        candidate=frame.get("candidate"),
        socket_id=conn.socket_id,
        session_id=conn.session_id,
    )
    _hold_endpoint(conn, str(call.uuid))


@frame_handler("call.reject", ref_field="call_id")
async def handle_call_reject(conn, frame: dict) -> None:
    await _signal(conn)
    await conn.run_sync(
        services.do_reject_call,
        user=conn.user,
        call_id=frame.get("call_id"),
        reason=frame.get("reason"),
        socket_id=conn.socket_id,
        ref=frame["ref"],
    )


@frame_handler("call.cancel", ref_field="call_id")
async def handle_call_cancel(conn, frame: dict) -> None:
    await _signal(conn)
    await conn.run_sync(
        services.do_cancel_call,
        user=conn.user,
        call_id=frame.get("call_id"),
        socket_id=conn.socket_id,
        ref=frame["ref"],
    )


@frame_handler("call.hangup", ref_field="call_id")
async def handle_call_hangup(conn, frame: dict) -> None:
    await _signal(conn)
    await conn.run_sync(
        services.do_hangup_call,
        user=conn.user,
        call_id=frame.get("call_id"),
        socket_id=conn.socket_id,
        ref=frame["ref"],
    )


# --------------------------------------------------------------------------- sockets


@on_connect
async def calls_connect(conn) -> None:
    conn.state[CONNECTED_AT] = timezone.now()
    incoming = await conn.run_sync(services.on_user_connected, user_id=conn.user_id)
    if incoming is None:
        return
    await conn.send_frame(incoming)
    # If the call ended between our read and the frame, this socket may have
    # got `call.ended` first: repeat it so the device stops ringing.
    ended = await conn.run_sync(services.ended_frame_if_ended, call_id=incoming["call_id"])
    if ended is not None:
        await conn.send_frame(ended)


@on_disconnect
async def calls_disconnect(conn) -> None:
    held = conn.state.get(ENDPOINTS)
    if held:
        await conn.run_sync(services.release_endpoints, call_ids=list(held), socket_id=conn.socket_id)


# --------------------------------------------------------------------------- the sweeper


def _local_sockets() -> tuple[list[services.LocalSocket], dict]:
    """This process's open sockets that finished connecting, and each by its id."""
    conns = {c.socket_id: c for c in local_connections() if not c.closing and c.state.get(CONNECTED_AT) is not None}
    sockets = [
        services.LocalSocket(
            user_id=c.user_id, socket_id=c.socket_id, session_id=c.session_id, connected_at=c.state[CONNECTED_AT]
        )
        for c in conns.values()
    ]
    return sockets, conns


@lifespan.task("calls sweep")
async def sweep_calls() -> None:
    """Every CALL_SWEEP_INTERVAL_S, renew the leases of this process's users in
    a call and of the endpoints its sockets hold, and end the due calls
    (services.sweep_tick). Every node runs one; the rows' locks make each call
    end once. A socket the tick handed an endpoint to now holds it (so its
    close releases it)."""
    while True:
        await asyncio.sleep(float(settings.CALL_SWEEP_INTERVAL_S))
        try:
            sockets, conns = _local_sockets()
            for socket_id, call_id in await run_in_db_thread(services.sweep_tick, local_sockets=sockets):
                conn = conns.get(socket_id)
                if conn is not None:
                    _hold_endpoint(conn, call_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("call sweep failed; retrying next round", exc_info=True)
