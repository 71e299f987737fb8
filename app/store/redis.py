"""``BACKPROP_LAB_STORE=redis://HOST:PORT/DB``: sessions in Redis, shared by replicas.

Every step that reads and then writes is one Lua script, so it runs atomically in Redis
whatever the other replicas do. Keys (``bpl:`` + kind + ``:`` + session id):

- ``s`` hash: version, client, bytes, last use; ``t`` the stored trainer (without its history
  rows); ``h`` the history's pieces (a list, appended save after save); ``c`` the uploaded
  CSV text. These expire through Redis itself (``PEXPIRE``, the session TTL plus a minute,
  renewed on every use), so a session nobody uses disappears even with every replica down.
- ``l`` the lease (the holder's name, ``PX`` lease), ``w`` the process waiting for it,
  ``a`` the processes with a stream connected (process → until, in Redis's own clock).
- ``bpl:lru`` (sorted by last use), ``bpl:bytes`` and ``bpl:client`` (per session),
  ``bpl:total`` (bytes together) and ``bpl:owned:CLIENT`` (a client's sessions): the index
  the caps work on, cleaned of sessions Redis expired as soon as a script meets them.
- ``bpl:b:CLIENT`` a client's creation bucket, expiring once it would be full again.

Timeouts: every round trip (connecting included) is over within ``timeout`` seconds or the
request gets a 503 naming Redis (a dead connection is retried once, on a new connection,
within the same time: a restarted Redis is used again at once). A single Redis server (or
a primary with its replicas) — not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from app.store.base import (
    KEEP_CSV,
    LARGE_BYTES,
    Acquired,
    Blob,
    Busy,
    Caps,
    Created,
    LeaseLostError,
    NewRecord,
    Saved,
    SessionNotFoundError,
    SharedBackend,
    Stored,
    StoreStartupError,
    StoreUnavailableError,
    Usage,
)

PREFIX = "bpl:"
WANT_MS = 500
EXPIRY_MARGIN_MS = 60_000  # Redis drops idle sessions this long after the app would

# Helpers every script starts with. ARGV[1] is always the key prefix.
PRELUDE = """
local P = ARGV[1]
local function key(kind, id) return P .. kind .. ':' .. id end
local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function in_use(id)
  if redis.call('EXISTS', key('l', id)) == 1 then return true end
  local now = clock_ms()
  for _, until_ms in ipairs(redis.call('HVALS', key('a', id))) do
    if tonumber(until_ms) > now then return true end
  end
  return false
end
local function drop(id)
  local client = redis.call('HGET', P .. 'client', id)
  local nbytes = tonumber(redis.call('HGET', P .. 'bytes', id) or '0')
  redis.call('DEL', key('s', id), key('t', id), key('h', id), key('c', id), key('l', id),
             key('w', id), key('a', id))
  redis.call('ZREM', P .. 'lru', id)
  redis.call('HDEL', P .. 'bytes', id)
  redis.call('HDEL', P .. 'client', id)
  redis.call('DECRBY', P .. 'total', nbytes)
  if client then redis.call('SREM', P .. 'owned:' .. client, id) end
end
local function touch(id, now, expire_ms)
  local last = tonumber(redis.call('HGET', key('s', id), 'last_used') or '0')
  if tonumber(now) > last then
    redis.call('HSET', key('s', id), 'last_used', now)
    redis.call('ZADD', P .. 'lru', now, id)
  end
  redis.call('PEXPIRE', key('s', id), expire_ms)
  redis.call('PEXPIRE', key('t', id), expire_ms)
  redis.call('PEXPIRE', key('h', id), expire_ms)
  redis.call('PEXPIRE', key('c', id), expire_ms)
end
local function store_history(id, piece, replace)
  if replace == '1' then redis.call('DEL', key('h', id)) end
  if piece ~= '' then redis.call('RPUSH', key('h', id), piece) end
