import RedisKit

/// The Lua scripts that grant and renew leases. Each runs atomically in Redis, so no interleaving of requests can
/// give one number to two sessions unless the reply says `recycled`.
///
/// A lease that the number-pool has not yet published on `number.leases` is marked by the key
/// `<base>unpublished:<number>:<session>`, whose value is the status the lease began with. While the mark exists,
/// a renewal returns that status instead of `renewed`, so a retry after a failed publish still announces a
/// `recycled` lease as `recycled`. The number-pool deletes the mark once the broker acknowledged the event.
///
/// Every key a script touches starts with the pool's base key, which carries the pool's hash tag, so all of them
/// live in one Redis Cluster slot. Times come from Redis's own clock (`TIME`), so several service instances agree.
enum LeaseScripts {
    /// KEYS: free set, session key, visitor key (or a placeholder), stats hash.
    /// ARGV: pool base key, session id, visitor id (may be empty), lease ms, lookback ms, exhaustion policy.
    /// Returns {status, number, fromMs, untilMs}; status is granted, renewed, recycled or exhausted. A renewal of a
    /// lease that is still unpublished returns the status the lease began with.
    static let grant = RedisScript(source: """
        local free, sessionKey, visitorKey, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
        local base, session, visitor = ARGV[1], ARGV[2], ARGV[3]
        local ttl, lookback, policy = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local untilMs = now + ttl

        local function extend(number, member)
          redis.call('PEXPIRE', base .. 'lease:' .. number, ttl)
          redis.call('SET', sessionKey, number, 'PX', ttl)
          redis.call('ZADD', free, untilMs, number)
          redis.call('ZADD', base .. 'hist:' .. number, untilMs, member)
        end

        local function take(number, status)
          -- A recycled lease says so in its history member, because its event on number.leases is lost when
          -- the reply never reaches the service (Redis dies right after the script).
          local member = session .. '|' .. visitor .. '|' .. now .. (status == 'recycled' and '|r' or '')
          redis.call('SET', base .. 'lease:' .. number, member, 'PX', ttl)
          redis.call('SET', base .. 'unpublished:' .. number .. ':' .. session, status, 'PX', ttl)
          redis.call('SET', sessionKey, number, 'PX', ttl)
          if visitor ~= '' then redis.call('SET', visitorKey, number, 'PX', lookback) end
          redis.call('ZADD', free, untilMs, number)
          local history = base .. 'hist:' .. number
          redis.call('ZADD', history, untilMs, member)
          redis.call('ZREMRANGEBYSCORE', history, '-inf', '(' .. (now - lookback))
          redis.call('HINCRBY', stats, status, 1)
          return {status, number, tostring(now), tostring(untilMs)}
        end

        local held = redis.call('GET', sessionKey)
        if held and redis.call('ZSCORE', free, held) then
          local member = redis.call('GET', base .. 'lease:' .. held)
          if member and string.sub(member, 1, #session + 1) == session .. '|' then
            extend(held, member)
            local from = string.match(member, '^[^|]*|[^|]*|([0-9]+)')
            local unpublished = base .. 'unpublished:' .. held .. ':' .. session
            local began = redis.call('GET', unpublished)
            if began then
              redis.call('PEXPIRE', unpublished, ttl)
              return {began, held, from, tostring(untilMs)}
            end
            redis.call('HINCRBY', stats, 'renewed', 1)
            return {'renewed', held, from, tostring(untilMs)}
          end
        end

        if visitor ~= '' then
          local previous = redis.call('GET', visitorKey)
          if previous and redis.call('ZSCORE', free, previous)
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
        return {'exhausted', '', tostring(now), ''}
        """)

    /// Extends the lease a session holds, if it still holds one; activity calls it.
    /// KEYS: free set, session key, stats hash. ARGV: pool base key, session id, lease ms.
    /// Returns {number, fromMs, untilMs, visitor, status} or nil when the session holds no live lease; status is
    /// `renewed`, or the status the lease began with while it is still unpublished.
    static let renew = RedisScript(source: """
        local free, sessionKey, stats = KEYS[1], KEYS[2], KEYS[3]
        local base, session, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local held = redis.call('GET', sessionKey)
        if not held or not redis.call('ZSCORE', free, held) then return nil end
        local member = redis.call('GET', base .. 'lease:' .. held)
        if not member or string.sub(member, 1, #session + 1) ~= session .. '|' then return nil end
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local untilMs = now + ttl
        redis.call('PEXPIRE', base .. 'lease:' .. held, ttl)
        redis.call('PEXPIRE', sessionKey, ttl)
        redis.call('ZADD', free, untilMs, held)
        redis.call('ZADD', base .. 'hist:' .. held, untilMs, member)
        local visitor, from = string.match(member, '^[^|]*|([^|]*)|([0-9]+)')
        local unpublished = base .. 'unpublished:' .. held .. ':' .. session
        local began = redis.call('GET', unpublished)
        if began then
          redis.call('PEXPIRE', unpublished, ttl)
          return {held, from, tostring(untilMs), visitor, began}
        end
        redis.call('HINCRBY', stats, 'renewed', 1)
        return {held, from, tostring(untilMs), visitor, 'renewed'}
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
