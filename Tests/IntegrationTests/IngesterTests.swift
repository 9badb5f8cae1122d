import Foundation
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Testing

/// The activity-ingester's consumer: batches with bad events, redelivered message ids, sessions split by
/// inactivity, channels, and two instances sharing the topic while one is killed.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct IngesterTests {
    static func page(_ session: String, _ messageId: String, url: String?, referrer: String? = nil,
                     at time: Date = Date(), visitor: String = "v-ingest") -> CloudEvent<WebEvent> {
        var properties: [String: JSONValue] = [:]
        if let url { properties["url"] = .string(url) }
        if let referrer { properties["referrer"] = .string(referrer) }
        return CloudEvent(
            source: "/test", type: "ringtrail.web.page", subject: session, advertiserID: TestStack.advertiser,
            data: WebEvent(type: .page, messageId: messageId, anonymousId: visitor, sessionId: session,
                           timestamp: Timestamp.format(time), properties: properties,
                           context: WebContext(userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"))
        )
    }

    static func newSession(_ name: String) -> String { "s-\(name)-\(UUID().uuidString.prefix(8).lowercased())" }

    static func session(_ stack: TestStack, _ id: String) async throws -> [String: Any]? {
        let response = try await HTTP.send("GET", stack.url("activity-ingester", "/v1/sessions/\(id)"),
                                           key: stack.keys["read"])
        return response.status == 200 ? response.json : nil
    }

    /// Sends every message at once, so that the consumer gets them in as few batches as the broker allows.
    static func produceAll(_ stack: TestStack, _ messages: [(key: String, value: [UInt8])]) async throws {
        let producer = try KafkaProducer(brokers: stack.brokers, logger: Logger(label: "test-producer"))
        defer { producer.shutdown() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for message in messages {
                group.addTask {
                    try await producer.send(topic: stack.topic(.webActivity), key: message.key, value: message.value)
                }
            }
            try await group.waitForAll()
        }
    }

    @Test
    func badEventInBatchLosesNothingElse() async throws {
        let stack = try await TestStack.shared()
        let reader = try stack.makeReader([.deadletter])
        defer { Task { await reader.close() } }
        let session = Self.newSession("batch")
        var messages: [(key: String, value: [UInt8])] = []
        for index in 0..<4 {
            let event = Self.page(session, "\(session)-\(index)", url: "https://shop.example.com/p\(index)")
            messages.append((session, try event.encoded()))
        }
        let unknownAdvertiser = CloudEvent(
            source: "/test", type: "ringtrail.web.page", subject: session, advertiserID: "no-such-advertiser",
            data: Self.page(session, "\(session)-bad", url: "https://shop.example.com/").data
        )
        messages.insert((session, try unknownAdvertiser.encoded()), at: 2)
        // Nested 2,000 levels deep: JSONDecoder would take seconds over each such message.
        var deep = try Self.page(session, "\(session)-deep", url: "https://shop.example.com/").encoded()
        let nested = String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000)
        deep.insert(contentsOf: Array("\"x\":\(nested),".utf8), at: 1)
        messages.insert((session, deep), at: 3)
        let started = ContinuousClock.now
        try await Self.produceAll(stack, messages)

        try await waitForSession(stack, session, events: 4)
        #expect(ContinuousClock.now - started < .seconds(10))
        let record = try #require(try await Self.session(stack, session))
        #expect((record["events"] as? [Any])?.count == 4)
        let first = await awaitMessage(reader, as: DeadLetter.self, topic: stack.topic(.deadletter)) {
            $0.subject == session && $0.data.service == "activity-ingester"
        }
        let firstReason = first?.data.reason
        let second = await awaitMessage(reader, as: DeadLetter.self, topic: stack.topic(.deadletter)) {
            $0.subject == session && $0.data.service == "activity-ingester" && $0.data.reason != firstReason
        }
        #expect(Set([firstReason, second?.data.reason]) == ["unknown advertiser \"no-such-advertiser\"",
                                                              "not valid JSON: values are nested more than 32 levels deep"])
    }

    @Test
    func sameMessageIdInTwoBatchesAppliesOnce() async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("dedupe")
        let first = Self.page(session, "\(session)-m1", url: "https://shop.example.com/")
        try await stack.produce(.webActivity, key: session, value: first.encoded())
        try await waitForSession(stack, session, events: 1)

        // The same message id again, as a retrying web tier would send it, then a new event.
        try await stack.produce(.webActivity, key: session, value: first.encoded())
        let second = Self.page(session, "\(session)-m2", url: "https://shop.example.com/next")
        try await stack.produce(.webActivity, key: session, value: second.encoded())
        try await waitForSession(stack, session, events: 2)
        try await Task.sleep(for: .milliseconds(500))

        let record = try #require(try await Self.session(stack, session))
        let events = try #require(record["events"] as? [[String: Any]])
        #expect(events.count == 2)
        #expect(events.compactMap { $0["url"] as? String }
            == ["https://shop.example.com/", "https://shop.example.com/next"])
    }

    @Test
    func inactivityStartsNewSession() async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("visits")
        let now = Date()
        let earlier = Self.page(session, "\(session)-a", url: "https://shop.example.com/?utm_source=newsletter",
                                at: now.addingTimeInterval(-7200))
        let later = Self.page(session, "\(session)-b", url: "https://shop.example.com/pricing",
                              referrer: "https://www.google.com/", at: now.addingTimeInterval(-60))
        let laterStill = Self.page(session, "\(session)-c", url: "https://shop.example.com/contact", at: now)
        for event in [earlier, later, laterStill] {
            try await stack.produce(.webActivity, key: session, value: event.encoded())
        }
        // Redelivery of an event that went to the second visit must not apply it twice.
        try await stack.produce(.webActivity, key: session, value: later.encoded())

        try await waitForSession(stack, "\(session)~2", events: 2)
        let first = try #require(try await Self.session(stack, session))
        #expect((first["events"] as? [Any])?.count == 1)
        #expect(first["channel"] as? String == "email")
        #expect(first["laterSessionIds"] as? [String] == ["\(session)~2"])

        let second = try #require(try await Self.session(stack, "\(session)~2"))
        #expect((second["events"] as? [Any])?.count == 2)
        #expect(second["previousSessionId"] as? String == session)
        #expect(second["landingPage"] as? String == "https://shop.example.com/pricing")
        #expect(second["channel"] as? String == "organic_search")
        #expect(second["visitorId"] as? String == "v-ingest")
    }

    @Test
    func lateEventJoinsVisitUnderWay() async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("late")
        let now = Date()
        let events = [
            Self.page(session, "\(session)-a", url: "https://shop.example.com/?utm_source=first",
                      at: now.addingTimeInterval(-2700)),
            Self.page(session, "\(session)-b", url: "https://shop.example.com/pricing", at: now.addingTimeInterval(-2400)),
            Self.page(session, "\(session)-c", url: "https://shop.example.com/?utm_source=second",
                      referrer: "https://www.google.com/", at: now),
        ]
        for event in events {
            try await stack.produce(.webActivity, key: session, value: event.encoded())
        }
        try await waitForSession(stack, "\(session)~2", events: 1)

        // Sent late by the browser: its time is a minute after the first visit's last page, before the second.
        let late = Self.page(session, "\(session)-d", url: "https://shop.example.com/late",
                             at: now.addingTimeInterval(-2340))
        try await stack.produce(.webActivity, key: session, value: late.encoded())
        try await waitForSession(stack, session, events: 3)

        let first = try #require(try await Self.session(stack, session))
        #expect((first["events"] as? [Any])?.count == 3)
        #expect(first["landingPage"] as? String == "https://shop.example.com/?utm_source=first")
        let second = try #require(try await Self.session(stack, "\(session)~2"))
        #expect((second["events"] as? [Any])?.count == 1)
        #expect(second["landingPage"] as? String == "https://shop.example.com/?utm_source=second")
        #expect(second["channel"] as? String == "organic_search")
        #expect((second["campaign"] as? [String: String])?["source"] == "second")
    }

    @Test
    func pageWithoutURLSetsChannel() async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("no-url")
        let now = Date()
        let bare = Self.page(session, "\(session)-a", url: nil, referrer: "https://www.bing.com/",
                             at: now.addingTimeInterval(-120))
        // A later page without a URL keeps the first one's channel.
        let laterBare = Self.page(session, "\(session)-l", url: nil, referrer: "https://www.facebook.com/",
                                  at: now.addingTimeInterval(-100))
        for event in [bare, laterBare] {
            try await stack.produce(.webActivity, key: session, value: event.encoded())
        }
        try await waitForSession(stack, session, events: 2)
        let before = try #require(try await Self.session(stack, session))
        #expect(before["channel"] as? String == "organic_search")
        #expect(before["referrer"] as? String == "https://www.bing.com/")
        #expect(before["landingPage"] == nil)

        // A later page with a URL gives the session its landing page; an earlier one without a URL changes nothing.
        let withURL = Self.page(session, "\(session)-b", url: "https://shop.example.com/?utm_medium=email",
                                at: now.addingTimeInterval(-60))
        let earlierBare = Self.page(session, "\(session)-c", url: nil, at: now.addingTimeInterval(-180))
        for event in [withURL, earlierBare] {
            try await stack.produce(.webActivity, key: session, value: event.encoded())
        }
        try await waitForSession(stack, session, events: 4)
        let after = try #require(try await Self.session(stack, session))
        #expect(after["landingPage"] as? String == "https://shop.example.com/?utm_medium=email")
        #expect(after["channel"] as? String == "email")
        #expect(after["referrer"] == nil)
    }

    @Test(arguments: [(JSONValue.number(3_125_557_734), true), (.number(-3_125_557_734), false),
                      (.number(3_125_557_734.5), false)])
    func numericFormPhone(phone: JSONValue, provided: Bool) async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("phone")
        let identify = CloudEvent(
            source: "/test", type: "ringtrail.web.identify", subject: session, advertiserID: TestStack.advertiser,
            data: WebEvent(type: .identify, messageId: "\(session)-identify", anonymousId: "v-phone", sessionId: session,
                           timestamp: Timestamp.format(Date()), traits: ["phone": phone])
        )
        try await stack.produce(.webActivity, key: session, value: identify.encoded())
        try await waitForSession(stack, session, events: 1)
        let record = try #require(try await Self.session(stack, session))
        #expect(record["phoneProvided"] as? Bool == provided)
    }

    @Test
    func eventTypesFillTheirFields() async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("types")
        let visitor = "v-\(UUID().uuidString.prefix(8).lowercased())"
        let page = Self.page(session, "\(session)-page",
                             url: "https://shop.example.com/?utm_source=url-source&utm_medium=cpc&gclid=abc123",
                             visitor: visitor)
        var withCampaign = page
        withCampaign.data.context?.campaign = Campaign(source: "context-source", name: "spring")
        let track = CloudEvent(
            source: "/test", type: "ringtrail.web.track", subject: session, advertiserID: TestStack.advertiser,
            data: WebEvent(type: .track, messageId: "\(session)-track", anonymousId: visitor, sessionId: session,
                           timestamp: Timestamp.format(Date()), event: "Phone Link Clicked")
        )
        let identify = CloudEvent(
            source: "/test", type: "ringtrail.web.identify", subject: session, advertiserID: TestStack.advertiser,
            data: WebEvent(type: .identify, messageId: "\(session)-identify", anonymousId: visitor, sessionId: session,
                           timestamp: Timestamp.format(Date()), traits: ["phone": .string("(415) 555-2671")])
        )
        for event in [withCampaign, track, identify] {
            try await stack.produce(.webActivity, key: session, value: event.encoded())
        }
        try await waitForSession(stack, session, events: 3)

        let record = try #require(try await Self.session(stack, session))
        let campaign = try #require(record["campaign"] as? [String: String])
        #expect(campaign["source"] == "context-source")
        #expect(campaign["medium"] == "cpc")
        #expect(campaign["name"] == "spring")
        #expect(record["clickIds"] as? [String: String] == ["gclid": "abc123"])
        #expect(record["channel"] as? String == "paid_search")
        #expect(record["phoneClicks"] as? Int == 1)
        #expect(record["phoneProvided"] as? Bool == true)
        let known = try await stack.redis.command(
            "SMEMBERS", "\(stack.keyPrefix){\(TestStack.advertiser):p:+14155552671}:visitors")
        #expect((known.array ?? []).compactMap(\.string) == [visitor])
    }

    /// Browsers write an unpaired surrogate escape for a title cut inside an emoji; a number out of range is beyond
    /// any reader. Neither may cost the other events of the batch.
    @Test
    func collectRejectsOnlyTheUnreadableEvent() async throws {
        let stack = try await TestStack.shared()
        let session = Self.newSession("unreadable")
        let body = """
            {"batch":[\
            {"type":"page","messageId":"\(session)-1","sessionId":"\(session)",\
            "properties":{"url":"https://shop.example.com/"}},\
            {"type":"page","messageId":"\(session)-2","sessionId":"\(session)",\
            "properties":{"url":"https://shop.example.com/cart","title":"Cart \\ud83d"}},\
            {"type":"track","messageId":"\(session)-3","sessionId":"\(session)","event":"Added",\
            "properties":{"price":1e400}},\
            {"type":"track","messageId":"\(session)-4","sessionId":"\(session)","event":"Deep",\
            "properties":{"x":\(String(repeating: "[", count: 600) + String(repeating: "]", count: 600))}}\
            ]}
            """

        let response = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"),
                                           key: stack.keys["web"], body: Data(body.utf8),
                                           headers: ["Content-Type": "application/json"])

        #expect(response.status == 200, "\(response.text)")
        #expect(response.json?["accepted"] as? Int == 2)
        let rejected = response.json?["rejected"] as? [[String: Any]] ?? []
        #expect(rejected.count == 2)
        #expect(rejected.first?["index"] as? Int == 2)
        #expect((rejected.first?["error"] as? String ?? "").contains("the number 1e400 is out of range"))
        #expect(rejected.last?["index"] as? Int == 3)
        #expect((rejected.last?["error"] as? String ?? "").contains("nested more than 32 levels deep"))
        try await waitForSession(stack, session, events: 2)
        let record = try #require(try await Self.session(stack, session))
        let titles = (record["events"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
        #expect(titles == ["Cart \u{FFFD}"])
    }

    @Test
    func secondInstanceKilledLosesNothing() async throws {
        let stack = try await TestStack.shared()
        let port = try TestStack.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ringtrail-ingester-\(port).log")
        let second = try TestStack.spawn(
            binary: stack.binaries + "/activity-ingester",
            environment: [
                "RINGTRAIL_REDIS_URL": stack.redisURL, "RINGTRAIL_KAFKA_BROKERS": stack.brokers,
                "RINGTRAIL_TOPIC_PREFIX": stack.topicPrefix, "RINGTRAIL_KEY_PREFIX": stack.keyPrefix,
                "RINGTRAIL_TENANTS": stack.tenantsPath, "RINGTRAIL_HTTP_ADDR": "127.0.0.1:\(port)",
                "RINGTRAIL_LOG_LEVEL": "info",
                "RINGTRAIL_KAFKA_CONFIG": "session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000",
            ],
            log: log
        )
        defer { if second.isRunning { kill(second.processIdentifier, SIGKILL) } }
        try await TestStack.waitUntilReady(service: "activity-ingester", port: port,
                                           logDirectory: log.deletingLastPathComponent().path)
        // Let the group rebalance so that each instance owns one of the two partitions.
        try await Task.sleep(for: .seconds(8))

        let sessions = (0..<40).map { Self.newSession("scale-\($0)") }
        func batch(_ round: Int) throws -> [(key: String, value: [UInt8])] {
            try sessions.map { session in
                let event = Self.page(session, "\(session)-\(round)", url: "https://shop.example.com/r\(round)")
                return (session, try event.encoded())
            }
        }
        for round in 0..<5 {
            try await Self.produceAll(stack, try batch(round))
        }
        // The second instance must have taken part before it dies, or the kill proves nothing.
        var appliedBySecond = 0.0
        let deadline = ContinuousClock.now + .seconds(15)
        while appliedBySecond == 0, ContinuousClock.now < deadline {
            let metrics = try await HTTP.send("GET", "http://127.0.0.1:\(port)/metrics")
            appliedBySecond = Self.counter(metrics.text, "ringtrail_web_events_total{result=\"applied\"}")
            if appliedBySecond == 0 { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(appliedBySecond > 0, "the second instance applied no events before it was killed")
        kill(second.processIdentifier, SIGKILL)
        for round in 5..<10 {
            try await Self.produceAll(stack, try batch(round))
        }

        for session in sessions {
            try await waitForSession(stack, session, events: 10)
        }
        try await Task.sleep(for: .seconds(1))
        for session in sessions {
            let record = try #require(try await Self.session(stack, session))
            let urls = (record["events"] as? [[String: Any]] ?? []).compactMap { $0["url"] as? String }
            #expect(urls.count == 10, "session \(session) has \(urls.count) events")
            #expect(Set(urls).count == urls.count, "session \(session) has an event twice")
        }
    }

    /// The value of one sample line of a Prometheus text exposition, or 0 when absent.
    static func counter(_ text: String, _ sample: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1)) ?? 0
        }
        return 0
    }
}
