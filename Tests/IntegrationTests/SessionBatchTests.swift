import Foundation
import Model
import RedisKit
import Store
import Testing

/// Applying web events in batches must leave Redis exactly as applying them one by one does.
@Suite(.timeLimit(.minutes(2)))
struct SessionBatchTests {
    /// A small random generator with a fixed seed, so a failure can be run again.
    struct Generator {
        var state: UInt64

        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    /// Events of a few sessions: pages out of order, gaps longer than the inactivity timeout, phone clicks, form
    /// phones, and repeated message ids.
    static func events(seed: UInt64, count: Int) -> [WebEvent] {
        var random = Generator(state: seed)
        let start: Int64 = 1_764_842_400_000
        var generated: [WebEvent] = []
        for index in 0..<count {
            if index > 0, random.next(8) == 0 {
                generated.append(generated[random.next(generated.count)])
                continue
            }
            let session = "s-batch-\(random.next(4))"
            // Minutes from the start, up to two hours, so some gaps exceed the 30-minute timeout.
            let time = start + Int64(random.next(120)) * 60_000 + Int64(random.next(60_000))
            let stamp = Timestamp.format(milliseconds: time)
            let campaign = random.next(3) == 0 ? Campaign(source: "news\(random.next(3))") : nil
            let context = WebContext(userAgent: random.next(2) == 0 ? "Mozilla/5.0 (iPhone)" : "Mozilla/5.0",
                                     campaign: campaign)
            let id = "m-\(index)"
            switch random.next(5) {
            case 0:
                generated.append(WebEvent(type: .track, messageId: id, anonymousId: "v-\(session)", sessionId: session,
                                     timestamp: stamp, event: "Phone Link Clicked", context: context))
            case 1:
                generated.append(WebEvent(type: .identify, messageId: id, anonymousId: "v-\(session)",
                                     sessionId: session, timestamp: stamp,
                                     traits: ["phone": .string("+1 404 555 01\(10 + random.next(3))")],
                                     context: context))
            default:
                let path = ["/", "/pricing?utm_source=g&gclid=x\(random.next(3))", "/contact"][random.next(3)]
                var properties: [String: JSONValue] = ["url": .string("https://shop.example.com\(path)")]
                // Some pages lack a referrer, so an earlier page can have fewer landing fields than a later one.
                switch random.next(3) {
                case 0: properties["referrer"] = .string("https://www.google.com/")
                case 1: properties["referrer"] = .string("https://www.bing.com/")
                default: break
                }
                // A page without a URL sets a channel but never replaces a landing page.
                if random.next(6) == 0 { properties["url"] = nil }
                generated.append(WebEvent(type: .page, messageId: id, anonymousId: "v-\(session)", sessionId: session,
                                     timestamp: stamp, properties: properties, context: context))
            }
        }
        return generated
    }

    /// Reads every key under `prefix` with its whole content, in a form that compares equal for equal data.
    static func dump(_ redis: RedisClient, prefix: String) async throws -> [String: String] {
        let keys = try await redis.command("KEYS", "\(prefix)*").array?.compactMap(\.string) ?? []
        var result: [String: String] = [:]
        for key in keys {
            let type = try await redis.command("TYPE", key).string ?? ""
            let content: [String]
            switch type {
            case "hash":
                let hash = try await redis.command("HGETALL", key).dictionary
                // The expiry mark is the time of the run, which differs between the two stores.
                content = hash.filter { $0.key != "expiresAt" }.map { "\($0.key)=\($0.value)" }.sorted()
            case "list":
                content = try await redis.command("LRANGE", key, "0", "-1").array?.compactMap(\.string) ?? []
            case "set":
                content = (try await redis.command("SMEMBERS", key).array?.compactMap(\.string) ?? []).sorted()
            case "zset":
                content = try await redis.command("ZRANGE", key, "0", "-1", "WITHSCORES").array?
                    .compactMap(\.string) ?? []
            default:
                content = ["unexpected type \(type)"]
            }
            result[String(key.dropFirst(prefix.count))] = "\(type): " + content.joined(separator: " | ")
        }
        return result
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5])
    func batchesEqualOneByOne(seed: UInt64) async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let advertiser = Advertiser(id: "acme", keys: [], pools: [])
        let received: Int64 = 1_764_849_600_000
        let events = Self.events(seed: seed, count: 60)
        let incoming = events.map { event in
            IncomingWebEvent(event: event, advertiser: advertiser, receivedAt: received,
                             formPhone: event.type == .identify ? "+1404555011\(event.messageId.count % 3)" : nil)
        }

        let single = "\(stack.keyPrefix)batch-\(run)-single:"
        let store = SessionStore(redis: stack.redis, keys: RedisKeys(prefix: single))
        var singleResults: [ApplyResult] = []
        for event in incoming {
            singleResults += try await store.apply([event])
        }

