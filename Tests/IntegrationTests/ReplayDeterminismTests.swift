import Foundation
import KafkaKit
import Model
import ServiceKit
import Testing

/// The same input topics, replayed into a fresh deployment, give the same records and attribution messages,
/// byte for byte apart from the envelope's processing time.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ReplayDeterminismTests {
    /// Fixed input: two sessions' web events and three calls with events, decisions that change, and outcomes.
    static func inputs(base: Date) -> [(Topic, String, [UInt8])] {
        func event<T: Codable & Sendable>(_ id: String, _ type: String, _ subject: String, _ data: T, _ at: Date)
            -> [UInt8]
        {
            CloudEvent(id: id, source: "/test/fixture", type: type, time: at, subject: subject, advertiserID: "acme",
                       data: data).encoded()
        }
        var messages: [(Topic, String, [UInt8])] = []
        for (index, source) in ["google", "bing"].enumerated() {
            let session = "s-det-\(index)"
            let page = WebEvent(type: .page, messageId: "det-page-\(index)", anonymousId: "v-det-\(index)",
                                sessionId: session, timestamp: Timestamp.format(base),
                                properties: ["url": .string("https://example.com/?utm_source=\(source)&gclid=g\(index)"),
                                             "referrer": .string("https://www.\(source).com/")])
            messages.append((.webActivity, session, event("det-web-\(index)", page.cloudEventType, session, page, base)))
        }
        for call in 0..<3 {
            let callId = "CAdet\(call)"
            let started = CallEvent(callId: callId, carrier: "twilio", to: "+15555550100", from: "+1212555010\(call)",
                                    callerLocation: nil, status: .started, durationSeconds: nil,
                                    occurredAt: Timestamp.format(base + 60))
            let completed = CallEvent(callId: callId, carrier: "twilio", to: "+15555550100",
                                      from: "+1212555010\(call)", callerLocation: nil, status: .completed,
                                      durationSeconds: 30 + call, occurredAt: Timestamp.format(base + 120))
            messages.append((.callEvents, callId, event("det-e1-\(call)", started.cloudEventType, callId, started, base)))
            messages.append((.callEvents, callId, event("det-e2-\(call)", completed.cloudEventType, callId, completed,
                                                        base)))
            let first = CallMatch(callId: callId, sessionId: "s-det-\(call % 2)", visitorId: "v-det-\(call % 2)",
                                  method: .agent, probability: 0.5, agentId: "a-1",
                                  decidedAt: Timestamp.format(base + 70))
            let second = CallMatch(callId: callId, sessionId: call == 2 ? nil : "s-det-\((call + 1) % 2)",
                                   visitorId: nil, method: .agent, probability: nil, agentId: "a-2",
                                   decidedAt: Timestamp.format(base + 80))
            messages.append((.callMatches, callId, event("det-m1-\(call)", EventType.callMatched, callId, first, base)))
            messages.append((.callMatches, callId, event("det-m2-\(call)", EventType.callMatched, callId, second, base)))
            let outcome = CallOutcome(callId: callId, disposition: "sale", revenue: Double(100 + call), currency: "USD",
                                      notes: nil, agentId: "a-2", recordedAt: Timestamp.format(base + 90))
            messages.append((.callOutcomes, callId, event("det-o-\(call)", EventType.callOutcome, callId, outcome, base)))
        }
        return messages
    }

    struct Deployment {
        var topicPrefix: String
        var keyPrefix: String
        var ingester: UInt16
        var attribution: UInt16
        var processes: [Process]
    }

    /// Starts an ingester and an attribution-worker on topics and keys of their own.
    func deploy(_ stack: TestStack, name: String) async throws -> Deployment {
        let run = UUID().uuidString.prefix(6).lowercased()
        let topicPrefix = "det\(run)."
        let keyPrefix = "rt:det\(run):"
        let admin = try KafkaAdmin(brokers: stack.brokers)
        try await admin.createTopics(Topic.allCases.map { $0.name(prefix: topicPrefix) }, partitions: 2)
        var ports: [UInt16] = []
        var processes: [Process] = []
        for service in ["activity-ingester", "attribution-worker"] {
            let port = try TestStack.freePort()
            ports.append(port)
            processes.append(try TestStack.spawn(
                binary: stack.binaries + "/" + service,
                environment: [
                    "RINGTRAIL_REDIS_URL": stack.redisURL, "RINGTRAIL_KAFKA_BROKERS": stack.brokers,
                    "RINGTRAIL_TOPIC_PREFIX": topicPrefix, "RINGTRAIL_KEY_PREFIX": keyPrefix,
                    "RINGTRAIL_TENANTS": stack.tenantsPath, "RINGTRAIL_HTTP_ADDR": "127.0.0.1:\(port)",
                    "RINGTRAIL_LOG_LEVEL": "warning",
                    "RINGTRAIL_KAFKA_CONFIG": "session.timeout.ms=6000,heartbeat.interval.ms=500",
                ],
                log: FileManager.default.temporaryDirectory.appendingPathComponent("det-\(name)-\(service).log")
            ))
            try await TestStack.waitUntilReady(service: service, port: port, logDirectory: "/tmp")
        }
        return Deployment(topicPrefix: topicPrefix, keyPrefix: keyPrefix, ingester: ports[0], attribution: ports[1],
                          processes: processes)
    }

    /// The latest attribution message of each call, in topic order, as bytes without the envelope's time.
    ///
    /// Messages in between may differ from run to run, because matches, outcomes and call events arrive on three
    /// topics whose relative order is not fixed; consumers keep the latest per call, and that must not differ.
    func attributions(_ stack: TestStack, _ deployment: Deployment) async throws -> [String: String] {
        let reader = TopicReader(try KafkaConsumer(
            brokers: stack.brokers, groupID: "\(deployment.topicPrefix)reader",
            topics: [Topic.attributions.name(prefix: deployment.topicPrefix)],
            properties: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"], logger: Logger(label: "det")))
        defer { Task { await reader.close() } }
        var latest: [String: String] = [:]
        for await event in await reader.all(Attribution.self, topic: Topic.attributions.name(prefix: deployment.topicPrefix)) {
            var copy = event
            copy.time = ""
            latest[event.data.callId] = String(decoding: copy.encoded(), as: UTF8.self)
        }
        return latest
    }

    @Test func sameInputGivesSameRecordsAndAttributions() async throws {
        let stack = try await TestStack.shared()
        let base = Date(timeIntervalSince1970: 1_747_476_000)
        let producer = try KafkaProducer(brokers: stack.brokers, logger: Logger(label: "det"))
        defer { producer.shutdown() }
        var results: [(records: [String], attributions: [String: String])] = []
        for name in ["first", "second"] {
            let deployment = try await deploy(stack, name: name)
            defer { for process in deployment.processes { process.terminate() } }
            // Web events first, so that sessions exist when their calls are attributed in both runs.
            let inputs = Self.inputs(base: base)
            for (topic, key, value) in inputs where topic == .webActivity {
                try await producer.send(topic: topic.name(prefix: deployment.topicPrefix), key: key, value: value)
            }
            let ingester = "http://127.0.0.1:\(deployment.ingester)"
            for session in ["s-det-0", "s-det-1"] {
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline {
                    let response = try await HTTP.send("GET", ingester + "/v1/sessions/\(session)", key: stack.keys["read"])
                    if response.status == 200 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            for (topic, key, value) in inputs where topic != .webActivity {
                try await producer.send(topic: topic.name(prefix: deployment.topicPrefix), key: key, value: value)
            }
            let messages = try await attributions(stack, deployment)
            var records: [String] = []
            for session in ["s-det-0", "s-det-1"] {
                let record = try await HTTP.send("GET", "http://127.0.0.1:\(deployment.attribution)/v1/sessions/\(session)/record",
                                                 key: stack.keys["read"])
                #expect(record.status == 200)
                records.append(record.text)
            }
            results.append((records, messages))
        }
        #expect(results[0].attributions.count == 3)
        #expect(results[0].records == results[1].records)
        for callId in ["CAdet0", "CAdet1", "CAdet2"] {
            #expect(results[0].attributions[callId] != nil)
            #expect(results[0].attributions[callId] == results[1].attributions[callId], "latest attribution of \(callId)")
        }
    }
}