end
"""

# ARGV: prefix, id, owner, now, ttl, lease_ms, want_ms, expire_ms
ACQUIRE = """
local id, owner, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local meta = redis.call('HMGET', key('s', id), 'version', 'client', 'last_used')
if not meta[1] or redis.call('EXISTS', key('t', id)) == 0 then drop(id) return {0} end
local holder = redis.call('GET', key('l', id))
if not in_use(id) and now - tonumber(meta[3]) > tonumber(ARGV[5]) then drop(id) return {0} end
local waiter = redis.call('GET', key('w', id))
local queued = waiter and waiter ~= owner
if (holder and holder ~= owner) or queued then
  if not queued then redis.call('SET', key('w', id), owner, 'PX', ARGV[7]) end
  return {1}
end
redis.call('SET', key('l', id), owner, 'PX', ARGV[6])
if waiter then redis.call('DEL', key('w', id)) end
touch(id, ARGV[4], ARGV[8])
return {2, meta[1], meta[2]}
"""

# ARGV: prefix, id
LOAD = """
local id = ARGV[2]
local meta = redis.call('HMGET', key('s', id), 'version', 'client')
local blob = redis.call('GET', key('t', id))
if not meta[1] or not blob then return false end
return {meta[1], meta[2], blob, redis.call('GET', key('c', id)),
        redis.call('LRANGE', key('h', id), 0, -1)}
"""

# ARGV: prefix, id, owner, trainer, nbytes, csv mode (keep/set/clear), csv, now, release,
#       expire_ms, history piece, replace the pieces ('1') or append, lease_ms (0: as it is)
SAVE = """
local id, owner = ARGV[2], ARGV[3]
if redis.call('EXISTS', key('s', id)) == 0 then drop(id) return {0} end
if redis.call('GET', key('l', id)) ~= owner then return {1} end
local version = redis.call('HINCRBY', key('s', id), 'version', 1)
local old = tonumber(redis.call('HGET', P .. 'bytes', id) or '0')
redis.call('HSET', key('s', id), 'bytes', ARGV[5])
redis.call('HSET', P .. 'bytes', id, ARGV[5])
redis.call('INCRBY', P .. 'total', tonumber(ARGV[5]) - old)
redis.call('SET', key('t', id), ARGV[4])
store_history(id, ARGV[11], ARGV[12])
if ARGV[6] == 'set' then redis.call('SET', key('c', id), ARGV[7])
elseif ARGV[6] == 'clear' then redis.call('DEL', key('c', id)) end
touch(id, ARGV[8], ARGV[10])
if ARGV[9] == '1' then redis.call('DEL', key('l', id))
elseif ARGV[13] ~= '0' then redis.call('PEXPIRE', key('l', id), ARGV[13]) end
local waiter = redis.call('GET', key('w', id))
return {2, version, (waiter and waiter ~= owner) and 1 or 0}
"""

# ARGV: prefix, id, owner, now, expire_ms
RELEASE = """
local id = ARGV[2]
if redis.call('GET', key('l', id)) == ARGV[3] then redis.call('DEL', key('l', id)) end
if redis.call('EXISTS', key('s', id)) == 1 then touch(id, ARGV[4], ARGV[5]) end
return 1
"""

# ARGV: prefix, owner, lease_ms, expire_ms, now, number of leases, lease ids…, attached ids…
RENEW = """
local owner, n = ARGV[2], tonumber(ARGV[6])
for i = 7, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', key('s', id)) == 1 then
    if i < 7 + n then
      if redis.call('GET', key('l', id)) == owner then
        redis.call('PEXPIRE', key('l', id), ARGV[3])
      end
      touch(id, '0', ARGV[4])
    else
      redis.call('HSET', key('a', id), owner, clock_ms() + tonumber(ARGV[3]))
      redis.call('PEXPIRE', key('a', id), ARGV[3])
      touch(id, ARGV[5], ARGV[4])
    end
  end
