"""Small atomic operations the product needs from a shared store.

Rate limits, cooldowns, SMS codes and similar state must be shared by every
server node, so with REDIS_URL they live in Redis and each operation is one
atomic Lua script or command. In the embedded default (one process) the same
operations run on an in-process dict under a lock.

Errors talking to Redis become `Unavailable`: callers that guard security
(login, SMS) therefore fail closed.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import redis
from django.conf import settings
from django.utils.translation import gettext

from chatsite import redis as rds
from chatsite.errors import Unavailable


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0


class Store(Protocol):
    def token_bucket(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Decision: ...
    async def atoken_bucket(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Decision: ...
    async def atake(
        self, first: tuple[str, float, int], second: tuple[str, float, int] | None = None
    ) -> tuple[int, float]: ...
    def counter_incr(self, key: str, *, window_s: int) -> tuple[int, int]: ...
    def counter_get(self, key: str) -> tuple[int, int]: ...
    def counter_undo(self, key: str) -> None: ...
    def cooldown(self, key: str, *, seconds: float) -> float: ...
    def cooldown_left(self, key: str) -> float: ...
    async def acooldown(self, key: str, *, seconds: float) -> float: ...
    def code_put(self, key: str, *, digest: str, ttl_s: int) -> None: ...
    def code_consume(self, key: str, *, digest: str, max_tries: int, keep: bool = False) -> str: ...
    def delete(self, *keys: str) -> None: ...
    def ping(self) -> None: ...


# --------------------------------------------------------------------------- Redis

_TOKEN_BUCKET = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local data = redis.call('HMGET', KEYS[1], 't', 'v')
local ts = tonumber(data[1])
local tokens = tonumber(data[2])
if tokens == nil or ts == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 't', tostring(now), 'v', tostring(tokens))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""

# One or two buckets at once (a frame, and a message it carries), for a node
# that keeps a few tokens of each (RedisStore.atake): from each bucket asked
# (its lease, ARGV[3] / ARGV[6], above 0) one token, and up to lease - 1 more
# from what lies above half the bucket; the second only if the first gave.
# Returns {which failed (0 none, 1, 2), retry, taken from the first, from the second}.
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local function take(key, rate, burst, lease)
  local data = redis.call('HMGET', key, 't', 'v')
  local ts = tonumber(data[1])
  local tokens = tonumber(data[2])
  if tokens == nil or ts == nil then tokens = burst; ts = now end
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
  local n = 0
  if tokens >= 1 then
    n = 1 + math.max(0, math.min(lease - 1, math.floor(tokens - 1 - burst / 2)))
    tokens = tokens - n
  end
  redis.call('HSET', key, 't', tostring(now), 'v', tostring(tokens))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
  if n > 0 then return {n, 0} end
  return {0, (1 - tokens) / rate}
end
local n1 = 0
local n2 = 0
if tonumber(ARGV[3]) > 0 then
  local r = take(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
  if r[1] == 0 then return {1, tostring(r[2]), 0, 0} end
  n1 = r[1]
end
if #KEYS > 1 and tonumber(ARGV[6]) > 0 then
  local r = take(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
  if r[1] == 0 then return {2, tostring(r[2]), n1, 0} end
  n2 = r[1]
end
return {0, "0", n1, n2}
"""

# A node's tokens taken ahead (RedisStore.atake): at most this many per
# bucket, an eighth of its burst, and only from a bucket more than half full,
# so a user near their limit is counted token by token. They are spent within
# LEASE_S or dropped.
LEASE_MAX = 8
LEASE_S = 1.0


