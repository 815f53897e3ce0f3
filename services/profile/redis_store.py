"""Viewer profiles in Redis, shared by every profile replica.

One Lua script applies a batch of events (one event is a batch of one): it
records each event id (the idempotency record), counts the events and folds
them into the viewers' decayed affinities, all in one atomic step, so replicas
never interleave half-applied events.
The guarantee "an acknowledged event survives" holds when Redis runs with
`appendonly yes` and `appendfsync always` (it fsyncs the AOF before replying);
with `everysec` a Redis crash may lose the last second of events.

Keys (under a prefix): `event:<event_id>` (hash, the event log),
`count:<user_id>`, `weight:<user_id>` and `updated:<user_id>` (hashes keyed by
affinity name). Meant for a single Redis (primary with replicas), not a Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import redis

from common.events import FeedbackEvent
from common.logging import get_logger
from services.profile.store import (
    BatchOutcome,
    ReusedEventId,
    StoreUnavailable,
    event_record,
    taste_features,
    taste_from,
)
from services.profile.taste import EVENT_WEIGHTS, MS_PER_DAY, Decay, Taste

log = get_logger(__name__)

DEFAULT_PREFIX = "keyart:profile:"

# Applies a batch of events as one atomic step, each as if applied alone, in order.
# ARGV[1]: half-life in ms; then per event: user_id, title_id, kind, occurred_at_ms, page_id,
# artwork_id, added weight, n, then its n affinity names. KEYS: 4 per event: event, count,
# weight, updated. A first pass checks every id, so a batch is all or none: {-1, i} when
# event i (0-based) reuses a recorded id with other content (or one earlier in the batch);
# else one number per event: 1 applied, 0 a retry. Each touched hash is read once and written
# once. The decay is Decay.accumulate's, in Lua: an older event decays to the stored time.
_APPLY_BATCH = """
local half_life = tonumber(ARGV[1])
local events, seen, p = {}, {}, 2
for i = 0, #KEYS / 4 - 1 do
  local e = {key = KEYS[4 * i + 1], count = KEYS[4 * i + 2], weight = KEYS[4 * i + 3],
             updated = KEYS[4 * i + 4], user = ARGV[p], title = ARGV[p + 1], kind = ARGV[p + 2],
             at = ARGV[p + 3], page = ARGV[p + 4], artwork = ARGV[p + 5],
             added = tonumber(ARGV[p + 6]), first = p + 8, last = p + 7 + tonumber(ARGV[p + 7])}
  p = e.last + 1
  local content = table.concat({e.user, e.title, e.kind, e.page, e.artwork}, '\\0')
  local recorded = seen[e.key]
  if recorded == nil then
    local r = redis.call('HMGET', e.key, 'user_id', 'title_id', 'kind', 'page_id', 'artwork_id')
    if r[1] then recorded = table.concat(r, '\\0') end
  end
  if recorded then
    if recorded ~= content then return {-1, i} end
    e.duplicate = true
  end
  seen[e.key] = recorded or content
  events[i + 1] = e
end
local outcomes, counts, weights, since, updated_key = {}, {}, {}, {}, {}
for i, e in ipairs(events) do
  outcomes[i] = 0
  if not e.duplicate then
    outcomes[i] = 1
    redis.call('HSET', e.key, 'user_id', e.user, 'title_id', e.title, 'kind', e.kind,
               'occurred_at_ms', e.at, 'page_id', e.page, 'artwork_id', e.artwork)
    counts[e.count] = (counts[e.count] or 0) + 1
    if e.added > 0 then
      if weights[e.weight] == nil then
        weights[e.weight], since[e.weight], updated_key[e.weight] = {}, {}, e.updated
      end
      local w, u, at = weights[e.weight], since[e.weight], tonumber(e.at)
      for j = e.first, e.last do
        local name = ARGV[j]
        local weight, updated = w[name], u[name]
        if weight == nil then
          weight = tonumber(redis.call('HGET', e.weight, name) or '0')
          updated = tonumber(redis.call('HGET', e.updated, name) or e.at)
        end
        if at >= updated then
          weight = weight * 2 ^ (-(at - updated) / half_life) + e.added
          updated = at
        else
          weight = weight + e.added * 2 ^ (-(updated - at) / half_life)
        end
        w[name], u[name] = weight, updated
      end
    end
  end
end
for key, n in pairs(counts) do redis.call('INCRBY', key, n) end
local function hset(key, values, format)
  local args = {}
  for name, value in pairs(values) do
    args[#args + 1] = name
    args[#args + 1] = string.format(format, value)
    if #args >= 200 then redis.call('HSET', key, unpack(args)); args = {} end
  end
  if #args > 0 then redis.call('HSET', key, unpack(args)) end
end
for key, w in pairs(weights) do
  hset(key, w, '%.17g')
  hset(updated_key[key], since[key], '%d')
end
return outcomes
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
        self._apply = self._redis.register_script(_APPLY_BATCH)
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
        return self.apply_batch([event]).applied == 1

    def apply_batch(self, events: Sequence[FeedbackEvent]) -> BatchOutcome:
        """One Lua call for the whole batch (atomic, all or none)."""
        if not events:
            return BatchOutcome(0, 0, frozenset())
        keys: list[str] = []
        args: list[str | int] = [repr(self._decay.half_life_days * MS_PER_DAY)]
        for event in events:
            features = taste_features(event)
            keys.append(self._key("event", event.event_id))
            keys += [self._key(kind, event.user_id) for kind in ("count", "weight", "updated")]
            args += [
                *event_record(event),
                repr(EVENT_WEIGHTS[event.kind]),
                len(features),
                *features,
            ]
        try:
            outcomes = self._apply(keys=keys, args=args)
        except _UNREACHABLE as error:
            raise StoreUnavailable(f"redis: {error}") from None
        if outcomes[0] < 0:
            raise ReusedEventId(events[outcomes[1]].event_id, outcomes[1])
        applied = [
            event.user_id for event, outcome in zip(events, outcomes, strict=True) if outcome
        ]
        return BatchOutcome(len(applied), len(events) - len(applied), frozenset(applied))

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
