"""Presence on the WebSocket: a socket's user comes online and goes offline
(connect and disconnect hooks), and a client follows contacts' presence
(`presence.subscribe`). Who may follow whom is the pair rule (contacts.selectors)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext

from accounts.models import User
from chatsite.db import run_in_db_thread
from chatsite.errors import Invalid
from chatsite.gateway.registry import frame_handler, on_connect, on_disconnect
from chatsite.wire import parse_uuid
from contacts import presence
from contacts.selectors import talk_partners

PRESENCE_SUBSCRIBE_MAX = 500


@on_connect
async def presence_connect(conn) -> None:
    came_online = await run_in_db_thread(presence.store().connect, user_id=conn.user_id, socket_id=conn.socket_id)
    if came_online:
        await presence.announce(conn.user_id, online=True)


@on_disconnect
async def presence_disconnect(conn) -> None:
    went_offline = await run_in_db_thread(presence.store().disconnect, user_id=conn.user_id, socket_id=conn.socket_id)
    if went_offline:
        await presence.announce(conn.user_id, online=False)


def _subscribable(*, user, uuids: list) -> list[tuple[int, str]]:
    """(pk, uuid) of the users among `uuids` the user may talk with (the pair rule)."""
    found = dict(User.objects.filter(uuid__in=uuids).values_list("pk", "uuid"))
    return [(pk, str(found[pk])) for pk in talk_partners(user=user, among=list(found))]


@frame_handler("presence.subscribe")
async def handle_presence_subscribe(conn, frame: dict) -> None:
    users = frame.get("users")
    # Ids of users who cannot be followed are ignored; what is not even a string is a malformed frame.
    if not isinstance(users, list) or len(users) > PRESENCE_SUBSCRIBE_MAX or not all(isinstance(u, str) for u in users):
        raise Invalid.field(
            "users",
            gettext("A list of at most %(presence_subscribe_max)s user ids.")
            % {"presence_subscribe_max": PRESENCE_SUBSCRIBE_MAX},
        )
    uuids = [u for u in (parse_uuid(x) for x in users) if u is not None]
    allowed = await run_in_db_thread(_subscribable, user=conn.user, uuids=uuids)
    room = settings.PRESENCE_MAX_SUBSCRIPTIONS - len(conn.topics)
    allowed = allowed[: max(0, room)]
    for pk, _ in allowed:
        conn.topics.add(presence.topic(pk))
    statuses = await run_in_db_thread(presence.store().statuses, user_ids=[pk for pk, _ in allowed])
    for (_, user_uuid), status in zip(allowed, statuses, strict=True):
        await conn.send_frame(presence.presence_frame(user_uuid, status))
