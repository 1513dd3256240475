"""Presence: a user is online while they hold a socket anywhere in the cluster.

With Redis, each socket is an entry in the user's sorted set scored by an
expiry; every server process refreshes the entries of its own sockets, so a
node that crashes leaves nobody "online" for longer than PRESENCE_TTL_S: a
periodic sweep (any node, under a short lock) finds users whose last entry
expired and announces them offline. In the embedded default (one process)
the same bookkeeping is an in-process dict.

Changes go to the user's contacts as `presence` frames on the topic
`presence:<user pk>`; only sockets that subscribed to that user let them through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import connection

from chatsite import lifespan, realtime
from chatsite import redis as rds
from chatsite.db import run_in_db_thread
from chatsite.gateway.consumer import local_connections
from chatsite.wire import iso_from_timestamp, now_iso
from contacts.selectors import talk_partners_sql

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Status:
    user_id: int
    online: bool
    last_seen: float | None  # unix time


def topic(user_id: int) -> str:
    return f"presence:{user_id}"


# --------------------------------------------------------------------------- Redis

_CONNECT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local exp = now + tonumber(ARGV[2])
local before = redis.call('ZCOUNT', KEYS[1], now, '+inf')
redis.call('ZADD', KEYS[1], exp, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 3))
redis.call('ZADD', KEYS[2], 'GT', exp, ARGV[3])
return before
"""

_DISCONNECT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('SET', KEYS[3], tostring(now), 'EX', 31536000)
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""

