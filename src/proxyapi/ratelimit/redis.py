"""The Redis backend: one bucket state for every gateway process and host.

Each check is one round trip: an atomic Lua script (EVALSHA) that refills,
checks and takes from every bucket of the request at once, on Redis's own
clock (``TIME``), so hosts whose clocks disagree still share one limit. Keys
expire once their bucket would be full again, so idle clients cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis

from proxyapi.ratelimit.base import Bucket, Verdict

# KEYS[i]: bucket i.  ARGV[1]: cost.  ARGV[2i], ARGV[2i+1]: capacity and rate of bucket i.
# Returns {allowed, level_1, ..., level_n}; levels as strings, since Redis would
# truncate Lua numbers to integers.
TAKE_SCRIPT: Final = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local cost = tonumber(ARGV[1])
local allowed = 1
local levels, stamps = {}, {}
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'stamp')
  local tokens, stamp = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or stamp == nil then
    tokens, stamp = capacity, now
  elseif now > stamp then
    tokens, stamp = math.min(capacity, tokens + (now - stamp) * rate), now
  end
  if tokens > capacity then tokens = capacity end
  levels[i], stamps[i] = tokens, stamp
  if tokens < cost then allowed = 0 end
end
local result = {allowed}
for i, key in ipairs(KEYS) do
  if allowed == 1 then
    local capacity, rate = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    levels[i] = levels[i] - cost
    redis.call('HSET', key, 'tokens', levels[i], 'stamp', stamps[i])
    redis.call('PEXPIRE', key, math.ceil((capacity - levels[i]) / rate * 1000) + 1000)
  end
  result[i + 1] = string.format('%.17g', levels[i])
end
return result
"""


class RedisBackend:
    """Token buckets in Redis hashes under ``{prefix}:ratelimit:``."""

    name = "redis"

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = f"{prefix}:ratelimit:"
        self._script = client.register_script(TAKE_SCRIPT)

    async def take(self, buckets: Sequence[Bucket], cost: float = 1.0) -> Verdict:
        keys = [self._prefix + bucket.key for bucket in buckets]
        args: list[Any] = [cost]
        for bucket in buckets:
            args.append(repr(bucket.limit.capacity))
            args.append(repr(bucket.limit.rate))
        reply = await self._script(keys=keys, args=args)
        return Verdict(bool(int(reply[0])), tuple(float(level) for level in reply[1:]))

    async def close(self) -> None:
        """The client belongs to the Gateway, which closes it."""
