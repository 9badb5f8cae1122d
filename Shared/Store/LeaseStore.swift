import Model
import RedisKit

/// The result of a lease request.
public struct LeaseGrant: Sendable, Equatable {
    public var status: LeaseEvent.Status
    /// The number to show; nil only when the pool is exhausted and has no fallback number.
    public var number: String?
    public var from: Int64
    /// When the lease ends unless renewed; nil for a fallback, which leases nothing.
    public var until: Int64?

    public init(status: LeaseEvent.Status, number: String?, from: Int64, until: Int64?) {
        self.status = status
        self.number = number
        self.from = from
        self.until = until
    }
}

/// One lease of a number: who held it and when. Times are milliseconds since the epoch.
public struct LeaseRecord: Sendable, Equatable {
    public var sessionId: String
    public var visitorId: String?
    public var from: Int64
    public var until: Int64
    /// Whether the lease took the number from a session that still held it.
    public var recycled: Bool

    /// Parses a history member `session|visitor|fromMs`, or `session|visitor|fromMs|r` for a recycled lease,
    /// scored by its end.
    init?(member: String, until: Int64) {
        let parts = member.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3 || (parts.count == 4 && parts[3] == "r"), let from = Int64(parts[2]) else {
            return nil
        }

        self.sessionId = String(parts[0])
        self.visitorId = parts[1].isEmpty ? nil : String(parts[1])
        self.from = from
        self.until = until
        self.recycled = parts.count == 4
    }
}

/// Counters and occupancy of one pool.
public struct PoolStats: Sendable, Codable, Equatable {
    public var pool: String
    public var size: Int
    public var leased: Int
    public var free: Int
    public var granted: Int
    public var renewed: Int
    public var recycled: Int
    public var fallback: Int
}

/// Leases, renewals, history and statistics of number pools, kept in Redis.
public struct LeaseStore: Sendable {
    public let redis: RedisClient
    public let keys: RedisKeys

    public init(redis: RedisClient, keys: RedisKeys) {
        self.redis = redis
        self.keys = keys
    }

    /// Grants `session` a number of `pool`, following the leasing rules in one atomic script that also appends
    /// the lease event to the pool's outbox.
    ///
    /// - Throws: `LeaseBacklogError` when the outbox is full; `RedisError` when Redis is unreachable or the
    ///   script failed.
    public func grant(advertiser: Advertiser, pool: Pool, session: String, visitor: String?,
                      lookbackSeconds: Double) async throws -> LeaseGrant {
        let base = keys.poolBase(advertiser: advertiser.id, pool: pool.id)
        let reply = try await redis.evaluate(
            LeaseScripts.grant,
            keys: [
                base + "free",
                base + "sess:" + session,
                base + "visitor:" + (visitor ?? "-"),
                base + "stats",
                base + "outbox",
            ],
            arguments: [
                base,
                session,
                visitor ?? "",
                String(Int64(pool.leaseSeconds * 1000)),
                String(Int64(lookbackSeconds * 1000)),
                pool.exhaustion.rawValue,
                pool.fallbackNumber ?? "",
                String(LeaseOutbox.maxBacklog),
            ]
        )
        guard let fields = reply.array, fields.count == 4, let status = fields[0].string,
            let from = fields[2].integer
        else {
            throw RedisError(.protocolViolation, "lease script returned \(reply)", isRetriable: false)
        }
        switch status {
        case "backlog":
            throw LeaseBacklogError(pool: pool.id)
        case "exhausted":
            return LeaseGrant(status: .fallback, number: pool.fallbackNumber, from: from, until: nil)
        default:
            return LeaseGrant(
                status: LeaseEvent.Status(rawValue: status) ?? .granted,
                number: fields[1].string,
                from: from,
                until: fields[3].integer
            )
        }
    }

