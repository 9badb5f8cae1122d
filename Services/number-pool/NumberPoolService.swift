import Foundation
import HTTPKit
import KafkaKit
import Model
import ServiceKit
import Store

/// The number-pool service: leases numbers to visitors, renews them on activity and serves pool statistics.
struct NumberPoolService: Sendable {
    let context: ServiceContext
    let leases: LeaseStore
    let outbox: OutboxPublisher

    init(context: ServiceContext) {
        self.context = context
        self.leases = LeaseStore(redis: context.redis, keys: context.keys)
        self.outbox = OutboxPublisher(context: context)
        Metrics.shared.describe("ringtrail_leases_total", type: "counter", help: "Lease answers by pool and status")
        Metrics.shared.describe("ringtrail_pool_free_numbers", type: "gauge", help: "Numbers not leased now")
        Metrics.shared.describe("ringtrail_pool_exhausted_total", type: "counter",
                                help: "Lease requests that found no free number")
    }

    /// Makes the numbers in Redis match the tenants file: new numbers join, removed ones stop being granted.
    func syncPools() async throws {
        for advertiser in context.tenants.file.advertisers {
            for pool in advertiser.pools {
                let removed = try await leases.sync(advertiser: advertiser.id, pool: pool)
                context.logger.info("Pool synchronized", metadata: [
                    "advertiser": advertiser.id, "pool": pool.id, "numbers": "\(pool.numbers.count)",
                    "removed": "\(removed)",
                ])
            }
        }
    }

    /// Re-synchronizes pools after the tenants file changed, and refreshes the free-number gauges.
    func watchPools() async {
        var lastFile = context.tenants.file.advertisers.map { $0.pools.map(\.numbers) }
        while !context.shutdown.isRequested {
            try? await Task.sleep(for: .seconds(2))
            let current = context.tenants.file.advertisers.map { $0.pools.map(\.numbers) }
            do {
                if current != lastFile {
                    try await syncPools()
                    lastFile = current
                }
                for advertiser in context.tenants.file.advertisers {
                    for pool in advertiser.pools {
                        let stats = try await leases.stats(advertiser: advertiser.id, pool: pool)
                        Metrics.shared.set("ringtrail_pool_free_numbers",
                                           labels: ["advertiser": advertiser.id, "pool": pool.id],
                                           to: Double(stats.free))
                    }
                }
            } catch {
                context.logger.warning("Pool refresh failed", metadata: ["error": "\(error)"])
            }
        }
    }

    func registerRoutes(on router: Router) {
        router.add("POST", "/v1/leases") { request in try await lease(request) }
        router.add("GET", "/v1/pools/:pool") { request in try await poolStats(request) }
        router.add("GET", "/v1/numbers/:number/history") { request in try await history(request) }
    }
}