        var random = Generator(state: seed &+ 99)
        let batched = "\(stack.keyPrefix)batch-\(run)-batched:"
        let batchStore = SessionStore(redis: stack.redis, keys: RedisKeys(prefix: batched))
        var batchResults: [ApplyResult] = []
        var position = 0
        while position < incoming.count {
            let size = 1 + random.next(25)
            let end = min(incoming.count, position + size)
            batchResults += try await batchStore.apply(Array(incoming[position..<end]))
            position = end
        }

        #expect(batchResults == singleResults)
        #expect(singleResults.contains { if case .duplicate = $0 { true } else { false } })
        #expect(singleResults.contains { if case .applied(let id) = $0 { id.contains("~") } else { false } })
        let singleDump = try await Self.dump(stack.redis, prefix: single)
        let batchDump = try await Self.dump(stack.redis, prefix: batched)
        #expect(singleDump.keys.sorted() == batchDump.keys.sorted())
        for (key, value) in singleDump {
            #expect(batchDump[key] == value, "\(key) differs")
        }
    }

    /// A page earlier than the session's landing page replaces all landing fields, also those it lacks: the
    /// record must not keep a referrer, campaign or click id from the later page.
    @Test(arguments: [false, true])
    func earlierPageReplacesEveryLandingField(inOneBatch: Bool) async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let advertiser = Advertiser(id: "acme", keys: [], pools: [])
        let store = SessionStore(redis: stack.redis, keys: RedisKeys(prefix: "\(stack.keyPrefix)landing-\(run):"))
        let start: Int64 = 1_764_842_400_000
        let later = WebEvent(type: .page, messageId: "m-later", anonymousId: "v-1", sessionId: "s-1",
                             timestamp: Timestamp.format(milliseconds: start + 240_000),
                             properties: ["url": .string("https://acme.example/b?utm_source=news&gclid=B"),
                                          "referrer": .string("https://www.bing.com/")])
        let earlier = WebEvent(type: .page, messageId: "m-earlier", anonymousId: "v-1", sessionId: "s-1",
                               timestamp: Timestamp.format(milliseconds: start),
                               properties: ["url": .string("https://acme.example/a")])
        let events = [later, earlier].map {
            IncomingWebEvent(event: $0, advertiser: advertiser, receivedAt: start + 300_000, formPhone: nil)
        }

        if inOneBatch {
            _ = try await store.apply(events)
        } else {
            for event in events { _ = try await store.apply([event]) }
        }

        let record = try #require(try await store.record(advertiser: "acme", session: "s-1"))
        #expect(record.landingPage == "https://acme.example/a")
        #expect(record.referrer == nil)
        #expect(record.campaign == nil)
        #expect(record.clickIds.isEmpty)
        #expect(record.channel == .direct)
    }

    /// Every key a large batch writes expires, the index keys too, whichever pipeline carried their commands. Only
    /// the advertiser's session index lives on; its old entries are trimmed instead.
    @Test
    func everyKeyOfALargeBatchExpires() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        var advertiser = Advertiser(id: "acme", keys: [], pools: [])
        advertiser.retentionDays = 1
        let prefix = "\(stack.keyPrefix)batch-\(run)-expiry:"
        let store = SessionStore(redis: stack.redis, keys: RedisKeys(prefix: prefix))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let batch = (0..<600).map { index in
            let session = "s-\(index % 300)"
            let event = WebEvent(type: index % 3 == 2 ? .identify : .page, messageId: "m-\(index)",
                                 anonymousId: "v-\(index % 300)", sessionId: session,
                                 timestamp: Timestamp.format(milliseconds: now - Int64(600 - index) * 1000),
                                 properties: ["url": .string("https://shop.example.com/\(index)")])
            return IncomingWebEvent(event: event, advertiser: advertiser, receivedAt: now,
                                    formPhone: event.type == .identify ? "+1404555\(1000 + index)" : nil)
        }

        let results = try await store.apply(batch)

        #expect(results.allSatisfy { if case .applied = $0 { true } else { false } })
        let keys = try await stack.redis.command("KEYS", "\(prefix)*").array?.compactMap(\.string) ?? []
        #expect(keys.count > 1000)
        let advertiserIndex = RedisKeys(prefix: prefix).advertiserSessions(advertiser: "acme")
        var withoutExpiry: [String] = []
        for key in keys where key != advertiserIndex {
            let milliseconds = try await stack.redis.command("PTTL", key).integer ?? -1
            if milliseconds <= 0 || milliseconds > 86_400_000 { withoutExpiry.append(key) }
        }
        #expect(withoutExpiry.isEmpty, "keys without a one-day expiry: \(withoutExpiry.prefix(5))")
    }
}