end
return 1
"""

# ARGV: prefix, id, owner, now, ttl, lease_ms, expire_ms
ATTACH = """
local id, now = ARGV[2], tonumber(ARGV[4])
local last = redis.call('HGET', key('s', id), 'last_used')
if not last or redis.call('EXISTS', key('t', id)) == 0 then drop(id) return 0 end
if not in_use(id) and now - tonumber(last) > tonumber(ARGV[5]) then drop(id) return 0 end
redis.call('HSET', key('a', id), ARGV[3], clock_ms() + tonumber(ARGV[6]))
redis.call('PEXPIRE', key('a', id), ARGV[6])
touch(id, ARGV[4], ARGV[7])
return 1
"""

# ARGV: prefix, id, owner, now, expire_ms
DETACH = """
local id = ARGV[2]
redis.call('HDEL', key('a', id), ARGV[3])
if redis.call('EXISTS', key('s', id)) == 1 then touch(id, ARGV[4], ARGV[5]) end
return 1
"""

# ARGV: prefix, id, client, nbytes, now, trainer, csv or '', has csv, max sessions,
#       memory bytes, max per client, expire_ms, history piece
CREATE = """
local id, client, nbytes = ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('SCARD', P .. 'owned:' .. client) >= tonumber(ARGV[11]) then return 'quota' end
local total = tonumber(redis.call('GET', P .. 'total') or '0')
if redis.call('ZCARD', P .. 'lru') + 1 > tonumber(ARGV[9])
   or total + nbytes > tonumber(ARGV[10]) then return 'full' end
redis.call('HSET', key('s', id), 'version', 1, 'client', client, 'bytes', nbytes,
           'last_used', ARGV[5])
redis.call('SET', key('t', id), ARGV[6])
store_history(id, ARGV[13], '1')
if ARGV[8] == '1' then redis.call('SET', key('c', id), ARGV[7]) end
redis.call('ZADD', P .. 'lru', ARGV[5], id)
redis.call('HSET', P .. 'bytes', id, nbytes)
redis.call('HSET', P .. 'client', id, client)
redis.call('INCRBY', P .. 'total', nbytes)
redis.call('SADD', P .. 'owned:' .. client, id)
touch(id, ARGV[5], ARGV[12])
return 'ok'
"""

# ARGV: prefix, keep ('' for none), before
OLDEST_IDLE = """
local keep, before, start = ARGV[2], tonumber(ARGV[3]), 0
while start < 5000 do
  local batch = redis.call('ZRANGE', P .. 'lru', start, start + 99, 'WITHSCORES')
  if #batch == 0 then return false end
  for i = 1, #batch, 2 do
    local id = batch[i]
    if redis.call('EXISTS', key('s', id)) == 0 then
      drop(id)
    elseif id ~= keep and not in_use(id) then
      if tonumber(batch[i + 1]) < before then return id end
      return false
    end
  end
  start = start + 100
end
return false
"""

# ARGV: prefix, id, before
EVICT = """
local id = ARGV[2]
local score = redis.call('ZSCORE', P .. 'lru', id)
if not score or in_use(id) or tonumber(score) >= tonumber(ARGV[3]) then return 0 end
drop(id)
return 1
"""

# ARGV: prefix, before, limit
PURGE = """
local gone = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'lru', '-inf', '(' .. ARGV[2],
                                'LIMIT', 0, tonumber(ARGV[3]))) do
  if redis.call('EXISTS', key('s', id)) == 0 or not in_use(id) then
    drop(id)
    table.insert(gone, id)
  end
end
return gone
"""

# ARGV: prefix, id
DELETE = "drop(ARGV[2]) return 1"

# ARGV: prefix, client, now, rate, burst, take
BUCKET = """
local k = P .. 'b:' .. ARGV[2]
local now, rate, burst = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local state = redis.call('HMGET', k, 'tokens', 'stamp')
local tokens = burst
if state[1] then
  tokens = math.min(burst, tonumber(state[1]) + (now - tonumber(state[2])) * rate)
