import Foundation
import KafkaKit
import Model
import RedisKit
import Store
import Testing

/// Many web-tier clients at once against a small pool whose leases expire during the run: no number may be live
/// for two sessions unless the answer said `recycled`, and every lease must be in the number's history.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct LeaseConcurrencyTests {
    struct Lease: Hashable {
        var number: String
        var session: String
        var from: Int64
    }

    /// A lease event left in a pool's outbox by an instance that died before publishing it is published by the
    /// running one, with the id the entry determines, and leaves the outbox.
    @Test func entryLeftInOutboxIsPublished() async throws {
        let stack = try await TestStack.shared()
        let session = "s-orphan-\(UUID().uuidString.prefix(8).lowercased())"
        let keys = RedisKeys(prefix: stack.keyPrefix)
        let outboxKey = keys.poolOutbox(advertiser: TestStack.advertiser, pool: "scenarios")
        let text = "recycled|+15555550500|\(session)|v-orphan|1767225600000|1767225660000|1767225600000"
        let reader = try stack.makeReader([.numberLeases])
        defer { Task { await reader.close() } }
        try await stack.redis.command("RPUSH", outboxKey, text)

        let event = try #require(await awaitMessage(reader, as: LeaseEvent.self, topic: stack.topic(.numberLeases)) {
            $0.data.sessionId == session
        })
        let entry = try #require(OutboxEntry(text))
        #expect(event.id == entry.eventID(advertiser: TestStack.advertiser, pool: "scenarios"))
        #expect(event.type == "ringtrail.lease.recycled")
        #expect(event.data == LeaseEvent(pool: "scenarios", number: "+15555550500", sessionId: session,
                                         visitorId: "v-orphan", status: .recycled, from: "2026-01-01T00:00:00.000Z",
                                         until: "2026-01-01T00:01:00.000Z"))
        #expect(event.time == "2026-01-01T00:00:00.000Z")
        let left = try await stack.redis.command("LRANGE", outboxKey, "0", "-1").array ?? []
        #expect(!left.contains { $0.string == text })
    }

    @Test func concurrentClientsNeverShareLiveNumberWithoutRecycling() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let clients = 64
        let requestsPerClient = 50
        let startedAt = Date()
        let answers = try await withThrowingTaskGroup(of: [String].self) { group in
            for client in 0..<clients {
                group.addTask {
                    var answers: [String] = []
                    for request in 0..<requestsPerClient {
                        // Each client moves through sessions; asking again within a session renews its lease.
                        let session = "s-\(run)-\(client)-\(request / 5)"
                        let response = try await HTTP.send(
                            "POST", stack.url("number-pool", "/v1/leases"), key: stack.keys["web"],
                            json: ["pool": "stress", "sessionId": session, "visitorId": "v-\(run)-\(client)",
                                   "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"])
                        if response.status == 200, let status = response.json?["status"] as? String {
                            answers.append(status)
                        }
                        if request % 10 == 9 { try await Task.sleep(for: .milliseconds(300)) }
                    }
                    return answers
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(answers.count == clients * requestsPerClient)
        let statuses = Dictionary(grouping: answers) { $0 }.mapValues(\.count)
        #expect((statuses["granted"] ?? 0) > 0)
        #expect((statuses["renewed"] ?? 0) > 0)
        #expect((statuses["recycled"] ?? 0) > 0, "the load must exhaust the pool so that recycling is exercised")
        #expect(Double(Date().timeIntervalSince(startedAt)) > 1, "leases of 0.5 s must expire during the run")

        // From the topic: every granted, renewed and recycled event of the run's sessions.
        let reader = try stack.makeReader([.numberLeases])
        defer { Task { await reader.close() } }
        var events: [LeaseEvent] = []
        let expected = answers.count
        for await event in await reader.all(LeaseEvent.self, topic: stack.topic(.numberLeases)) {
            if event.data.sessionId.hasPrefix("s-\(run)-") { events.append(event.data) }
        }
        #expect(events.count == expected)
        let topicLeases = Self.leases(from: events)
        #expect(Self.violations(topicLeases).isEmpty, "from the topic: \(Self.violations(topicLeases).prefix(3))")

        // From Redis: the history each number keeps.
        var historyLeases: [Lease: (until: Int64, recycled: Bool)] = [:]
        for number in TestStack.stressNumbers {
            let response = try await HTTP.send(
                "GET", stack.url("number-pool", "/v1/numbers/\(number)/history"), key: stack.keys["read"])
            #expect(response.status == 200)
            for entry in response.jsonArray ?? [] {
                guard let session = entry["sessionId"] as? String, session.hasPrefix("s-\(run)-"),
                    let from = (entry["from"] as? String).flatMap(Timestamp.parseMilliseconds),
                    let until = (entry["until"] as? String).flatMap(Timestamp.parseMilliseconds)
                else { continue }
                let lease = Lease(number: number, session: session, from: from)
                let recycled = entry["recycled"] as? Bool ?? false
                #expect(recycled == (topicLeases[lease]?.recycled ?? false), "lease \(lease) recycled: \(recycled)")
                historyLeases[lease] = (until, topicLeases[lease]?.recycled ?? false)
            }
        }
        #expect(Self.violations(historyLeases).isEmpty, "from Redis: \(Self.violations(historyLeases).prefix(3))")
        for lease in topicLeases.keys {
            #expect(historyLeases[lease] != nil, "lease \(lease) is missing from the number's history")
        }
    }

    /// Lease intervals by number, session and start, with their latest end and whether they began recycled.
    static func leases(from events: [LeaseEvent]) -> [Lease: (until: Int64, recycled: Bool)] {
        var result: [Lease: (until: Int64, recycled: Bool)] = [:]
        for event in events {
            guard let from = Timestamp.parseMilliseconds(event.from),
                let until = event.until.flatMap(Timestamp.parseMilliseconds)
            else { continue }
            let lease = Lease(number: event.number, session: event.sessionId, from: from)
            let known = result[lease]
            result[lease] = (max(known?.until ?? 0, until), (known?.recycled ?? false) || event.status == .recycled)
        }
        return result
    }

    /// Pairs of leases of one number where the later one began while the earlier was live and was not recycled.
    static func violations(_ leases: [Lease: (until: Int64, recycled: Bool)]) -> [String] {
        var found: [String] = []
        for (number, group) in Dictionary(grouping: leases.keys, by: \.number) {
            let ordered = group.sorted { $0.from < $1.from }
            for (index, later) in ordered.enumerated() where !(leases[later]?.recycled ?? false) {
                for earlier in ordered[..<index] where earlier.session != later.session {
                    if let until = leases[earlier]?.until, until > later.from {
                        found.append("\(number): \(later.session) granted at \(later.from) while \(earlier.session) "
                                     + "held it until \(until)")
                    }
                }
            }
        }
        return found
    }
}