    /// Counts a fallback given without a lease (bots) and records it in the pool's outbox.
    ///
    /// - Returns: the time of the fallback in milliseconds since the epoch.
    /// - Throws: `LeaseBacklogError` when the outbox is full; `RedisError` when Redis is unreachable.
    public func recordFallback(advertiser: String, pool: Pool, number: String, session: String,
                               visitor: String?) async throws -> Int64 {
        let reply = try await redis.evaluate(
            LeaseScripts.fallback,
            keys: [keys.poolStats(advertiser: advertiser, pool: pool.id),
                   keys.poolOutbox(advertiser: advertiser, pool: pool.id)],
            arguments: [session, visitor ?? "", number, String(LeaseOutbox.maxBacklog)]
        )
        guard let now = reply.integer else {
            throw RedisError(.protocolViolation, "fallback script returned \(reply)", isRetriable: false)
        }
        guard now >= 0 else { throw LeaseBacklogError(pool: pool.id) }
        return now
    }

    /// Extends the lease `session` holds in `pool`, if any, and records the renewal in the pool's outbox.
    ///
    /// - Throws: `LeaseBacklogError` when the outbox is full; `RedisError` when Redis is unreachable.
    public func renew(advertiser: String, pool: Pool, session: String) async throws
        -> (number: String, record: LeaseRecord)?
    {
        let base = keys.poolBase(advertiser: advertiser, pool: pool.id)
        let reply: RedisValue
        do {
            reply = try await redis.evaluate(
                LeaseScripts.renew,
                keys: [base + "free", base + "sess:" + session, base + "stats", base + "outbox"],
                arguments: [base, session, String(Int64(pool.leaseSeconds * 1000)), String(LeaseOutbox.maxBacklog)]
            )
        } catch let error as RedisError where error.code == .server && error.reason.hasPrefix("BACKLOG") {
            throw LeaseBacklogError(pool: pool.id)
        }
        guard let fields = reply.array, fields.count == 4, let number = fields[0].string,
            let from = fields[1].integer, let until = fields[2].integer
        else { return nil }

        let visitor = fields[3].string ?? ""
        guard let record = LeaseRecord(member: "\(session)|\(visitor)|\(from)", until: until) else { return nil }
        return (number, record)
    }

    /// Makes the pool's numbers in Redis match the configuration; returns how many numbers were removed.
    @discardableResult
    public func sync(advertiser: String, pool: Pool) async throws -> Int {
        let reply = try await redis.evaluate(
            LeaseScripts.syncPool,
            keys: [keys.poolFree(advertiser: advertiser, pool: pool.id)],
            arguments: pool.numbers
        )
        return Int(reply.integer ?? 0)
    }

    /// The leases of `number` that ended at or after `since` (milliseconds), newest first.
    public func history(advertiser: String, pool: String, number: String, since: Int64) async throws -> [LeaseRecord] {
        let reply = try await redis.command(
            "ZRANGEBYSCORE", keys.history(advertiser: advertiser, pool: pool, number: number),
            String(since), "+inf", "WITHSCORES"
        )
        let values = reply.array ?? []
        var records: [LeaseRecord] = []
        var index = 0
        while index + 1 < values.count {
            if let member = values[index].string, let until = values[index + 1].integer,
                let record = LeaseRecord(member: member, until: until)
            {
                records.append(record)
            }
            index += 2
        }
        return records.sorted { $0.from > $1.from }
    }

    /// Occupancy and counters of `pool`.
    public func stats(advertiser: String, pool: Pool) async throws -> PoolStats {
        let free = keys.poolFree(advertiser: advertiser, pool: pool.id)
        let replies = try await redis.pipelineOrThrow([
            ["TIME"],
            ["ZCARD", free],
            ["HGETALL", keys.poolStats(advertiser: advertiser, pool: pool.id)],
        ])
        let clock = replies[0].array ?? []
        let now = (clock.first?.integer ?? 0) * 1000 + (clock.count > 1 ? (clock[1].integer ?? 0) / 1000 : 0)
        let leased = try await redis.command("ZCOUNT", free, "(\(now)", "+inf").integer ?? 0
        let size = Int(replies[1].integer ?? 0)
        let counters = replies[2].dictionary
        func count(_ name: String) -> Int { Int(counters[name] ?? "0") ?? 0 }
        return PoolStats(
            pool: pool.id,
            size: size,
            leased: Int(leased),
            free: max(0, size - Int(leased)),
            granted: count("granted"),
            renewed: count("renewed"),
            recycled: count("recycled"),
            fallback: count("fallback")
        )
    }
}
