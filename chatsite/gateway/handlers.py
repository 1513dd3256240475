"""Frames and hooks that belong to the gateway itself: ping, presence."""

from __future__ import annotations

import logging

from chatsite import presence, realtime
from chatsite.db import run_in_db_thread
from chatsite.errors import Invalid
from chatsite.gateway.registry import frame_handler, on_connect, on_disconnect
from chatsite.wire import iso_from_timestamp, now_iso, parse_uuid

logger = logging.getLogger(__name__)

PRESENCE_SUBSCRIBE_MAX = 500


@frame_handler("ping")
async def handle_ping(conn, frame: dict) -> None:
    await conn.send_frame({"type": "pong", "ref": frame.get("ref")})


# --------------------------------------------------------------------------- presence


def _presence_frame(user_uuid: str, status: presence.Status) -> dict:
    return {
        "type": "presence",
        "user": user_uuid,
        "online": status.online,
        "last_seen": now_iso() if status.online else iso_from_timestamp(status.last_seen),
    }


def _audience(user_id: int) -> tuple[str, list[int]]:
    """The user's uuid and the contacts who may see their presence (no block
    either way). One query: it runs whenever someone comes online or goes
    offline, the busiest moments being connect storms."""
    from django.db import connection

    from accounts.models import User
    from contacts.models import Block, Contact

    q = connection.ops.quote_name
    users, contacts, blocks = (q(m._meta.db_table) for m in (User, Contact, Block))
    sql = (
        f"SELECT u.uuid, c.other_id FROM {users} u LEFT JOIN {contacts} c ON c.owner_id = u.id "
        f"AND NOT EXISTS (SELECT 1 FROM {blocks} b WHERE (b.blocker_id = u.id AND b.blocked_id = c.other_id) "
        f"OR (b.blocker_id = c.other_id AND b.blocked_id = u.id)) WHERE u.id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        rows = cursor.fetchall()
    if not rows:
        return "", []
    import uuid

    return str(uuid.UUID(str(rows[0][0]))), [other for _, other in rows if other is not None]


async def announce(user_id: int, *, online: bool) -> None:
    """Tell the user's contacts (the sockets among them that subscribed)."""
    user_uuid, audience = await run_in_db_thread(_audience, user_id=user_id)
    if not audience:
        return
    [status] = await run_in_db_thread(presence.store().statuses, user_ids=[user_id])
    if status.online != online:
        return  # changed again meanwhile; that change announces itself
    envelope = realtime.topic_envelope(presence.topic(user_id), _presence_frame(user_uuid, status))
    await realtime.hub().adeliver(audience, envelope)


@on_connect
async def presence_connect(conn) -> None:
    presence.track(conn, announce)
    came_online = await run_in_db_thread(presence.store().connect, user_id=conn.user_id, socket_id=conn.socket_id)
    if came_online:
        await announce(conn.user_id, online=True)


@on_disconnect
async def presence_disconnect(conn) -> None:
    presence.untrack(conn)
    went_offline = await run_in_db_thread(presence.store().disconnect, user_id=conn.user_id, socket_id=conn.socket_id)
    if went_offline:
        await announce(conn.user_id, online=False)


def _subscribable(*, user, uuids: list) -> list[tuple[int, str]]:
    """(pk, uuid) of the contacts among `uuids` without a block either way."""
    from contacts.models import Contact
    from contacts.selectors import blocked_either_way_ids

    hidden = blocked_either_way_ids(user=user)
    rows = Contact.objects.filter(owner=user, other__uuid__in=uuids).values_list("other_id", "other__uuid")
    return [(pk, str(uid)) for pk, uid in rows if pk not in hidden]


@frame_handler("presence.subscribe")
async def handle_presence_subscribe(conn, frame: dict) -> None:
    from django.conf import settings

    users = frame.get("users")
    if not isinstance(users, list) or len(users) > PRESENCE_SUBSCRIBE_MAX:
        raise Invalid.field("users", f"A list of at most {PRESENCE_SUBSCRIBE_MAX} user ids.")
    uuids = [u for u in (parse_uuid(x) for x in users) if u is not None]
    allowed = await run_in_db_thread(_subscribable, user=conn.user, uuids=uuids)
    room = settings.PRESENCE_MAX_SUBSCRIPTIONS - len(conn.topics)
    allowed = allowed[: max(0, room)]
    for pk, _ in allowed:
        conn.topics.add(presence.topic(pk))
    statuses = await run_in_db_thread(presence.store().statuses, user_ids=[pk for pk, _ in allowed])
    for (_, user_uuid), status in zip(allowed, statuses, strict=True):
        await conn.send_frame(_presence_frame(user_uuid, status))
