"""A send rate shared by every worker on every machine: a GCRA limiter in Redis.

Each sender (a WhatsApp number, an SMTP relay) gets a theoretical arrival time (TAT) in
Redis; a worker reserves the next slot atomically (one Lua script, Redis's own clock so
machines need not agree on the time) and waits for it. A slot further away than the
caller is willing to wait is not reserved: the Action is put back for later instead of
holding a worker. When the provider itself says "slow down" (HTTP 429, Twilio 20429 or
63018, SMTP 4xx), `penalize` pushes the sender's next slot into the future for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

# KEYS[1]: the sender's TAT key. ARGV: interval ms, max wait ms. Returns the wait in ms
# for the reserved slot (>= 0), or minus the wait when it is too long (nothing reserved).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - now
if wait > tonumber(ARGV[2]) then return -math.ceil(wait) end
local next_tat = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil(next_tat - now) + 60000)
return math.ceil(wait)
"""

# KEYS[1]: the TAT key. ARGV[1]: pause ms. Moves the TAT to now + pause unless it is later.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_ then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(until_ - now) + 60000)
end
return math.ceil(math.max(tat, until_) - now)
"""


@dataclass(frozen=True)
class Slot:
    """`wait` seconds until the reserved send time; `reserved` False: come back after `wait`."""

    wait: float
    reserved: bool


class RateLimiter:
    def __init__(self, redis: Redis, prefix: str = "bridge:rate:") -> None:
        self.redis = redis
        self.prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._penalize = redis.register_script(_PENALIZE)

    def reserve(self, sender: str, per_second: float, max_wait: float) -> Slot:
        interval_ms = 1000.0 / per_second
        result = int(self._reserve(keys=[self.prefix + sender], args=[interval_ms, max_wait * 1000]))
        return Slot(wait=abs(result) / 1000, reserved=result >= 0)

    def penalize(self, sender: str, seconds: float) -> float:
        """Hold every worker off this sender for `seconds`; returns how long it is now held."""
        return int(self._penalize(keys=[self.prefix + sender], args=[seconds * 1000])) / 1000
