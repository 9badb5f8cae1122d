import RedisKit

/// The Lua scripts that grant and renew leases. Each runs atomically in Redis, so no interleaving of requests can
/// give one number to two sessions unless the reply says `recycled`.
///
/// Every lease event that `number.leases` must carry is appended, in the same script, to the pool's outbox, the list
/// `<base>outbox`, as `status|number|session|visitor|fromMs|untilMs|timeMs` (`untilMs` is empty for a fallback).
/// The number-pool publishes the outbox in order and then trims it (`LeaseOutbox`), so a lease is on the topic
/// even when the service dies right after the script, or the broker is down for a while. When the outbox contains
/// `maxBacklog` entries, because nothing has been published for a long time, the scripts reject the request with
/// `backlog` instead of letting it grow without bound.
///
/// Every key a script touches starts with the pool's base key, which carries the pool's hash tag, so all of them
/// live in one Redis Cluster slot. Times come from Redis's own clock (`TIME`), so several service instances agree.
enum LeaseScripts {
    /// Lua: splits a session key's value, `number member` (or a bare number from older data), into its parts.
    static let heldLeaseFunction = """
        local function heldLease(value)
          if not value then return nil, nil end
          local number, member = string.match(value, '^(%S+) (.+)$')
          if number then return number, member end
          return value, nil
        end
        """

    /// KEYS: free set, session key, visitor key (or a placeholder), stats hash, outbox.
    /// ARGV: pool base key, session id, visitor id (may be empty), lease ms, lookback ms, exhaustion policy,
    /// fallback number (may be empty), outbox limit.
    /// Returns {status, number, fromMs, untilMs}; status is granted, renewed, recycled, exhausted or backlog.
    static let grant = RedisScript(source: """
        local free, sessionKey, visitorKey, stats, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
        \(heldLeaseFunction)
        local base, session, visitor = ARGV[1], ARGV[2], ARGV[3]
        local ttl, lookback, policy, fallback = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        if redis.call('LLEN', outbox) >= tonumber(ARGV[8]) then
          return {'backlog', '', tostring(now), ''}
        end
        local untilMs = now + ttl

        local function record(status, number, visitorId, from, untilText)
          redis.call('RPUSH', outbox, status .. '|' .. number .. '|' .. session .. '|' .. visitorId .. '|' .. from
            .. '|' .. untilText .. '|' .. now)
        end

        local function take(number, status)
          -- A recycled lease says so in its history member too, for readers of the history alone.
          local member = session .. '|' .. visitor .. '|' .. now .. (status == 'recycled' and '|r' or '')
          redis.call('SET', base .. 'lease:' .. number, member, 'PX', ttl)
          redis.call('SET', sessionKey, number .. ' ' .. member, 'PX', ttl)
          if visitor ~= '' then redis.call('SET', visitorKey, number, 'PX', lookback) end
          redis.call('ZADD', free, untilMs, number)
          local history = base .. 'hist:' .. number
          redis.call('ZADD', history, untilMs, member)
          redis.call('ZREMRANGEBYSCORE', history, '-inf', '(' .. (now - lookback))
          redis.call('HINCRBY', stats, status, 1)
          record(status, number, visitor, now, untilMs)
          return {status, number, tostring(now), tostring(untilMs)}
        end

        -- The session key holds `number member`: the session keeps its number while its own lease lives, also
        -- after a recycled lease took the number's lease key (both then share the number until one ends).
        local held, member = heldLease(redis.call('GET', sessionKey))
        if held and redis.call('ZSCORE', free, held) then
          local current = redis.call('GET', base .. 'lease:' .. held)
          member = member or current
          if member and string.sub(member, 1, #session + 1) == session .. '|' then
            if current == member then redis.call('PEXPIRE', base .. 'lease:' .. held, ttl) end
            redis.call('SET', sessionKey, held .. ' ' .. member, 'PX', ttl)
            redis.call('ZADD', free, untilMs, held)
            redis.call('ZADD', base .. 'hist:' .. held, untilMs, member)
            redis.call('HINCRBY', stats, 'renewed', 1)
            local heldBy, from = string.match(member, '^[^|]*|([^|]*)|([0-9]+)')
            record('renewed', held, heldBy, from, untilMs)
            return {'renewed', held, from, tostring(untilMs)}
          end
        end

        if visitor ~= '' then
          -- Free means what the idle scan below requires: no lease key, and every holder's lease has ended (a
          -- session that shares a recycled number keeps its lease without the number's lease key).
          local previous = redis.call('GET', visitorKey)
          local score = previous and redis.call('ZSCORE', free, previous)
          if score and tonumber(score) <= now
             and redis.call('EXISTS', base .. 'lease:' .. previous) == 0 then
            return take(previous, 'granted')
          end
        end

        local idle = redis.call('ZRANGEBYSCORE', free, '-inf', now, 'LIMIT', 0, 16)
        for _, number in ipairs(idle) do
          if redis.call('EXISTS', base .. 'lease:' .. number) == 0 then
            return take(number, 'granted')
          end
        end

        if policy == 'recycle' then
          local oldest = redis.call('ZRANGE', free, 0, 0)
          if oldest[1] then return take(oldest[1], 'recycled') end
        end
        redis.call('HINCRBY', stats, 'fallback', 1)
        if fallback ~= '' then record('fallback', fallback, visitor, now, '') end
        return {'exhausted', '', tostring(now), ''}
        """)