def _lease(burst: int) -> int:
    return max(1, min(LEASE_MAX, burst // 8))


_COUNTER_INCR = """
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {c, ttl}
"""

_COUNTER_UNDO = """
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if c > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

_CODE_CONSUME = """
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return 0 end
if h == ARGV[1] then
  if ARGV[3] ~= '1' then redis.call('DEL', KEYS[1]) end
  return 1
end
local tries = redis.call('HINCRBY', KEYS[1], 'n', 1)
if tries >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
return -1
"""

_CODE_RESULTS = {1: "ok", 0: "missing", -1: "wrong"}


class RedisStore:
    def __init__(self) -> None:
        self._scripts: dict[str, redis.commands.core.Script] = {}
        # Tokens this process took ahead (atake): bucket key -> [count, until].
        self._held: dict[str, list[float]] = {}
        self._next_prune = 0.0
        # Round trips of atake in flight, per first bucket: a frame refused at
        # Redis waits for them, as one of them may bring a lease back.
        self._asking: dict[str, set[asyncio.Future]] = {}

    def _sync(self):
        return rds.client()

    def _run(self, source: str, keys: list[str], args: list) -> object:
        try:
            return self._script(source)(keys, args)
        except redis.RedisError as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc

    def _script(self, source: str):
        script = self._scripts.get(source)
        if script is None:
            script = self._sync().register_script(source)
            self._scripts[source] = script
        return script

    async def _arun(self, source: str, keys: list[str], args: list) -> object:
        client = rds.async_client()
        try:
            return await client.evalsha(self._script(source).sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            try:
                return await client.eval(source, len(keys), *keys, *args)
            except redis.RedisError as exc:
                raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc
        except (redis.RedisError, OSError) as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc

    def token_bucket(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Decision:
        allowed, retry = self._run(_TOKEN_BUCKET, [rds.key("tb", key)], [rate, burst, cost])  # type: ignore[misc]
        return Decision(bool(int(allowed)), float(retry))

    async def atoken_bucket(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Decision:
        allowed, retry = await self._arun(_TOKEN_BUCKET, [rds.key("tb", key)], [rate, burst, cost])  # type: ignore[misc]
        return Decision(bool(int(allowed)), float(retry))

    async def atake(
        self, first: tuple[str, float, int], second: tuple[str, float, int] | None = None
    ) -> tuple[int, float]:
        """A token from the bucket `first` (key, rate, burst) and, if it gave
        one, from `second`: (0, 0) if every bucket gave; (1, retry) if the
        first refused (the second untouched); (2, retry) if only the second
        refused. The hot path of every frame, so a bucket more than half full
        gives this process up to _lease(burst) tokens at once, spent here
        without asking Redis again (within LEASE_S): one round trip in
        several for a user well within their limits, each token asked for
        near the limit. A token counts when a node takes it, up to LEASE_S
        before it is spent, so a user's frames can run ahead of the bucket by
        that many per node for that long, never past what it gives in all;
        tokens a node took and did not spend in time are lost to the user."""
        return await self._take(first, second, again=True)

    async def _take(
        self, first: tuple[str, float, int], second: tuple[str, float, int] | None, *, again: bool
    ) -> tuple[int, float]:
        now = time.monotonic()
        specs = [first] if second is None else [first, second]
        held = [self._held_tokens(key, now) for key, _, _ in specs]
        # What is held is spent now, before the round trip: another frame of
        # the user's on this node may come meanwhile.
        for h in held:
            if h:
                h[0] -= 1
        if all(held):
            return 0, 0.0
        keys, args = [], []
        for (key, rate, burst), h in zip(specs, held, strict=True):
            keys.append(rds.key("tb", key))
            args += [rate, burst, 0 if h else _lease(burst)]
        asking = self._asking.setdefault(first[0], set())
        mine = asyncio.get_running_loop().create_future()
        asking.add(mine)
        try:
            which, retry, *taken = await self._arun(_TAKE, keys, args)  # type: ignore[misc]
            which = int(which)
            now = time.monotonic()
            if now >= self._next_prune:
                self._next_prune = now + LEASE_S
                for k, h in list(self._held.items()):
                    if h[1] <= now:
                        self._held.pop(k, None)
            for (key, _, _), h, n in zip(specs, held, taken, strict=False):
                if h:
                    if which == 1:  # the frame is refused: the second's token goes back
                        h[0] += 1
                elif int(n) > 1:
                    self._keep(key, int(n) - 1, now)
        finally:
            mine.set_result(None)
            asking.discard(mine)
            if not asking and self._asking.get(first[0]) is asking:
                del self._asking[first[0]]
        if which == 1 and again:
            # Refused at Redis while another frame's lease came back here, or
            # while one that Redis gave before this refusal is still on its way
            # back (round trips on several connections come back in any
            # order): that lease is the user's, so it is spent instead.
            others = self._asking.get(first[0])
            if others:
                await asyncio.wait(list(others))
            if self._held_tokens(first[0], time.monotonic()):
                return await self._take(first, second, again=False)
        if which == 2 and second is not None and (h := self._held_tokens(second[0], now)):
            h[0] -= 1
            return 0, 0.0
        return which, float(retry)

    def _keep(self, key: str, count: int, now: float) -> None:
        entry = self._held.get(key)
        if entry is None or entry[1] <= now:
            self._held[key] = [count, now + LEASE_S]
            return
        # Another frame's lease came back first: add to it.
        if entry[0] < 1:
            entry[1] = now + LEASE_S
        entry[0] += count

    def _held_tokens(self, key: str, now: float) -> list[float] | None:
        h = self._held.get(key)
        if h is None or h[0] < 1 or h[1] <= now:
            return None
        return h

    def forget_held(self) -> None:
        """Drops the tokens this process took ahead (tests start clean)."""
        self._held.clear()

    def counter_incr(self, key: str, *, window_s: int) -> tuple[int, int]:
        count, ttl = self._run(_COUNTER_INCR, [rds.key("ct", key)], [window_s])  # type: ignore[misc]
        return int(count), int(ttl)

    def counter_undo(self, key: str) -> None:
        """Takes back one count of the window (never below 0; the window's end stays)."""
        self._run(_COUNTER_UNDO, [rds.key("ct", key)], [])

    def counter_get(self, key: str) -> tuple[int, int]:
        try:
            pipe = self._sync().pipeline(transaction=False)
            pipe.get(rds.key("ct", key))
            pipe.ttl(rds.key("ct", key))
            value, ttl = pipe.execute()
        except redis.RedisError as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc
        return int(value or 0), max(0, int(ttl))

    def cooldown(self, key: str, *, seconds: float) -> float:
        try:
            name = rds.key("cd", key)
            if self._sync().set(name, 1, px=max(1, int(seconds * 1000)), nx=True):
                return 0.0
            return max(0.001, self._sync().pttl(name) / 1000)
        except redis.RedisError as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc

    def cooldown_left(self, key: str) -> float:
        """Seconds until `key`'s cooldown ends (0: none running); starts nothing."""
        try:
            left = self._sync().pttl(rds.key("cd", key))
        except redis.RedisError as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc
        return max(0.0, left / 1000) if left and left > 0 else 0.0

    async def acooldown(self, key: str, *, seconds: float) -> float:
        client = rds.async_client()
        try:
            name = rds.key("cd", key)
            if await client.set(name, 1, px=max(1, int(seconds * 1000)), nx=True):
                return 0.0
            return max(0.001, (await client.pttl(name)) / 1000)
        except (redis.RedisError, OSError) as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc

    def code_put(self, key: str, *, digest: str, ttl_s: int) -> None:
        name = rds.key("code", key)
        try:
            pipe = self._sync().pipeline(transaction=True)
            pipe.delete(name)
            pipe.hset(name, mapping={"h": digest, "n": 0})
            pipe.expire(name, ttl_s)
            pipe.execute()
        except redis.RedisError as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc

    def code_consume(self, key: str, *, digest: str, max_tries: int, keep: bool = False) -> str:
        result = self._run(_CODE_CONSUME, [rds.key("code", key)], [digest, max_tries, "1" if keep else "0"])
        return _CODE_RESULTS[int(result)]  # type: ignore[arg-type]

    def delete(self, *keys: str) -> None:
        if not keys:
            return
        for k in keys:
            self._held.pop(k, None)
        names = [rds.key(prefix, k) for k in keys for prefix in ("tb", "ct", "cd", "code")]
        try:
            self._sync().delete(*names)
        except redis.RedisError as exc:
            raise Unavailable(gettext("The shared store (Redis) is unavailable.")) from exc

    def ping(self) -> None:
        self._sync().ping()


# --------------------------------------------------------------------------- memory


class MemoryStore:
    """The same operations for one process (the embedded default and its tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pair_lock = threading.Lock()
        self._data: dict[str, tuple[float, object]] = {}  # key -> (expires_at, value)

    def _get(self, key: str, now: float) -> object | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= now:
            del self._data[key]
            return None
        return item[1]

    def _sweep(self, now: float) -> None:
        if len(self._data) > 50_000:
            for k in [k for k, (exp, _) in self._data.items() if exp <= now]:
                del self._data[k]

    def token_bucket(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Decision:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            state = self._get("tb:" + key, now)
            tokens, ts = (float(burst), now) if state is None else state  # type: ignore[misc]
            tokens = min(burst, tokens + max(0.0, now - ts) * rate)
            if tokens >= cost:
                decision = Decision(True)
                tokens -= cost
            else:
                decision = Decision(False, (cost - tokens) / rate)
            self._data["tb:" + key] = (now + burst / rate + 1, (tokens, now))
            return decision

    async def atoken_bucket(self, key: str, *, rate: float, burst: int, cost: int = 1) -> Decision:
        return self.token_bucket(key, rate=rate, burst=burst, cost=cost)

    async def atake(
        self, first: tuple[str, float, int], second: tuple[str, float, int] | None = None
    ) -> tuple[int, float]:
        """As RedisStore.atake, token by token (in one process there is no
        round trip to save)."""
        with self._pair_lock:
            one = self.token_bucket(first[0], rate=first[1], burst=first[2])
            if not one.allowed:
                return 1, one.retry_after
            if second is None:
                return 0, 0.0
            two = self.token_bucket(second[0], rate=second[1], burst=second[2])
            return (0, 0.0) if two.allowed else (2, two.retry_after)

    def counter_incr(self, key: str, *, window_s: int) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            name = "ct:" + key
            item = self._data.get(name)
            if item is None or item[0] <= now:
                item = (now + window_s, 0)
            count = int(item[1]) + 1  # type: ignore[call-overload]
            self._data[name] = (item[0], count)
            return count, max(1, math.ceil(item[0] - now))

    def counter_undo(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            item = self._data.get("ct:" + key)
            if item is not None and item[0] > now and int(item[1]) > 0:  # type: ignore[call-overload]
                self._data["ct:" + key] = (item[0], int(item[1]) - 1)  # type: ignore[call-overload]

    def counter_get(self, key: str) -> tuple[int, int]:
        now = time.monotonic()
        with self._lock:
            item = self._data.get("ct:" + key)
            if item is None or item[0] <= now:
                return 0, 0
            return int(item[1]), max(1, math.ceil(item[0] - now))  # type: ignore[call-overload]

    def cooldown(self, key: str, *, seconds: float) -> float:
        now = time.monotonic()
        with self._lock:
            name = "cd:" + key
            item = self._data.get(name)
            if item is not None and item[0] > now:
                return item[0] - now
            self._data[name] = (now + seconds, 1)
            return 0.0

    def cooldown_left(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            item = self._data.get("cd:" + key)
        return max(0.0, item[0] - now) if item is not None else 0.0

    async def acooldown(self, key: str, *, seconds: float) -> float:
        return self.cooldown(key, seconds=seconds)

    def code_put(self, key: str, *, digest: str, ttl_s: int) -> None:
        with self._lock:
            self._data["code:" + key] = (time.monotonic() + ttl_s, [digest, 0])

    def code_consume(self, key: str, *, digest: str, max_tries: int, keep: bool = False) -> str:
        now = time.monotonic()
        with self._lock:
            state = self._get("code:" + key, now)
            if state is None:
                return "missing"
            if state[0] == digest:  # type: ignore[index]
                if not keep:
                    del self._data["code:" + key]
                return "ok"
            state[1] += 1  # type: ignore[index]
            if state[1] >= max_tries:  # type: ignore[index]
                del self._data["code:" + key]
            return "wrong"

    def delete(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                for prefix in ("tb:", "ct:", "cd:", "code:"):
                    self._data.pop(prefix + k, None)

    def ping(self) -> None:
        return None

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


@lru_cache(maxsize=1)
def _store(redis_url: str | None) -> Store:
    return RedisStore() if redis_url else MemoryStore()


def store() -> Store:
    return _store(settings.REDIS_URL)
