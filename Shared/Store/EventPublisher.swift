import Foundation
import KafkaKit
import Model
import ServiceKit

/// Publishes CloudEvents on the deployment's topics and rejected messages on `deadletter`.
public struct EventPublisher: Sendable {
    public let producer: KafkaProducer
    public let topicPrefix: String
    /// The CloudEvents `source` of this service, such as `/ringtrail/call-router`.
    public let source: String
    private let logger: Logger

    public init(producer: KafkaProducer, topicPrefix: String, service: String, logger: Logger) {
        self.producer = producer
        self.topicPrefix = topicPrefix
        self.source = "/ringtrail/\(service)"
        self.logger = logger
    }

    /// Wraps `data` in a CloudEvent and waits until the broker acknowledged it.
    ///
    /// - Throws: `KafkaError` when the event could not be delivered.
    @discardableResult
    public func publish<Payload: Codable & Sendable>(
        _ topic: Topic,
        key: String,
        type: String,
        advertiserID: String,
        subject: String?,
        data: Payload,
        id: String = UUID().uuidString.lowercased(),
        time: Date = Date()
    ) async throws -> CloudEvent<Payload> {
        let event = CloudEvent(id: id, source: source, type: type, time: time, subject: subject,
                               advertiserID: advertiserID, data: data)
        try await producer.send(topic: topic.name(prefix: topicPrefix), key: key, value: event.encoded())
        Metrics.shared.increment("ringtrail_events_published_total", labels: ["topic": topic.rawValue])
        return event
    }

    /// Publishes several events of one topic in the given order and returns after the broker acknowledged all.
    ///
    /// Events with the same key keep their order in the partition.
    /// - Throws: `KafkaError` when any of them was not delivered; the others may have been.
    public func publishAll<Payload: Codable & Sendable>(_ topic: Topic, events: [CloudEvent<Payload>],
                                                        key: (CloudEvent<Payload>) -> String) async throws {
        let name = topic.name(prefix: topicPrefix)
        let messages = try events.map { event in
            OutgoingMessage(topic: name, key: key(event), value: try event.encoded())
        }
        try await producer.send(all: messages)
        Metrics.shared.increment("ringtrail_events_published_total", labels: ["topic": topic.rawValue],
                                 by: Double(events.count))
    }

    /// Publishes an event made by `event(type:advertiserID:subject:data:id:time:)` and already encoded, for a
    /// caller that keeps the bytes too.
    public func publish(encoded bytes: [UInt8], on topic: Topic, key: String) async throws {
        try await producer.send(topic: topic.name(prefix: topicPrefix), key: key, value: bytes)
        Metrics.shared.increment("ringtrail_events_published_total", labels: ["topic": topic.rawValue])
    }

    /// Makes an event with this publisher's source, for `publishAll` and `publish(encoded:on:key:)`.
    public func event<Payload: Codable & Sendable>(
        type: String, advertiserID: String, subject: String?, data: Payload, id: String, time: Date = Date()
    ) -> CloudEvent<Payload> {
        CloudEvent(id: id, source: source, type: type, time: time, subject: subject, advertiserID: advertiserID,
                   data: data)
    }

    /// Sends `original` to `deadletter` with the reason it was rejected, keyed by its original key.
    ///
    /// - Throws: `KafkaError` when the dead letter could not be delivered; the caller must then not commit.
    /// The original message, the reason, the subject and the advertiser id are cut short, so that a rejected message
    /// of any size fits in a dead letter below the broker's message size limit.
    public func deadLetter(_ message: KafkaMessage, reason: String, service: String) async throws {
        let reason = String(reason.prefix(1024))
        let letter = DeadLetter(
            topic: message.topic,
            partition: message.partition,
            offset: message.offset,
            reason: reason,
            original: message.value ?? [],
            service: service
        )
        // Read on its own, so a message with other envelope fields missing still names its advertiser.
        var advertiserID: String?
        if case .object(let fields) = JSONValue.parse(message.value ?? []), case .string(let id)? = fields["advertiserid"] {
            advertiserID = Identifier.isValid(id) ? id : "invalid"
        }
        // NOTE: the key is kept whole, as the topic's key; a key close to the broker's limit still cannot be
        // dead-lettered.
        let event = CloudEvent(
            source: source,
            type: EventType.deadletter,
            subject: message.keyString.map { String($0.prefix(256)) },
            advertiserID: advertiserID ?? "unknown",
            data: letter
        )
        try await producer.send(
            topic: Topic.deadletter.name(prefix: topicPrefix),
            key: message.key,
            value: event.encoded()
        )
        Metrics.shared.increment("ringtrail_deadletters_total", labels: ["topic": message.topic])
        logger.warning(
            "Message rejected to deadletter",
            metadata: [
                "kafka.topic": message.topic, "kafka.partition": "\(message.partition)",
                "kafka.offset": "\(message.offset)", "reason": Self.withoutQuotedValues(reason),
            ]
        )
    }

    /// Returns a reason as logged: validation reasons quote the value they reject, which can be a phone number or an
    /// address sent in the wrong field, so the log keeps only what is outside quotes. The dead letter itself keeps
    /// the whole reason.
    static func withoutQuotedValues(_ reason: String) -> String {
        var result = ""
        var quoted = false
        for character in reason {
            if character == "\"" {
                if !quoted { result += "\"…\"" }
                quoted.toggle()
            } else if !quoted {
                result.append(character)
            }
        }
        return result
    }
}
