import Foundation
import KafkaKit
import Model
import ServiceKit
import Testing

/// Each consumer sends a malformed message to `deadletter` with its reason and goes on with the next one.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DeadLetterTests {
    @Test(arguments: [
        (Topic.webActivity, "activity-ingester"),
        (Topic.webActivity, "number-pool"),
        (Topic.callEvents, "call-router"),
        (Topic.callMatches, "attribution-worker"),
    ])
    func malformedMessageGoesToDeadletter(topic: Topic, service: String) async throws {
        let stack = try await TestStack.shared()
        let reader = try stack.makeReader([.deadletter])
        defer { Task { await reader.close() } }
        let key = "bad-\(service)-\(UUID().uuidString.prefix(8))"
        try await stack.produce(topic, key: key, value: Array("{\"specversion\": \"1.0\", \"id\": 7".utf8))

        let letter = await awaitMessage(reader, as: DeadLetter.self, topic: stack.topic(.deadletter)) {
            $0.subject == key && $0.data.service == service
        }
        let data = try #require(letter?.data)
        #expect(data.topic == stack.topic(topic))
        #expect(data.reason == "not valid JSON: the text ends inside an object")
        #expect(data.message == "{\"specversion\": \"1.0\", \"id\": 7")
        #expect(data.offset != nil)
    }

    @Test func ingesterGoesOnAfterBadEvent() async throws {
        let stack = try await TestStack.shared()
        let session = "s-after-\(UUID().uuidString.prefix(8).lowercased())"
        try await stack.produce(.webActivity, key: session, value: Array("not json at all".utf8))
        let wrongType = CloudEvent(source: "/test", type: "ringtrail.web.page", subject: session, advertiserID: "acme",
                                   data: ["type": JSONValue.string("page"), "messageId": .string("m-1"), "sessionId": .number(42)])
        try await stack.produce(.webActivity, key: session, value: wrongType.encoded())
        let good = CloudEvent(
            source: "/test", type: "ringtrail.web.page", subject: session, advertiserID: "acme",
            data: WebEvent(type: .page, messageId: "\(session)-ok", anonymousId: "v-1", sessionId: session,
                           timestamp: Timestamp.format(Date()), properties: ["url": .string("https://example.com/")])
        )
        try await stack.produce(.webActivity, key: session, value: good.encoded())
        try await waitForSession(stack, session, events: 1)

        let reader = try stack.makeReader([.deadletter])
        defer { Task { await reader.close() } }
        let letter = await awaitMessage(reader, as: DeadLetter.self, topic: stack.topic(.deadletter)) {
            $0.subject == session && $0.data.service == "activity-ingester" && $0.data.reason.contains("sessionId")
        }
        #expect(letter?.data.reason == "data.sessionId has the wrong type, expected a string")
    }
}

