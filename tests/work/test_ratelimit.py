"""The shared rate limiter, against the real Redis: slots, refusals, penalties.

The rate it reaches over a minute is measured by bench/rate_limit.py, not here."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest

from bridge.work.ratelimit import RateLimiter


@pytest.fixture
def limiter(svc):
    return RateLimiter(svc.redis, prefix="test:rate:")


def test_slots_are_spaced_by_the_rate(limiter):
    waits = [limiter.reserve("whatsapp:+1", per_second=1, max_wait=10).wait for _ in range(5)]
    # Reserved back to back: 0, ~1, ~2, ... seconds from now, less the time the calls took
    # (one second apart so that a busy machine's slow calls cannot blur the spacing).
    assert waits[0] == 0
    for earlier, later in pairwise(waits):
        assert 0.5 < later - earlier <= 1.001


def test_a_slot_too_far_away_is_not_reserved(limiter):
    for _ in range(3):
        limiter.reserve("email:smtp", per_second=1, max_wait=10)
    refused = limiter.reserve("email:smtp", per_second=1, max_wait=1.5)
    assert not refused.reserved and 1.5 < refused.wait <= 3.0
    # Refusing reserved nothing: the next one asking with patience gets the same slot.
    assert limiter.reserve("email:smtp", per_second=1, max_wait=10).wait == pytest.approx(refused.wait, abs=0.05)


def test_senders_do_not_share_slots(limiter):
    limiter.reserve("whatsapp:+1", per_second=1, max_wait=5)
    assert limiter.reserve("whatsapp:+2", per_second=1, max_wait=5).wait == 0


def test_concurrent_workers_get_distinct_slots(limiter):
    def reserve(_: int) -> float:
        return limiter.reserve("whatsapp:+9", per_second=0.1, max_wait=1000).wait

    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = sorted(pool.map(reserve, range(40)))
    # Slots 10 s apart: the i-th is i*10 s after the first, less the time the calls took,
    # so each rounds up to its own multiple of ten and no two workers share one.
    assert [math.ceil(w / 10) for w in waits] == list(range(40))


def test_a_penalty_holds_the_sender_for_everyone(limiter):
    assert limiter.penalize("whatsapp:+1", 2.0) == pytest.approx(2.0, abs=0.01)
    slot = limiter.reserve("whatsapp:+1", per_second=10, max_wait=1)
    assert not slot.reserved and 1.9 < slot.wait <= 2.0
    # A shorter penalty does not shorten a longer one.
    assert limiter.penalize("whatsapp:+1", 0.5) > 1.5
