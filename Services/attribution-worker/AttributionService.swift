import Foundation
import HTTPKit
import KafkaKit
import Model
import RedisKit
import SecurityKit
import ServiceKit
import Store

/// The attribution-worker: joins matches, outcomes and call facts, publishes one attribution per call, and serves
/// complete records to the advertiser.
struct AttributionService: Sendable {
    let context: ServiceContext
    let store: AttributionStore
    let sessions: SessionStore

    init(context: ServiceContext) {
        self.context = context
        self.store = AttributionStore(redis: context.redis, keys: context.keys)
        self.sessions = SessionStore(redis: context.redis, keys: context.keys)
        Metrics.shared.describe("ringtrail_attributions_published_total", type: "counter",
                                help: "Attribution messages published, by whether the call is matched")
    }

    func registerRoutes(on router: Router) {
        router.add("GET", "/v1/sessions/:sessionId/record") { request in try await record(request) }
        router.add("GET", "/v1/sessions/:sessionId/summary") { request in try await summary(request) }
        router.add("GET", "/v1/reports/campaigns") { request in try await campaignReport(request) }
        router.add("GET", "/dashboard") { request in try await dashboard(request) }
        router.add("DELETE", "/v1/visitors/:visitorId") { request in try await eraseVisitor(request) }
        router.add("DELETE", "/v1/phones/:e164") { request in try await erasePhone(request) }
        router.add("GET", "/v1/exports/google-ads/click-conversions.csv") { request in
            try await googleAdsExport(request)
        }
    }

    /// Consumes matches, outcomes and call events; after each change it publishes the call's attribution.
    ///
    /// Applying a message is idempotent (the latest decision wins by its own timestamp), and an attribution is
    /// published only when it differs from the last one published, so redelivery publishes nothing new.
    func runConsumer() async {
        let consumer: KafkaConsumer
        do {
            consumer = try context.makeConsumer(purpose: "attribution-worker",
                                                topics: [.callMatches, .callOutcomes, .callEvents])
        } catch {
            context.logger.critical("Consumer not started", metadata: ["error": "\(error)"])
            context.shutdown.request()
            return
        }
        await consumer.run(shutdown: context.shutdown, maxBatch: 200) { batch in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for callBatch in Dictionary(grouping: batch, by: { $0.keyString ?? "" }).values {
                    group.addTask {
                        for message in callBatch.sorted(by: { ($0.topic, $0.offset) < ($1.topic, $1.offset) }) {
                            try await handle(message)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    private func handle(_ message: KafkaMessage) async throws {
        let value = message.value ?? []
        do {
            let header = try CloudEventHeader.decode(value)
            guard let advertiser = context.tenants.advertiser(header.advertiserid) else {
                throw ValidationError("unknown advertiser \"\(header.advertiserid.prefix(64))\"")
            }
            var callId: String
            var changed: Bool
            switch message.topic {
            case context.topicName(.callMatches):
                let match = try CloudEvent<CallMatch>.decode(value, expectedTypes: [EventType.callMatched]).data
                callId = match.callId
                changed = try await store.keep("match", json: Self.json(match),
                                               at: Timestamp.parseMilliseconds(match.decidedAt) ?? 0,
                                               advertiser: advertiser, callId: callId)
            case context.topicName(.callOutcomes):
                let outcome = try CloudEvent<CallOutcome>.decode(value, expectedTypes: [EventType.callOutcome]).data
                callId = outcome.callId
                changed = try await store.keep("outcome", json: Self.json(outcome),
                                               at: Timestamp.parseMilliseconds(outcome.recordedAt) ?? 0,
                                               advertiser: advertiser, callId: callId)
            default:
                let event = try CloudEvent<CallEvent>.decode(value, expectedTypes: EventType.callEventTypes).data
                callId = event.callId
                let occurred = Timestamp.parseMilliseconds(event.occurredAt) ?? 0
                let started = event.status == .completed ? occurred - Int64(event.durationSeconds ?? 0) * 1000 : occurred
                changed = try await store.apply(event, startedAt: started, advertiser: advertiser)
            }
            if changed { try await publishAttribution(callId: callId, advertiser: advertiser) }
        } catch let error as ValidationError {
            try await context.publisher.deadLetter(message, reason: error.reason, service: context.name)
        }
    }

    /// Builds the call's attribution from its join state and the matched session, and publishes it if it differs
    /// from the last one published. A call that was never matched publishes nothing.
    func publishAttribution(callId: String, advertiser: Advertiser) async throws {
        guard let joined = try await store.joined(advertiser: advertiser.id, callId: callId),
            let match = joined.match
        else { return }

        var attribution = Attribution(callId: callId)
        attribution.to = joined.to
        attribution.sessionId = match.sessionId
        attribution.visitorId = match.visitorId
        attribution.method = match.method
        attribution.probability = match.probability
        attribution.agentId = match.agentId
        attribution.withdrawn = match.sessionId == nil
        attribution.startedAt = joined.startedAt.map { Timestamp.format(milliseconds: $0) }
        attribution.durationSeconds = joined.durationSeconds
        attribution.disposition = joined.outcome?.disposition
        attribution.revenue = joined.outcome?.revenue
        attribution.currency = joined.outcome?.currency
        if let session = match.sessionId,
            let record = try await sessions.record(advertiser: advertiser.id, session: session)
        {
            attribution.visitorId = record.visitorId ?? match.visitorId
            attribution.channel = record.channel
            attribution.campaign = record.campaign
            attribution.clickIds = record.clickIds
            attribution.landingPage = record.landingPage
            attribution.referrer = record.referrer
        }
        let json = Self.json(attribution)
        guard json != joined.published else { return }

        let previous = try await store.previousSession(advertiser: advertiser.id, callId: callId)
        try await context.publisher.publish(
            .attributions, key: advertiser.id, type: EventType.attribution, advertiserID: advertiser.id,
            subject: callId, data: attribution,
            id: "attribution:\(callId):\(Digest.sha256Hex(json).prefix(16))"
        )
        try await store.markPublished(attribution, json: json, previousSession: previous, advertiser: advertiser,
                                      startedAt: joined.startedAt ?? 0)
        Metrics.shared.increment("ringtrail_attributions_published_total",
                                 labels: ["matched": attribution.sessionId == nil ? "no" : "yes"])
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}