_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local exp = now + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local key = KEYS[(i / 2)]
  redis.call('ZADD', key, 'XX', exp, ARGV[i + 1])
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[1]) * 3))
  redis.call('ZADD', KEYS[#KEYS], 'GT', exp, ARGV[i])
end
return 0
"""

_SWEEP_ONE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) == 0 then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if score then
    redis.call('SET', KEYS[3], score, 'EX', 31536000)
    return 1
  end
end
return 0
"""


class RedisPresence:
    def __init__(self) -> None:
        self._scripts: dict[str, object] = {}

    def _script(self, source: str):
        script = self._scripts.get(source)
        if script is None:
            script = rds.client().register_script(source)
            self._scripts[source] = script
        return script

    @staticmethod
    def _keys(user_id: int) -> tuple[str, str, str]:
        return rds.key("pres", "s", user_id), rds.key("pres", "all"), rds.key("pres", "last", user_id)

    def connect(self, user_id: int, socket_id: str) -> bool:
        """Register a socket; True when the user just came online."""
        sockets, everyone, _ = self._keys(user_id)
        before = self._script(_CONNECT)(keys=[sockets, everyone], args=[socket_id, settings.PRESENCE_TTL_S, user_id])
        return int(before) == 0

    def disconnect(self, user_id: int, socket_id: str) -> bool:
        """Forget a socket; True when the user just went offline."""
        sockets, everyone, last = self._keys(user_id)
        return bool(int(self._script(_DISCONNECT)(keys=[sockets, everyone, last], args=[socket_id, user_id])))

    def refresh(self, entries: list[tuple[int, str]]) -> None:
        """Push the expiry of these live sockets forward."""
        for i in range(0, len(entries), 500):
            chunk = entries[i : i + 500]
            keys = [self._keys(uid)[0] for uid, _ in chunk] + [rds.key("pres", "all")]
            args: list[object] = [settings.PRESENCE_TTL_S]
            for uid, sid in chunk:
                args.extend([uid, sid])
            self._script(_REFRESH)(keys=keys, args=args)

    def statuses(self, user_ids: list[int]) -> list[Status]:
        now = time.time()
        pipe = rds.client().pipeline(transaction=False)
        for uid in user_ids:
            sockets, _, last = self._keys(uid)
            pipe.zcount(sockets, now, "+inf")
            pipe.get(last)
        values = pipe.execute()
        out = []
        for n, uid in enumerate(user_ids):
            live, last = values[2 * n], values[2 * n + 1]
            out.append(Status(uid, bool(live), None if live or last is None else float(last)))
        return out

    def node_heartbeat(self, sockets: int) -> None:
        """This server process is alive with `sockets` sockets (for `manage.py status`)."""
        pipe = rds.client().pipeline(transaction=False)
        pipe.hset(rds.key("nodes"), settings.NODE_ID, json.dumps({"sockets": sockets, "ts": time.time()}))
        pipe.execute()

    def nodes(self) -> dict[str, dict]:
        """Server processes seen within 3 × PRESENCE_TTL_S; older entries are dropped."""
        client = rds.client()
        raw = client.hgetall(rds.key("nodes"))
        alive, stale = {}, []
        for node, value in raw.items():
            info = json.loads(value)
            if time.time() - info["ts"] > 3 * settings.PRESENCE_TTL_S:
                stale.append(node)
            else:
                alive[node.decode()] = info
        if stale:
            client.hdel(rds.key("nodes"), *stale)
        return alive

    def online_count(self) -> int:
        return int(rds.client().zcount(rds.key("pres", "all"), time.time(), "+inf"))

    def sweep(self) -> list[int]:
        """Users whose every socket expired (their node died): now offline.
        One node at a time does it (a short lock)."""
        client = rds.client()
        if not client.set(
            rds.key("pres", "sweeping"), settings.NODE_ID, nx=True, ex=max(1, settings.PRESENCE_TTL_S // 3)
        ):
            return []
        due = client.zrangebyscore(rds.key("pres", "all"), "-inf", time.time(), start=0, num=1000)
        gone = []
        for raw in due:
            uid = int(raw)
            sockets, everyone, last = self._keys(uid)
            if int(self._script(_SWEEP_ONE)(keys=[sockets, everyone, last], args=[uid])):
                gone.append(uid)
        return gone


# --------------------------------------------------------------------------- one process


class LocalPresence:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: dict[int, set[str]] = {}
        self._last: dict[int, float] = {}

    def connect(self, user_id: int, socket_id: str) -> bool:
        with self._lock:
            sockets = self._sockets.setdefault(user_id, set())
            first = not sockets
            sockets.add(socket_id)
            return first

    def disconnect(self, user_id: int, socket_id: str) -> bool:
        with self._lock:
            sockets = self._sockets.get(user_id)
            if not sockets or socket_id not in sockets:
                return False
            sockets.discard(socket_id)
            if sockets:
                return False
            del self._sockets[user_id]
            self._last[user_id] = time.time()
            return True

    def refresh(self, entries: list[tuple[int, str]]) -> None:
        return None

    def statuses(self, user_ids: list[int]) -> list[Status]:
        with self._lock:
            return [
                Status(uid, bool(self._sockets.get(uid)), None if self._sockets.get(uid) else self._last.get(uid))
                for uid in user_ids
            ]

    def sweep(self) -> list[int]:
        return []

    def node_heartbeat(self, sockets: int) -> None:
        return None

    def nodes(self) -> dict[str, dict]:
        return {}

    def online_count(self) -> int:
        with self._lock:
            return len(self._sockets)


_store: RedisPresence | LocalPresence | None = None
_store_lock = threading.Lock()


def store() -> RedisPresence | LocalPresence:
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = RedisPresence() if settings.REDIS_URL else LocalPresence()
    return _store


def reset() -> None:
    global _store
    with _store_lock:
        _store = None


# --------------------------------------------------------------------------- who is told


def presence_frame(user_uuid: str, status: Status) -> dict:
    return {
        "type": "presence",
        "user": user_uuid,
        "online": status.online,
        "last_seen": now_iso() if status.online else iso_from_timestamp(status.last_seen),
    }


def _audience(user_id: int) -> tuple[str, list[int]]:
    """The user's uuid and the contacts who may see their presence (the pair
    rule: no block either way). One query: it runs whenever someone comes
    online or goes offline, the busiest moments being connect storms."""
    with connection.cursor() as cursor:
        cursor.execute(talk_partners_sql(), [user_id])
        rows = cursor.fetchall()
    if not rows:
        return "", []
    return str(uuid.UUID(str(rows[0][0]))), [other for _, other in rows if other is not None]


def _audience_and_status(user_id: int) -> tuple[str, list[int], Status | None]:
    """`_audience`, then the user's status as it is now (None with nobody to
    tell): two reads, one trip to the database thread."""
    user_uuid, audience = _audience(user_id)
    if not audience:
        return user_uuid, audience, None
    [status] = store().statuses(user_ids=[user_id])
    return user_uuid, audience, status


async def announce(user_id: int, *, online: bool) -> None:
    """Tell the user's contacts (the sockets among them that subscribed)."""
    user_uuid, audience, status = await run_in_db_thread(_audience_and_status, user_id=user_id)
    if status is None:
        return
    if status.online != online:
        return  # changed again meanwhile; that change announces itself
    await realtime.adeliver(audience, realtime.topic_envelope(topic(user_id), presence_frame(user_uuid, status)))


# --------------------------------------------------------------------------- the refresh


@lifespan.task("presence refresh")
async def refresh_presence() -> None:
    """Every PRESENCE_TTL_S/3: refresh this process's sockets, and sweep dead
    nodes' users (announced offline)."""
    while True:
        await asyncio.sleep(max(0.5, settings.PRESENCE_TTL_S / 3))
        entries = [(c.user_id, c.socket_id) for c in local_connections() if not c.closing]
        try:
            await asyncio.to_thread(store().refresh, entries)
            await asyncio.to_thread(store().node_heartbeat, len(entries))
            gone = await asyncio.to_thread(store().sweep)
        except (redis.RedisError, OSError) as exc:
            logger.warning("presence refresh failed: %s", exc)
            continue
        for uid in gone:
            try:
                await announce(uid, online=False)
            except Exception:
                logger.exception("announcing user %s offline failed", uid)
