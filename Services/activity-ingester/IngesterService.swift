import Foundation
import HTTPKit
import KafkaKit
import Model
import PhoneKit
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
        await consumer.run(shutdown: context.shutdown, maxBatch: Self.consumerBatch, prepare: { batch in
            await validate(batch)
        }, handler: { batch in
            try await write(batch)
        })
    }

    /// The largest number of messages the consumer hands over at once. Larger batches take fewer round trips to
    /// Redis and let one script call apply more events of a session, but two of them are in memory at a time. In
    /// the benchmark, 2,000 took the ingester's peak RSS to 123 MB and 1,000 to 106 MB at the same rate.
    static let consumerBatch = 1000

    /// A batch from `web.activity`, validated: the events to apply with their messages, and the rejected messages
    /// with their reasons.
    struct ValidatedBatch: Sendable {
        var valid: [IncomingWebEvent] = []
        var validMessages: [KafkaMessage] = []
        var rejected: [(message: KafkaMessage, reason: String)] = []
    }

    /// Validates every message of a batch, on every core but one.
    func validate(_ batch: [KafkaMessage]) async -> ValidatedBatch {
        var validated = ValidatedBatch()
        for (message, result) in zip(batch, await validateAll(batch)) {
            switch result {
            case .success(let incoming):
                validated.valid.append(incoming)
                validated.validMessages.append(message)
            case .failure(let error):
                validated.rejected.append((message, error.reason))
            }
        }
        return validated
    }

    /// Writes the valid events of a batch to Redis in a few pipelined round trips and sends the invalid ones to
    /// `deadletter` meanwhile. It returns when both are done, so the consumer stores the batch's offsets only then.
    ///
    /// - Throws: when Redis or the broker is unreachable; the consumer then retries the whole batch, which is
    ///   safe because applying an event twice changes nothing.
    func write(_ batch: ValidatedBatch) async throws {
        async let letters: Void = deadLetter(batch.rejected)
        let results = try await sessions.apply(batch.valid)
        try await letters

        var failed: [(message: KafkaMessage, reason: String)] = []
        var applied = 0
        var duplicates = 0
        for (message, result) in zip(batch.validMessages, results) {
            switch result {
            case .applied: applied += 1
            case .duplicate: duplicates += 1
            case .failed(let reason): failed.append((message, reason))
            }
        }
        try await deadLetter(failed)
        Metrics.shared.increment("ringtrail_web_events_total", labels: ["result": "applied"], by: Double(applied))
        Metrics.shared.increment("ringtrail_web_events_total", labels: ["result": "duplicate"], by: Double(duplicates))
        Metrics.shared.increment("ringtrail_web_events_total", labels: ["result": "rejected"],
                                 by: Double(batch.rejected.count + failed.count))
    }

    /// Validates a batch on every core but one: the batch before it is being written to Redis meanwhile, and
    /// encoding those commands and reading their replies keeps a core busy. On the benchmark's 2 cores, validating
    /// on one core moved the middle 80% of the run from 25,600 to 28,500–29,000 events/s.
    private func validateAll(_ batch: [KafkaMessage]) async -> [Result<IncomingWebEvent, ValidationError>] {
        let chunkSize = max(64, batch.count / max(1, ProcessInfo.processInfo.activeProcessorCount - 1) + 1)
        guard batch.count > chunkSize else { return batch.map(validate) }

        return await withTaskGroup(of: (Int, [Result<IncomingWebEvent, ValidationError>]).self) { group in
            for start in stride(from: 0, to: batch.count, by: chunkSize) {
                let chunk = batch[start..<min(start + chunkSize, batch.count)]
                group.addTask { (start, chunk.map(validate)) }
            }
            var results = [Result<IncomingWebEvent, ValidationError>?](repeating: nil, count: batch.count)
            for await (start, chunk) in group {
                for (offset, result) in chunk.enumerated() { results[start + offset] = result }
            }
            return results.map { $0 ?? .failure(ValidationError("not validated")) }
        }
    }

    /// The largest `web.activity` message applied: the largest event collect accepts, with room for the envelope.
    static let maxMessageBytes = CollectBatch.maxEventBytes + 4096

    private func validate(_ message: KafkaMessage) -> Result<IncomingWebEvent, ValidationError> {
        guard (message.value?.count ?? 0) <= Self.maxMessageBytes else {
            return .failure(ValidationError("the message is larger than \(Self.maxMessageBytes) bytes"))
        }
        let event: CloudEvent<WebEvent>
        do {
            event = try CloudEvent<WebEvent>.decode(message.value ?? [], expectedTypes: EventType.webTypes)
        } catch {
            return .failure(ValidationError(error.reason))
        }
        guard let advertiser = context.tenants.advertiser(event.advertiserid) else {
            return .failure(ValidationError("unknown advertiser \"\(event.advertiserid.prefix(64))\""))
        }
        let received = message.timestampMilliseconds ?? Int64(Date().timeIntervalSince1970 * 1000)
        // Collect already removed credentials; other publishers of the topic may not have.
        var data = event.data
        data.removeURLCredentials()
        return .success(IncomingWebEvent(event: data, advertiser: advertiser, receivedAt: received,
                                         formPhone: Self.formPhone(of: data)))
    }

    /// The phone number a visitor entered, from an `identify` event's traits, normalized to E.164; nil when there
    /// is none or libphonenumber cannot read it.
    static func formPhone(of event: WebEvent) -> String? {
        guard event.type == .identify, let value = event.traits?["phone"] else { return nil }
        // A number is read as its digits only when it is a whole positive one.
        if case .number(let number) = value, number <= 0 || number != number.rounded() { return nil }
        guard let raw = value.text else { return nil }
        return PhoneNumbers.canonical(raw)?.e164
    }

    private func deadLetter(_ letters: [(message: KafkaMessage, reason: String)]) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for letter in letters {
                group.addTask {
                    try await context.publisher.deadLetter(letter.message, reason: letter.reason, service: context.name)
                }
            }
            try await group.waitForAll()
        }
    }
}
