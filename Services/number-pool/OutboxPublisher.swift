import Foundation
import Model
import ServiceKit
import Store
import Synchronization

/// Moves lease events from the pools' outboxes in Redis to `number.leases`.
///
/// A request handler calls `notify` after its script ran, and the publisher drains that pool `linger` later, in
/// batches of up to `batchSize` entries, so one broker round trip carries the events of several requests. Every
/// second it also looks at every pool, which picks up entries left by an instance that died, and entries whose
/// publish failed.
final class OutboxPublisher: Sendable {
    private struct PoolID: Hashable {
        var advertiser: String
        var pool: String
    }

    static let batchSize = 500
    /// How long a wake-up waits for more events before draining. It delays `number.leases`, not the response.
    static let linger: Duration = .milliseconds(20)

    private let outbox: LeaseOutbox
    private let context: ServiceContext
    private let pending = Mutex<Set<PoolID>>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// When the last failure was logged, so a broker outage logs one line every 10 seconds, not one per batch.
    private let lastFailureLog = Mutex<ContinuousClock.Instant?>(nil)

    init(context: ServiceContext) {
        self.context = context
        self.outbox = LeaseOutbox(redis: context.redis, keys: context.keys,
                                  owner: "\(context.name)-\(UUID().uuidString.lowercased())")
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        Metrics.shared.describe("ringtrail_lease_outbox_published_total", type: "counter",
                                help: "Lease events moved from the outbox to number.leases")
        Metrics.shared.describe("ringtrail_lease_outbox_failures_total", type: "counter",
                                help: "Outbox batches that could not be published and stay queued")
    }

    /// Tells the publisher that the outbox of `pool` has a new entry.
    func notify(advertiser: String, pool: String) {
        pending.withLock { _ = $0.insert(PoolID(advertiser: advertiser, pool: pool)) }
        wake.yield()
    }

    /// Publishes until shutdown, then drains every pool once more; what is still left waits in Redis for the next
    /// instance.
    func run() async {
        let shutdown = context.shutdown
        let wake = self.wake
        let ticker = Task {
            while !shutdown.isRequested {
                try? await Task.sleep(for: .seconds(1))
                wake.yield()
            }
            wake.finish()
        }
        defer { ticker.cancel() }

        var lastSweep = ContinuousClock.now - .seconds(1)
        for await _ in wakeups {
            // Lets the events of the next few milliseconds join this batch, because each batch costs two scripts
            // and a produce request, which one event at a time would pay on every page view.
            if !shutdown.isRequested { try? await Task.sleep(for: OutboxPublisher.linger) }
            var due = pending.withLock { pools in
                defer { pools.removeAll(keepingCapacity: true) }
                return pools
            }
            if ContinuousClock.now - lastSweep >= .seconds(1) {
                due.formUnion(allPools())
                lastSweep = .now
            }
            for pool in due { await drain(pool) }
        }
        for pool in allPools() { await drain(pool) }
    }

    // TODO(#3): the outbox of a pool removed from the tenants file while it still held entries is never
    // published, since only configured pools are swept. Safe for now because removing a pool is rare and the
    // entries stay in Redis; a sweep of the outbox keys (SCAN) would publish them.
    private func allPools() -> [PoolID] {
        context.tenants.file.advertisers.flatMap { advertiser in
            advertiser.pools.map { PoolID(advertiser: advertiser.id, pool: $0.id) }
        }
    }

    /// Publishes the pool's entries, batch by batch while batches are full, until another instance has the
    /// outbox's lock or a publish fails.
    private func drain(_ id: PoolID) async {
        while true {
            do {
                guard let claimed = try await outbox.claim(advertiser: id.advertiser, pool: id.pool,
                                                           limit: OutboxPublisher.batchSize)
                else { return }
                guard !claimed.isEmpty else {
                    try await outbox.release(advertiser: id.advertiser, pool: id.pool, published: 0)
                    return
                }
                let published = await publish(claimed, of: id)
                let left = try await outbox.release(advertiser: id.advertiser, pool: id.pool, published: published)
                // A full batch means a backlog, which goes on at once; a smaller one waits for the next linger.
                guard published == claimed.count, claimed.count == OutboxPublisher.batchSize, left > 0 else { return }
            } catch {
                logFailure("Reading the lease outbox failed", error: error, pool: id.pool)
                return
            }
        }
    }

    /// Publishes a claimed batch and returns how many entries, from the first, may leave the outbox: all of them,
    /// or none when the broker did not acknowledge every event.
    private func publish(_ claimed: [(text: String, entry: OutboxEntry?)], of id: PoolID) async -> Int {
        var events: [CloudEvent<LeaseEvent>] = []
        events.reserveCapacity(claimed.count)
        for (text, entry) in claimed {
            guard let entry else {
                // Only the scripts write the outbox, so this is a bug or a hand edit; keeping it would stop the
                // pool's publishing for ever.
                context.logger.error("Malformed lease outbox entry dropped",
                                     metadata: ["pool": id.pool, "entry.length": "\(text.utf8.count)"])
                continue
            }
            let data = entry.event(pool: id.pool)
            events.append(context.publisher.event(
                type: data.cloudEventType, advertiserID: id.advertiser, subject: entry.number, data: data,
                id: entry.eventID(advertiser: id.advertiser, pool: id.pool),
                time: Date(timeIntervalSince1970: Double(entry.time) / 1000)
            ))
        }
        do {
            try await context.publisher.publishAll(.numberLeases, events: events) { $0.data.number }
            Metrics.shared.increment("ringtrail_lease_outbox_published_total", by: Double(events.count))
            return claimed.count
        } catch {
            Metrics.shared.increment("ringtrail_lease_outbox_failures_total")
            logFailure("Publishing lease events failed; they stay in the outbox", error: error, pool: id.pool)
            try? await Task.sleep(for: .milliseconds(500))
            return 0
        }
    }

    private func logFailure(_ message: String, error: any Error, pool: String) {
        let now = ContinuousClock.now
        let due = lastFailureLog.withLock { last in
            guard last.map({ now - $0 >= .seconds(10) }) ?? true else { return false }
            last = now
            return true
        }
        if due { context.logger.warning("\(message)", metadata: ["error": "\(error)", "pool": pool]) }
    }
}