    /// Counts a fallback given without running the rules (bots) and records it in the outbox.
    /// KEYS: stats hash, outbox. ARGV: session id, visitor id (may be empty), fallback number, outbox limit.
    /// Returns the time in ms, or -1 when the outbox is full.
    static let fallback = RedisScript(source: """
        local stats, outbox = KEYS[1], KEYS[2]
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        if redis.call('LLEN', outbox) >= tonumber(ARGV[4]) then return -1 end
        redis.call('HINCRBY', stats, 'fallback', 1)
        redis.call('RPUSH', outbox,
          'fallback|' .. ARGV[3] .. '|' .. ARGV[1] .. '|' .. ARGV[2] .. '|' .. now .. '||' .. now)
        return now
        """)

    /// Extends the lease a session holds, if it still holds one, and records the renewal; activity calls it.
    /// KEYS: free set, session key, stats hash, outbox. ARGV: pool base key, session id, lease ms, outbox limit.
    /// Returns {number, fromMs, untilMs, visitor}, nil when the session holds no live lease, or the error reply
    /// `BACKLOG` when the outbox is full.
    static let renew = RedisScript(source: """
        local free, sessionKey, stats, outbox = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
        local base, session, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
        \(heldLeaseFunction)
        local held, member = heldLease(redis.call('GET', sessionKey))
        if not held or not redis.call('ZSCORE', free, held) then return nil end
        local current = redis.call('GET', base .. 'lease:' .. held)
        member = member or current
        if not member or string.sub(member, 1, #session + 1) ~= session .. '|' then return nil end
        if redis.call('LLEN', outbox) >= tonumber(ARGV[4]) then
          return redis.error_reply('BACKLOG the lease outbox is full; number.leases is not being published')
        end
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local untilMs = now + ttl
        if current == member then redis.call('PEXPIRE', base .. 'lease:' .. held, ttl) end
        redis.call('SET', sessionKey, held .. ' ' .. member, 'PX', ttl)
        redis.call('ZADD', free, untilMs, held)
        redis.call('ZADD', base .. 'hist:' .. held, untilMs, member)
        redis.call('HINCRBY', stats, 'renewed', 1)
        local visitor, from = string.match(member, '^[^|]*|([^|]*)|([0-9]+)')
        redis.call('RPUSH', outbox, 'renewed|' .. held .. '|' .. session .. '|' .. visitor .. '|' .. from .. '|'
          .. untilMs .. '|' .. now)
        return {held, from, tostring(untilMs), visitor}
        """)

    /// Reads the first entries of a pool's outbox for the caller to publish, unless another publisher holds the
    /// pool's outbox lock. KEYS: outbox, lock. ARGV: owner, lock ms, count.
    /// Returns the entries (possibly none), or nil when another owner holds the lock.
    static let claimOutbox = RedisScript(source: """
        local outbox, lock = KEYS[1], KEYS[2]
        local holder = redis.call('GET', lock)
        if holder and holder ~= ARGV[1] then return nil end
        redis.call('SET', lock, ARGV[1], 'PX', tonumber(ARGV[2]))
        return redis.call('LRANGE', outbox, 0, tonumber(ARGV[3]) - 1)
        """)

    /// Removes the first entries of a pool's outbox once they were published and releases the lock, if the caller
    /// still holds it; an owner that lost the lock leaves the entries to the new owner, which publishes them again.
    /// KEYS: outbox, lock. ARGV: owner, number of published entries. Returns the entries left.
    static let releaseOutbox = RedisScript(source: """
        local outbox, lock = KEYS[1], KEYS[2]
        if redis.call('GET', lock) == ARGV[1] then
          local published = tonumber(ARGV[2])
          if published > 0 then redis.call('LTRIM', outbox, published, -1) end
          redis.call('DEL', lock)
        end
        return redis.call('LLEN', outbox)
        """)

    /// Adds numbers new to the pool and removes numbers no longer in it; history of removed numbers stays.
    /// KEYS: free set. ARGV: the pool's numbers.
    static let syncPool = RedisScript(source: """
        local free = KEYS[1]
        local wanted = {}
        for _, number in ipairs(ARGV) do
          wanted[number] = true
          redis.call('ZADD', free, 'NX', 0, number)
        end
        local removed = 0
        for _, number in ipairs(redis.call('ZRANGE', free, 0, -1)) do
          if not wanted[number] then
            redis.call('ZREM', free, number)
            removed = removed + 1
          end
        end
        return removed
        """)
}