/// Every kind of bad message on every consumed topic goes to `deadletter` with its reason, from every service that
/// consumes the topic, and the consumer applies the good message that follows it.
///
/// Each case uses a key of its own, so its bad message, a good message and a sentinel (a second bad message) share
/// a partition and arrive in that order. The sentinel's dead letter shows that the consumer got past the good
/// message, and the absence of a dead letter for the good message shows that it was accepted.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct BadMessageTests {
    struct Kind: Sendable {
        var name: String
        /// Text the dead letter's reason must contain.
        var reason: String
        /// Services of the topic that do not send this kind to `deadletter`, with the reason in the docs.
        var exempt: Set<String> = []
        /// Services that give another reason than `reason`, with the text theirs must contain.
        var reasons: [String: String] = [:]
        var value: @Sendable (_ topic: Topic, _ key: String) -> [UInt8]?
    }

    static let consumers: [Topic: [String]] = [
        .webActivity: ["activity-ingester", "number-pool"],
        .callEvents: ["call-router", "attribution-worker"],
        .callMatches: ["attribution-worker"],
        .callOutcomes: ["attribution-worker"],
    ]

    /// A valid message of `topic` for `key`, as a JSON object so cases can break one part of it.
    static func goodEvent(_ topic: Topic, key: String) -> [String: Any] {
        let now = Timestamp.format(Date())
        let data: [String: Any]
        let type: String
        switch topic {
        case .webActivity:
            type = "ringtrail.web.page"
            data = ["type": "page", "messageId": "m-\(key)", "sessionId": key, "anonymousId": "v-bad",
                    "timestamp": now, "properties": ["url": "https://example.com/"]]
        case .callEvents:
            type = "ringtrail.call.started"
            data = ["callId": key, "carrier": "generic", "to": TestStack.scenarioNumbers[10],
                    "from": "+17025550100", "status": "started", "occurredAt": now]
        case .callMatches:
            type = "ringtrail.call.matched"
            data = ["callId": key, "sessionId": NSNull(), "method": "agent", "agentId": "a-7", "decidedAt": now]
        default:
            type = "ringtrail.call.outcome"
            data = ["callId": key, "disposition": "spam", "agentId": "a-7", "recordedAt": now]
        }
        return ["specversion": "1.0", "id": "good-\(key)", "source": "/test", "type": type, "time": now,
                "subject": key, "advertiserid": "acme", "data": data]
    }

    static func json(_ object: [String: Any]) -> [UInt8] {
        Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
    }

    static func changed(_ topic: Topic, _ key: String, _ change: (inout [String: Any]) -> Void) -> [UInt8] {
        var event = goodEvent(topic, key: key)
        change(&event)
        return json(event)
    }

    static let kinds: [Kind] = [
        Kind(name: "not JSON", reason: "not valid JSON") { _, key in Array("not json { \(key)".utf8) },
        Kind(name: "invalid UTF-8", reason: "not valid JSON") { _, _ in [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d] },
        // A null value is a tombstone, which erasure publishes: every consumer skips it without a dead letter.
        Kind(name: "null value", reason: "not checked", exempt: ["activity-ingester", "number-pool", "call-router",
                                                     "attribution-worker"]) { _, _ in nil },
        // The activity-ingester rejects it for its size before reading it; the other consumers read it.
        Kind(name: "800 KB of invalid UTF-8", reason: "not valid JSON",
             reasons: ["activity-ingester": "the message is larger than"]) { _, _ in
            [UInt8](repeating: 0xff, count: 800_000)
        },
        Kind(name: "deeply nested data", reason: "not valid JSON",
             reasons: ["activity-ingester": "the message is larger than"]) { topic, key in
            let text = String(decoding: changed(topic, key) { $0["data"] = "NESTED" }, as: UTF8.self)
            let nested = String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
            return Array(text.replacingOccurrences(of: "\"NESTED\"", with: nested).utf8)
        },
        Kind(name: "envelope field of the wrong type", reason: "time has the wrong type, expected a string") {
            topic, key in changed(topic, key) { $0["time"] = 5 }
        },
        Kind(name: "missing id", reason: "missing field id") { topic, key in
            changed(topic, key) { $0["id"] = nil }
        },
        Kind(name: "missing data", reason: "missing field data") { topic, key in
            changed(topic, key) { $0["data"] = nil }
        },
        Kind(name: "unknown type", reason: "is not one of") { topic, key in
            changed(topic, key) { $0["type"] = "ringtrail.unknown" }
        },
        Kind(name: "time not RFC 3339", reason: "time is not an RFC 3339 timestamp") { topic, key in
            changed(topic, key) { $0["time"] = "yesterday" }
        },
        // The number-pool renews leases of known advertisers only; the activity-ingester sends the message to
        // deadletter for both.
        Kind(name: "unknown advertiser", reason: "unknown advertiser", exempt: ["number-pool"]) { topic, key in
            changed(topic, key) { $0["advertiserid"] = "nobody" }
        },
        Kind(name: "invalid payload field", reason: "see payloadReason") { topic, key in
            changed(topic, key) { event in
                var data = event["data"] as? [String: Any] ?? [:]
                switch topic {
                case .webActivity: data["sessionId"] = 42
                case .callEvents: data["to"] = "call me maybe"
                case .callMatches: data["probability"] = "high"
                default: data["disposition"] = "maybe"
                }
                event["data"] = data
            }
        },
    ]

    /// The reason an invalid payload field of `topic` gets.
    static func payloadReason(_ topic: Topic) -> String {
        switch topic {
        case .webActivity: "data.sessionId has the wrong type, expected a string"
        case .callEvents: "to must be an E.164 number"
        case .callMatches: "data.probability has the wrong type, expected a number"
        default: "disposition must be one of"
        }
    }

    @Test func everyBadMessageIsDeadletteredAndNextGoodOneApplied() async throws {
        let stack = try await TestStack.shared()
        let reader = try stack.makeReader([.deadletter])
        defer { Task { await reader.close() } }
        let producer = try KafkaProducer(brokers: stack.brokers, logger: Logger(label: "bad-messages"))
        defer { producer.shutdown() }
        let run = UUID().uuidString.prefix(6).lowercased()

        var cases: [(topic: Topic, kind: Kind, key: String, good: [UInt8])] = []
        for (topic, _) in Self.consumers {
            for (index, kind) in Self.kinds.enumerated() {
                let key = "bad-\(topic.rawValue.replacingOccurrences(of: ".", with: "-"))-\(index)-\(run)"
                let good = Self.json(Self.goodEvent(topic, key: key))
                let name = stack.topic(topic)
                if let value = kind.value(topic, key) {
                    try await producer.send(topic: name, key: key, value: value)
                } else {
                    try await producer.sendTombstone(topic: name, key: key)
                }
                try await producer.send(topic: name, key: key, value: good)
                try await producer.send(topic: name, key: key, value: Array("sentinel \(key)".utf8))
                cases.append((topic, kind, key, good))
            }
        }

        let deadletter = stack.topic(.deadletter)
        for (topic, kind, key, good) in cases {
            for service in Self.consumers[topic]! {
                let label = "\(kind.name) on \(topic.rawValue) for \(service)"
                let sentinel = await awaitMessage(
                    reader, as: DeadLetter.self, topic: deadletter, timeout: .seconds(60)
                ) {
                    $0.subject == key && $0.data.service == service && $0.data.message == "sentinel \(key)"
                }
                #expect(sentinel != nil, "\(label): the consumer did not get past the good message")

                let goodText = String(decoding: good, as: UTF8.self)
                let rejectedGood = await awaitMessage(reader, as: DeadLetter.self, topic: deadletter, timeout: .zero) {
                    $0.subject == key && $0.data.service == service && $0.data.message == goodText
                }
                #expect(
                    rejectedGood == nil,
                    "\(label): the good message was rejected: \(rejectedGood?.data.reason ?? "")"
                )

                guard !kind.exempt.contains(service) else { continue }

                // A consumer publishes the dead letters of one batch concurrently, so this one may follow the
                // sentinel's.
                let letter = await awaitMessage(reader, as: DeadLetter.self, topic: deadletter, timeout: .seconds(10)) {
                    $0.subject == key && $0.data.service == service && !$0.data.message.hasPrefix("sentinel")
                        && $0.data.message != goodText
                }
                let data = try #require(letter?.data, "\(label): no dead letter")
                let expected = kind.name == "invalid payload field" ? Self.payloadReason(topic)
                    : kind.reasons[service] ?? kind.reason
                #expect(data.reason.contains(expected), "\(label): reason \(data.reason)")
                #expect(!data.reason.isEmpty, "\(label): empty reason")
                #expect(data.topic == stack.topic(topic), "\(label)")
                let original = kind.value(topic, key) ?? []
                #expect(data.originalBytes == original.count, "\(label)")
                #expect(data.truncated == (original.count > DeadLetter.maxMessageBytes), "\(label)")
                // A dead letter names the advertiser whenever the message's envelope does.
                let unreadable = ["not JSON", "invalid UTF-8", "800 KB of invalid UTF-8", "deeply nested data"]
                let advertiser = unreadable.contains(kind.name) ? "unknown"
                    : kind.name == "unknown advertiser" ? "nobody" : TestStack.advertiser
                #expect(letter?.advertiserid == advertiser, "\(label): advertiserid \(letter?.advertiserid ?? "")")
            }
        }

        // The good messages took effect where an API shows it.
        for (topic, _, key, _) in cases where topic == .webActivity {
            try await waitForSession(stack, key, events: 1)
        }
        for (topic, _, key, _) in cases where topic == .callEvents {
            let url = stack.url("call-router", "/v1/calls/\(key)")
            let call = try await HTTP.send("GET", url, key: stack.keys["agent"])
            #expect(call.status == 200, "call \(key) was not applied")
        }
    }
}
