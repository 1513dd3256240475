"""The frame budget's tokens on Redis (kv.RedisStore.atake): a node takes a
few at once from a bucket more than half full and spends them itself; near
the limit it asks for each. Two RedisStore instances are two nodes."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatsite import kv
from chatsite import redis as rds

pytestmark = pytest.mark.redis


def left_in_redis(key: str) -> float:
    value = rds.client().hget(rds.key("tb", key), "v")
    return float(value) if value is not None else float("nan")


def held(store: kv.RedisStore, key: str) -> float:
    h = store._held.get(key)
    return h[0] if h else 0


def bucket(burst: int, rate: float = 0.001) -> tuple[str, float, int]:
    return (f"test-take:{uuid.uuid4().hex}", rate, burst)


async def test_a_full_bucket_gives_a_node_several_tokens_in_one_round_trip():
    node = kv.RedisStore()
    b = bucket(200)
    assert await node.atake(b) == (0, 0.0)
    assert left_in_redis(b[0]) == pytest.approx(192, abs=0.01)
    for _ in range(7):
        assert await node.atake(b) == (0, 0.0)
    # Seven spent here, Redis not asked.
    assert left_in_redis(b[0]) == pytest.approx(192, abs=0.01)
    assert held(node, b[0]) == 0
    assert await node.atake(b) == (0, 0.0)
    assert left_in_redis(b[0]) == pytest.approx(184, abs=0.01)


async def test_near_the_limit_each_token_is_asked_for_and_the_count_is_exact():
    node = kv.RedisStore()
    b = bucket(40)
    allowed = 0
    while (answer := await node.atake(b))[0] == 0:
        allowed += 1
        left = left_in_redis(b[0])
        # Every token is in Redis, held here or spent: none made, none lost.
        assert left + held(node, b[0]) == pytest.approx(40 - allowed, abs=0.01)
        if left < 20:  # below half the bucket: nothing taken ahead
            assert held(node, b[0]) == 0
        assert allowed <= 40
    assert allowed == 40
    which, retry = answer
    assert which == 1 and retry > 0


async def test_two_nodes_share_one_budget_and_a_nodes_tokens_are_its_own():
    node_a, node_b = kv.RedisStore(), kv.RedisStore()
    b = bucket(40)  # a lease of 5
    assert (await node_a.atake(b))[0] == 0
    assert held(node_a, b[0]) == 4
    on_b = 0
    while (await node_b.atake(b))[0] == 0:
        on_b += 1
    assert on_b == 35
    on_a = 1
    while (await node_a.atake(b))[0] == 0:
        on_a += 1
    assert on_a == 5
    assert on_a + on_b == 40


async def test_a_message_the_second_bucket_refuses_still_spends_its_frame():
    node = kv.RedisStore()
    frames, messages = bucket(200), bucket(2)
    assert await node.atake(frames, messages) == (0, 0.0)
    assert await node.atake(frames, messages) == (0, 0.0)
    which, retry = await node.atake(frames, messages)
    assert which == 2 and retry > 0
    assert left_in_redis(frames[0]) + held(node, frames[0]) == pytest.approx(197, abs=0.01)
    assert left_in_redis(messages[0]) == pytest.approx(0, abs=0.01)
    # A frame the first bucket refuses leaves the second untouched.
    small, other = bucket(1), bucket(10)
    assert await node.atake(small, other) == (0, 0.0)
    assert (await node.atake(small, other))[0] == 1
    assert left_in_redis(other[0]) + held(node, other[0]) == pytest.approx(9, abs=0.01)


async def test_tokens_taken_ahead_expire_and_go_with_the_bucket(monkeypatch):
    monkeypatch.setattr(kv, "LEASE_S", 0.05)
    node = kv.RedisStore()
    b = bucket(200)
    await node.atake(b)
    assert held(node, b[0]) == 7
    await asyncio.sleep(0.1)
    await node.atake(b)  # the seven expired: Redis is asked again
    assert left_in_redis(b[0]) == pytest.approx(184, abs=0.01)
    assert held(node, b[0]) == 7
    node.delete(b[0])
    assert held(node, b[0]) == 0
    assert await node.atake(b) == (0, 0.0)
    assert left_in_redis(b[0]) == pytest.approx(192, abs=0.01)


async def test_two_held_buckets_are_spent_together_and_a_refused_frame_gives_the_second_back():
    node = kv.RedisStore()
    frames, messages = bucket(200), bucket(200)
    assert await node.atake(frames, messages) == (0, 0.0)
    assert (held(node, frames[0]), held(node, messages[0])) == (7, 7)
    assert await node.atake(frames, messages) == (0, 0.0)
    assert (held(node, frames[0]), held(node, messages[0])) == (6, 6)
    assert left_in_redis(frames[0]) == left_in_redis(messages[0]) == pytest.approx(192, abs=0.01)
    # The first bucket refuses while the second's token is held here: the
    # second keeps it.
    small = bucket(1)
    assert await node.atake(small, messages) == (0, 0.0)
    assert held(node, messages[0]) == 5
    which, retry = await node.atake(small, messages)
    assert which == 1 and retry > 0
    assert held(node, messages[0]) == 5
    assert left_in_redis(messages[0]) == pytest.approx(192, abs=0.01)


async def test_a_message_refused_at_redis_still_takes_the_frames_tokens_there():
    node_a, node_b = kv.RedisStore(), kv.RedisStore()
    frames, messages = bucket(200), bucket(1)
    assert await node_a.atake(frames, messages) == (0, 0.0)
    # Node B holds nothing: both buckets are asked, the second refuses, and
    # the first's tokens stay taken (B keeps the rest of its lease).
    which, _ = await node_b.atake(frames, messages)
    assert which == 2
    assert left_in_redis(frames[0]) == pytest.approx(184, abs=0.01)
    assert held(node_b, frames[0]) == 7


async def test_frames_of_one_user_at_once_spend_what_was_taken_no_more_no_less(monkeypatch):
    # A lease not spent within LEASE_S is lost by design; on a loaded box the
    # 24 round trips below can take longer than that, so the lease lasts the
    # whole test: what is checked is the count, not the box's speed.
    monkeypatch.setattr(kv, "LEASE_S", 60.0)
    node = kv.RedisStore()
    b = bucket(16)  # a lease of 2
    answers = await asyncio.gather(*(node.atake(b) for _ in range(24)))
    assert sum(which == 0 for which, _ in answers) == 16
    # Two frames that both find nothing held each take a lease; both are kept.
    b = bucket(200)
    answers = await asyncio.gather(node.atake(b), node.atake(b))
    assert answers == [(0, 0.0), (0, 0.0)]
    assert left_in_redis(b[0]) == pytest.approx(184, abs=0.01)
    assert held(node, b[0]) == 14


@pytest.mark.parametrize("tokens", range(1, 41))
async def test_tokens_are_taken_ahead_only_from_above_half_the_bucket(tokens):
    node = kv.RedisStore()
    key, rate, burst = bucket(40)  # a lease of 5
    client = rds.client()
    seconds, micros = client.time()
    client.hset(rds.key("tb", key), mapping={"t": f"{seconds}.{micros:06d}", "v": str(tokens)})
    assert await node.atake((key, rate, burst)) == (0, 0.0)
    taken = round(tokens - left_in_redis(key))
    # One token, and as many more (up to four) as leave the bucket at least half full.
    assert taken == 1 + max(0, min(4, tokens - 21)), taken
    assert held(node, key) == taken - 1
