"""Viewer profiles in Redis, shared by every profile replica.

One Lua script applies an event: it records the event id (the idempotency
record), counts the event and folds it into the viewer's decayed affinities,
all in one atomic step, so replicas never interleave half-applied events.
The guarantee "an acknowledged event survives" holds when Redis runs with
`appendonly yes` and `appendfsync always` (it fsyncs the AOF before replying);
with `everysec` a Redis crash may lose the last second of events.

Keys (under a prefix): `event:<event_id>` (hash, the event log),
`count:<user_id>`, `weight:<user_id>` and `updated:<user_id>` (hashes keyed by
affinity name). Meant for a single Redis (primary with replicas), not a Cluster.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from common.events import FeedbackEvent
from common.logging import get_logger
from services.profile.store import (
    StoreUnavailable,
    reused_event_id,
    taste_features,
    taste_from,
)
from services.profile.taste import EVENT_WEIGHTS, MS_PER_DAY, Decay, Taste

log = get_logger(__name__)

DEFAULT_PREFIX = "keyart:profile:"

# KEYS: event, count, weight, updated. ARGV: user_id, title_id, kind, occurred_at_ms,
# page_id, artwork_id, added weight, half-life in ms, then the affinity names.
# Returns 1 (applied), 0 (a retry: recorded with the same content) or -1 (the id was
# recorded with other content). The decay is Decay.accumulate's, in Lua: an older
# event decays to the stored time.
_APPLY = """
local recorded = redis.call('HMGET', KEYS[1], 'user_id', 'title_id', 'kind', 'page_id',
                            'artwork_id')
if recorded[1] then
  if recorded[1] == ARGV[1] and recorded[2] == ARGV[2] and recorded[3] == ARGV[3]
     and recorded[4] == ARGV[5] and recorded[5] == ARGV[6] then return 0 end
  return -1
end
local at = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'user_id', ARGV[1], 'title_id', ARGV[2], 'kind', ARGV[3],
           'occurred_at_ms', ARGV[4], 'page_id', ARGV[5], 'artwork_id', ARGV[6])
redis.call('INCR', KEYS[2])
local added = tonumber(ARGV[7])
if added <= 0 then return 1 end
local half_life = tonumber(ARGV[8])
for i = 9, #ARGV do
  local weight = tonumber(redis.call('HGET', KEYS[3], ARGV[i]) or '0')
  local updated = tonumber(redis.call('HGET', KEYS[4], ARGV[i]) or ARGV[4])
  if at >= updated then
    weight = weight * 2 ^ (-(at - updated) / half_life) + added
    updated = at
  else
    weight = weight + added * 2 ^ (-(updated - at) / half_life)
  end
  redis.call('HSET', KEYS[3], ARGV[i], string.format('%.17g', weight))
  redis.call('HSET', KEYS[4], ARGV[i], string.format('%d', updated))
end
return 1
"""

_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class RedisProfileStore:
    """Thread-safe (the client pools connections); opening pings Redis once."""

    def __init__(
        self, url: str, decay: Decay, prefix: str = DEFAULT_PREFIX, timeout_s: float = 2.0
    ) -> None:
        self._decay = decay
        self._prefix = prefix
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        try:
            self._redis.ping()
        except _UNREACHABLE as error:
            raise StoreUnavailable(f"redis at {_without_password(url)}: {error}") from None
        self._apply = self._redis.register_script(_APPLY)
        self._warn_if_not_durable()

    def _warn_if_not_durable(self) -> None:
        try:
            settings = self._redis.config_get("append*")
        except redis.ResponseError:  # managed services often refuse CONFIG
            return
        if settings.get("appendonly") != "yes" or settings.get("appendfsync") != "always":
            log.warning(
                "redis may lose acknowledged events on a crash",
                appendonly=settings.get("appendonly"),
                appendfsync=settings.get("appendfsync"),
                wanted="appendonly yes, appendfsync always",
            )

    def close(self) -> None:
        self._redis.close()

    def apply(self, event: FeedbackEvent) -> bool:
        user = event.user_id
        keys = [self._key("event", event.event_id)] + [
            self._key(kind, user) for kind in ("count", "weight", "updated")
        ]
        args: list[str | int] = [
            user,
            event.title_id,
            event.kind,
            event.occurred_at_ms,
            event.page_id,
            event.artwork_id,
            repr(EVENT_WEIGHTS[event.kind]),
            repr(self._decay.half_life_days * MS_PER_DAY),
            *taste_features(event),
        ]
        try:
            outcome = self._apply(keys=keys, args=args)
        except _UNREACHABLE as error:
            raise StoreUnavailable(f"redis: {error}") from None
        if outcome < 0:
            raise reused_event_id(event.event_id)
        return bool(outcome)

    def taste(self, user_id: str, now_ms: int) -> Taste:
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(self._key("weight", user_id))
                pipe.hgetall(self._key("updated", user_id))
                pipe.get(self._key("count", user_id))
                weights, updated, count = pipe.execute()
        except _UNREACHABLE as error:
            raise StoreUnavailable(f"redis: {error}") from None
        affinities = {
            name: float(weight) * self._decay.factor(now_ms - int(updated[name]))
            for name, weight in weights.items()
        }
        return taste_from(affinities, int(count or 0))

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"


def _without_password(url: str) -> str:
    """The URL as it may appear in a log or an error: any password masked."""
    password = urlsplit(url).password
    return url.replace(f":{password}@", ":***@") if password else url
