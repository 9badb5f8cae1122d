import Model
import RedisKit
import SecurityKit
import ServiceKit

/// A pool's outbox is full: `number.leases` has not been published for so long that `LeaseOutbox.maxBacklog`
/// events are waiting. The number-pool returns 503 until the broker is back.
public struct LeaseBacklogError: Error, CustomStringConvertible, Sendable {
    public let pool: String

    public init(pool: String) { self.pool = pool }

    public var description: String {
        "the outbox of pool \(pool) holds \(LeaseOutbox.maxBacklog) unpublished lease events"
    }
}

/// One lease event waiting in a pool's outbox: `status|number|session|visitor|fromMs|untilMs|timeMs`.
public struct OutboxEntry: Sendable, Equatable {
    public var status: LeaseEvent.Status
    public var number: String
    public var sessionId: String
    public var visitorId: String?
    public var from: Int64
    /// Nil for a fallback, which leases nothing.
    public var until: Int64?
    /// When the script ran, from Redis's clock.
    public var time: Int64
    /// The entry as stored, which identifies it.
    public var text: String

    public init?(_ text: String) {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 7, let status = LeaseEvent.Status(rawValue: String(parts[0])), !parts[1].isEmpty,
            !parts[2].isEmpty, let from = Int64(parts[4]), let time = Int64(parts[6])
        else { return nil }

        let until = Int64(parts[5])
        guard until != nil || (status == .fallback && parts[5].isEmpty) else { return nil }
        self.status = status
        self.number = String(parts[1])
        self.sessionId = String(parts[2])
        self.visitorId = parts[3].isEmpty ? nil : String(parts[3])
        self.from = from
        self.until = until
        self.time = time
        self.text = text
    }

    /// Makes the payload that `number.leases` carries for this entry.
    public func event(pool: String) -> LeaseEvent {
        LeaseEvent(pool: pool, number: number, sessionId: sessionId, visitorId: visitorId, status: status,
                   from: Timestamp.format(milliseconds: from), until: until.map { Timestamp.format(milliseconds: $0) })
    }

    /// Returns a CloudEvent id that is the same each time this entry is published, so that consumers can recognize an
    /// entry published twice (by a publisher that lost its lock, or died before trimming the outbox).
    public func eventID(advertiser: String, pool: String) -> String {
        "lease-" + Digest.sha256Hex("\(advertiser)/\(pool)/\(text)").prefix(32)
    }
}

/// The outboxes of the lease pools: each script that decides a lease request appends the resulting event to its pool's
/// outbox in the same atomic step, and a publisher moves the entries to `number.leases` in order.
///
/// Publishers of several number-pool instances take turns through a lock per pool, so one pool's entries are
/// published in order. An entry leaves the outbox only after the broker acknowledged it; a publisher that dies in
/// between leaves it to the next, which publishes it again with the same event id.
public struct LeaseOutbox: Sendable {
    /// Entries a pool's outbox may hold before the scripts reject new lease requests. At about 100 bytes an entry
    /// that is an estimated 10 MB of Redis memory.
    public static let maxBacklog = 100_000

    public let redis: RedisClient
    public let keys: RedisKeys
    /// Identifies this publisher in the locks it takes.
    public let owner: String
    /// How long a lock lasts if its owner dies without releasing it.
    public let lockDuration: Duration

    /// - Parameter lockDuration: how long the lock outlives a publisher that died. A publish that takes longer
    ///   lets another instance publish the same entries too, which only duplicates events.
    public init(redis: RedisClient, keys: RedisKeys, owner: String, lockDuration: Duration = .seconds(10)) {
        self.redis = redis
        self.keys = keys
        self.owner = owner
        self.lockDuration = lockDuration
    }

    /// Takes the pool's lock and returns up to `limit` of its oldest entries, or nil when another publisher
    /// holds the lock. Entries that cannot be parsed come back as nil and are dropped with the batch.
    public func claim(advertiser: String, pool: String, limit: Int) async throws
        -> [(text: String, entry: OutboxEntry?)]?
    {
        let reply = try await redis.evaluate(
            LeaseScripts.claimOutbox,
            keys: [keys.poolOutbox(advertiser: advertiser, pool: pool),
                   keys.poolOutboxLock(advertiser: advertiser, pool: pool)],
            arguments: [owner, String(lockDuration.milliseconds), String(limit)]
        )
        guard let items = reply.array else { return nil }
        return items.map { item in
            let text = item.string ?? ""
            return (text, OutboxEntry(text))
        }
    }

    /// Removes the first `published` entries if this publisher still holds the lock, releases it, and returns how
    /// many entries are left.
    @discardableResult
    public func release(advertiser: String, pool: String, published: Int) async throws -> Int {
        let reply = try await redis.evaluate(
            LeaseScripts.releaseOutbox,
            keys: [keys.poolOutbox(advertiser: advertiser, pool: pool),
                   keys.poolOutboxLock(advertiser: advertiser, pool: pool)],
            arguments: [owner, String(published)]
        )
        return Int(reply.integer ?? 0)
    }
}
