import Foundation
import KafkaKit
import Model
import ServiceKit
import Store

extension NumberPoolService {
    /// Consumes `web.activity` in a group of its own and renews the lease of every active session.
    ///
    /// Renewing is idempotent (it only extends a lease the session still holds), so redelivered events are
    /// harmless. Events that fail validation go to `deadletter` with this service's name; the activity-ingester,
    /// which reads the same topic in its own group, reports them too.
    func runRenewals() async {
        let consumer: KafkaConsumer
        do {
            consumer = try context.makeConsumer(purpose: "number-pool.renewals", topics: [.webActivity])
        } catch {
            context.logger.critical("Renewal consumer not started", metadata: ["error": "\(error)"])
            context.shutdown.request()
            return
        }
        await consumer.run(shutdown: context.shutdown) { batch in
            // The latest event of each session is enough: one renewal per session and batch.
            var sessions: [String: String] = [:]
            for message in batch {
                switch Result(catching: {
                    try CloudEvent<WebEvent>.decode(message.value ?? [], expectedTypes: EventType.webTypes)
                }) {
                case .success(let event):
                    sessions[event.data.sessionId] = event.advertiserid
                case .failure(let error):
                    let reason = (error as? ValidationError)?.reason ?? "\(error)"
                    try await context.publisher.deadLetter(message, reason: reason, service: context.name)
                }
            }
            for (session, advertiserID) in sessions {
                try await renew(session: session, advertiserID: advertiserID)
            }
        }
    }

    private func renew(session: String, advertiserID: String) async throws {
        guard let advertiser = context.tenants.advertiser(advertiserID) else { return }

        for pool in advertiser.pools {
            // A full outbox throws, so the batch is not committed and comes again once the broker is back.
            guard try await leases.renew(advertiser: advertiser.id, pool: pool, session: session) != nil else {
                continue
            }
            outbox.notify(advertiser: advertiser.id, pool: pool.id)
            Metrics.shared.increment("ringtrail_leases_total", labels: ["advertiser": advertiser.id, "pool": pool.id,
                                                                       "status": "renewed"])
        }
    }
}