end
local wait = 0
if tokens < 1 then wait = (1 - tokens) / rate elseif ARGV[6] == '1' then tokens = tokens - 1 end
redis.call('HSET', k, 'tokens', tostring(tokens), 'stamp', ARGV[3])
redis.call('PEXPIRE', k, math.ceil((burst / rate + 60) * 1000))
return tostring(wait)
"""


class RedisBackend(SharedBackend):
    def __init__(self, url: str, ttl_seconds: float, timeout: float) -> None:
        self.url = url
        self.expire_ms = int((ttl_seconds * 1000) + EXPIRY_MARGIN_MS)
        self.timeout = timeout
        try:
            self.redis = aioredis.Redis.from_url(
                url,
                # No socket timeout: with one, the client sends each command under
                # asyncio.wait_for, which on Python 3.11 loses a cancellation that arrives
                # as the send completes (a paused stream played on). Every call is bounded
                # by _answered instead; a call cancelled mid-reply drops its connection.
                socket_timeout=None,
                socket_connect_timeout=timeout,
                # A connection Redis closed (a restart) is retried once on a new one; a
                # timeout is not: the answer would come later than promised.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
                retry_on_error=[RedisConnectionError],
                decode_responses=False,
            )
        except ValueError as exc:
            raise StoreStartupError(f"{url!r}: {exc}") from None
        kwargs = self.redis.connection_pool.connection_kwargs
        host = kwargs.get("host", kwargs.get("path", "?"))
        port = kwargs.get("port")
        self.where = f"Redis at {host}:{port}" if port else f"Redis at {host}"
        self._scripts = {
            name: self.redis.register_script(PRELUDE + source)
            for name, source in {
                "acquire": ACQUIRE,
                "load": LOAD,
                "save": SAVE,
                "release": RELEASE,
                "renew": RENEW,
                "attach": ATTACH,
                "detach": DETACH,
                "create": CREATE,
                "oldest_idle": OLDEST_IDLE,
                "evict": EVICT,
                "purge": PURGE,
                "delete": DELETE,
                "bucket": BUCKET,
            }.items()
        }

    async def close(self) -> None:
        closing = getattr(self.redis, "aclose", None) or self.redis.close
        await closing()

    @contextlib.asynccontextmanager
    async def _answered(self) -> AsyncIterator[None]:
        """One round trip, over within ``timeout`` seconds all told (a connect, a retry and
        the reply together); a Redis that does not answer, or fails, becomes a 503."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except TimeoutError:
            raise StoreUnavailableError(
                f"{self.where} did not answer within {self.timeout:g} s; try again shortly"
            ) from None
        except (RedisError, OSError) as exc:
            raise StoreUnavailableError(
                f"{self.where} is unreachable or failing ({type(exc).__name__}: {exc}); "
                "try again shortly"
            ) from None

    async def _call(self, script: str, *args: str | bytes | int) -> Any:
        """Run one of the scripts (a 503 when Redis does not answer in time)."""
        async with self._answered():
            return await self._scripts[script](args=[PREFIX, *args])

    # --- bookkeeping --------------------------------------------------------------------------

    async def usage(self, client: str) -> Usage:
        async with self._answered(), self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(PREFIX + "lru")
            pipe.get(PREFIX + "total")
            pipe.scard(f"{PREFIX}owned:{client}")
            sessions, total, owned = await pipe.execute()
        return Usage(int(sessions), int(total or 0), int(owned))

    async def bucket(self, client: str, now: float, rate: float, burst: int, take: bool) -> float:
        wait = await self._call("bucket", client, repr(now), repr(rate), burst, int(take))
        return float(wait)

    async def oldest_idle(self, before: float, keep: str | None) -> str | None:
        found = await self._call("oldest_idle", keep or "", repr(before))
        return found.decode() if found else None

    async def evict(self, session_id: str, before: float) -> bool:
        return bool(await self._call("evict", session_id, repr(before)))

    async def purge_expired(self, now: float, ttl: float) -> list[str]:
        gone: list[str] = []
        while True:
            batch = await self._call("purge", repr(now - ttl), 500)
            gone += [i.decode() for i in batch]
            if len(batch) < 500:
                return gone

    async def create(self, record: NewRecord, caps: Caps) -> Created:
        assert record.blob is not None, "a shared store keeps the trainer"
        answer = await self._call(
            "create",
            record.session_id,
            record.client,
            record.nbytes,
            repr(record.now),
            record.blob.trainer,
            record.csv or "",
            int(record.csv is not None),
            caps.max_sessions,
            caps.memory_bytes,
            caps.max_per_client,
            self.expire_ms,
            record.blob.history,
        )
        return Created(answer.decode())

    async def delete(self, session_id: str) -> None:
        await self._call("delete", session_id)

    # --- leases and stored trainers -----------------------------------------------------------

    async def acquire(
        self, session_id: str, owner: str, now: float, ttl: float, lease_seconds: float
    ) -> Acquired | Busy | None:
        answer = await self._call(
            "acquire",
            session_id,
            owner,
            repr(now),
            repr(ttl),
            math.ceil(lease_seconds * 1000),
            WANT_MS,
            self.expire_ms,
        )
        if answer[0] == 0:
            return None
        if answer[0] == 1:
            return Busy.BUSY
        return Acquired(int(answer[1]), answer[2].decode())

    async def load(self, session_id: str) -> Stored | None:
        answer = await self._call("load", session_id)
        if not answer:
            return None
        version, client, blob, csv, pieces = answer
        text = None if csv is None else csv.decode()
        return Stored(blob, list(pieces), text, int(version), client.decode())

    async def save(
        self,
        session_id: str,
        owner: str,
        encode: Callable[[], Blob],
        nbytes: int,
        csv: object,
        now: float,
        release: bool,
        lease_seconds: float = 0.0,
    ) -> Saved:
        # A small session is encoded here (a thread hop would cost more); a large one, with
        # a long history or big layers, in a thread, off the event loop.
        blob = encode() if nbytes < LARGE_BYTES else await asyncio.to_thread(encode)
        mode = "keep" if csv is KEEP_CSV else "clear" if csv is None else "set"
        text = csv if isinstance(csv, str) else ""
        answer = await self._call(
            "save",
            session_id,
            owner,
            blob.trainer,
            nbytes,
            mode,
            text,
            repr(now),
            int(release),
            self.expire_ms,
            blob.history,
            int(blob.replace),
            math.ceil(lease_seconds * 1000),
        )
        if answer[0] == 0:
            raise SessionNotFoundError(session_id)
        if answer[0] == 1:
            raise LeaseLostError(
                "this request ran longer than the session's lease and another server process "
                "took the session over: its changes were not saved; try again"
            )
        return Saved(int(answer[1]), bool(answer[2]))

    async def release(self, session_id: str, owner: str, now: float) -> None:
        await self._call("release", session_id, owner, repr(now), self.expire_ms)

    async def waiting(self, session_ids: Sequence[str], owner: str) -> set[str]:
        if not session_ids:
            return set()
        async with self._answered():
            waiters = await self.redis.mget([f"{PREFIX}w:{i}" for i in session_ids])
        mine = owner.encode()
        return {i for i, w in zip(session_ids, waiters, strict=True) if w not in (None, mine)}

    async def renew(
        self,
        leases: Sequence[str],
        attached: Sequence[str],
        owner: str,
        lease_seconds: float,
        now: float,
    ) -> None:
        if leases or attached:
            lease_ms = math.ceil(lease_seconds * 1000)
            await self._call(
                "renew", owner, lease_ms, self.expire_ms, repr(now), len(leases), *leases, *attached
            )

    async def attach(
        self, session_id: str, owner: str, now: float, ttl: float, lease_seconds: float
    ) -> bool:
        answer = await self._call(
            "attach",
            session_id,
            owner,
            repr(now),
            repr(ttl),
            math.ceil(lease_seconds * 1000),
            self.expire_ms,
        )
        return bool(answer)

    async def detach(self, session_id: str, owner: str, now: float) -> None:
        await self._call("detach", session_id, owner, repr(now), self.expire_ms)
