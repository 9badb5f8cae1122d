import Foundation
import HTTPKit
import KafkaKit
import Model
import ServiceKit
import Store

/// The activity-ingester: accepts web events over HTTP, publishes them on `web.activity`, and turns the topic
/// into session records in Redis.
struct IngesterService: Sendable {
    let context: ServiceContext
    let sessions: SessionStore
    /// The largest batch the collect endpoint takes in one request.
    static let maxBatchEvents = CollectBatch.maxEvents

    init(context: ServiceContext) {
        self.context = context
        self.sessions = SessionStore(redis: context.redis, keys: context.keys)
    }

    func registerRoutes(on router: Router) {
        router.add("POST", "/v1/collect") { request in try await collect(request) }
        router.add("GET", "/v1/sessions/:sessionId") { request in try await session(request) }
    }

    /// Consumes `web.activity` and applies each event to its session; invalid events go to `deadletter`.
    func runConsumer() async {
        let consumer: KafkaConsumer
        do {
            consumer = try context.makeConsumer(purpose: "activity-ingester", topics: [.webActivity])
        } catch {
            context.logger.critical("Consumer not started", metadata: ["error": "\(error)"])
            context.shutdown.request()
            return
        }
        await consumer.run(shutdown: context.shutdown) { batch in
            for message in batch {
                try await apply(message)
            }
        }
    }

    private func apply(_ message: KafkaMessage) async throws {
        let event: CloudEvent<WebEvent>
        do {
            event = try CloudEvent<WebEvent>.decode(message.value ?? [], expectedTypes: EventType.webTypes)
        } catch {
            try await context.publisher.deadLetter(message, reason: error.reason, service: context.name)
            return
        }
        guard let advertiser = context.tenants.advertiser(event.advertiserid) else {
            try await context.publisher.deadLetter(
                message, reason: "unknown advertiser \(event.advertiserid)", service: context.name)
            return
        }
        guard event.type == event.data.cloudEventType else {
            try await context.publisher.deadLetter(
                message, reason: "type \(event.type) does not match the event's type \(event.data.type.rawValue)",
                service: context.name)
            return
        }
        let received = message.timestampMilliseconds ?? Int64(Date().timeIntervalSince1970 * 1000)
        let applied = try await sessions.apply(event.data, advertiser: advertiser, receivedAt: received)
        Metrics.shared.increment("ringtrail_web_events_total",
                                 labels: ["type": event.data.type.rawValue, "applied": applied ? "yes" : "duplicate"])
    }
}
