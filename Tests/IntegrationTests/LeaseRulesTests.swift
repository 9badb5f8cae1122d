import Foundation
import Model
import RedisKit
import Store
import Testing

/// The leasing rules, run against the real Redis through the same Lua scripts the number-pool uses.
@Suite(.timeLimit(.minutes(1)))
struct LeaseRulesTests {
    let store: LeaseStore
    let advertiser: Advertiser

    init() async throws {
        guard let url = ProcessInfo.processInfo.environment["RINGTRAIL_TEST_REDIS_URL"] else {
            throw TestStackError("RINGTRAIL_TEST_REDIS_URL is not set: run the tests with `make test`, which starts Redis")
        }
        let redis = try RedisClient(url: url, connectionCount: 2)
        store = LeaseStore(redis: redis, keys: RedisKeys(prefix: "rt:lease-test-\(UUID().uuidString.prefix(8)):"))
        advertiser = Advertiser(id: "acme", keys: [], pools: [])
    }

    func makePool(_ numbers: [String], leaseSeconds: Double = 60, exhaustion: Pool.Exhaustion = .recycle,
                  fallback: String? = "+15555550199") async throws -> Pool {
        let pool = Pool(id: "p\(UUID().uuidString.prefix(6))", numbers: numbers, leaseSeconds: leaseSeconds,
                        exhaustion: exhaustion, fallbackNumber: fallback)
        try await store.sync(advertiser: advertiser.id, pool: pool)
        return pool
    }

    func grant(_ pool: Pool, _ session: String, visitor: String? = nil) async throws -> LeaseGrant {
        try await store.grant(advertiser: advertiser, pool: pool, session: session, visitor: visitor,
                              lookbackSeconds: 3600)
    }

    func outbox(owner: String = "test-publisher") -> LeaseOutbox {
        LeaseOutbox(redis: store.redis, keys: store.keys, owner: owner, lockDuration: .seconds(5))
    }

    @Test func everyAnswerIsRecordedInTheOutboxInOrder() async throws {
        let pool = try await makePool(["+15555550100"], fallback: "+15555550199")
        let first = try await grant(pool, "s-1", visitor: "v-1")
        let renewal = try await grant(pool, "s-1")
        let recycled = try await grant(pool, "s-2")
        let renewedByActivity = try #require(try await store.renew(advertiser: advertiser.id, pool: pool,
                                                                    session: "s-2"))
        let botAnswer = try await store.recordFallback(advertiser: advertiser.id, pool: pool, number: "+15555550199",
                                                       session: "s-bot", visitor: nil)

        let claimed = try #require(try await outbox().claim(advertiser: advertiser.id, pool: pool.id, limit: 100))
        let entries = claimed.compactMap(\.entry)
        #expect(entries.count == claimed.count)
        #expect(entries.map(\.status) == [.granted, .renewed, .recycled, .renewed, .fallback])
        #expect(entries.map(\.sessionId) == ["s-1", "s-1", "s-2", "s-2", "s-bot"])
        #expect(entries[0].visitorId == "v-1")
        #expect(entries[1].visitorId == "v-1")
        #expect(entries[0].from == first.from)
        #expect(entries[0].until == first.until)
        #expect(entries[1].from == first.from)
        #expect(entries[1].until == renewal.until)
        #expect(entries[2].from == recycled.from)
        #expect(entries[2].until == recycled.until)
        #expect(entries[3].until == renewedByActivity.record.until)
        #expect(entries[4].number == "+15555550199")
        #expect(entries[4].until == nil)
        #expect(entries[4].from == botAnswer)
        #expect(Set(entries.map { $0.eventID(advertiser: advertiser.id, pool: pool.id) }).count == 5)

        #expect(try await outbox().release(advertiser: advertiser.id, pool: pool.id, published: 2) == 3)
        let rest = try #require(try await outbox().claim(advertiser: advertiser.id, pool: pool.id, limit: 100))
        #expect(rest.compactMap(\.entry?.status) == [.recycled, .renewed, .fallback])
    }

    @Test func exhaustedPoolRecordsItsFallbackAnswer() async throws {
        let pool = try await makePool(["+15555550100"], exhaustion: .fallback, fallback: "+15555550199")
        _ = try await grant(pool, "s-1")
        let answer = try await grant(pool, "s-2")
        #expect(answer.status == .fallback)
        let claimed = try #require(try await outbox().claim(advertiser: advertiser.id, pool: pool.id, limit: 100))
        #expect(claimed.compactMap(\.entry?.status) == [.granted, .fallback])
        #expect(claimed.last?.entry?.sessionId == "s-2")
    }

    @Test func outboxLockKeepsOtherPublishersOut() async throws {
        let pool = try await makePool(["+15555550100"])
        _ = try await grant(pool, "s-1")
        let first = outbox(owner: "first"), second = outbox(owner: "second")
        #expect(try await first.claim(advertiser: advertiser.id, pool: pool.id, limit: 10)?.count == 1)
        #expect(try await second.claim(advertiser: advertiser.id, pool: pool.id, limit: 10) == nil)
        // An owner that lost its lock leaves the entries for the next one.
        #expect(try await second.release(advertiser: advertiser.id, pool: pool.id, published: 1) == 1)
        #expect(try await first.release(advertiser: advertiser.id, pool: pool.id, published: 1) == 0)
        #expect(try await second.claim(advertiser: advertiser.id, pool: pool.id, limit: 10)?.isEmpty == true)
    }

    @Test func fullOutboxRefusesNewAnswers() async throws {
        let pool = try await makePool(["+15555550100", "+15555550101"])
        _ = try await grant(pool, "s-1")
        let outboxKey = store.keys.poolOutbox(advertiser: advertiser.id, pool: pool.id)
        let filler = Array(repeating: "granted|+15555550100|s-x||1|2|1", count: 1000)
        for _ in 0..<(LeaseOutbox.maxBacklog / 1000) {
            try await store.redis.command(["RPUSH", outboxKey] + filler)
        }
        await #expect(throws: LeaseBacklogError.self) { try await grant(pool, "s-2") }
        await #expect(throws: LeaseBacklogError.self) {
            try await store.renew(advertiser: advertiser.id, pool: pool, session: "s-1")
        }
        await #expect(throws: LeaseBacklogError.self) {
            try await store.recordFallback(advertiser: advertiser.id, pool: pool, number: "+15555550199",
                                           session: "s-bot", visitor: nil)
        }
        try await store.redis.command("DEL", outboxKey)
    }

    @Test func malformedOutboxEntriesAreRecognized() {
        #expect(OutboxEntry("granted|+15555550100|s-1|v-1|1000|2000|1000") != nil)
        #expect(OutboxEntry("fallback|+15555550199|s-1||1000||1000")?.until == nil)
        #expect(OutboxEntry("granted|+15555550100|s-1|v-1|1000||1000") == nil)
        #expect(OutboxEntry("unknown|+15555550100|s-1|v-1|1000|2000|1000") == nil)
        #expect(OutboxEntry("granted|+15555550100|s-1|v-1|1000|2000") == nil)
        #expect(OutboxEntry("granted||s-1|v-1|1000|2000|1000") == nil)
        #expect(OutboxEntry("") == nil)
    }

    @Test func recycledNumberStaysWithFirstSession() async throws {
        let pool = try await makePool(["+15555550100"])
        let first = try await grant(pool, "s-1", visitor: "v-1")
        let shared = try await grant(pool, "s-2", visitor: "v-2")
        #expect(shared.status == .recycled)
        #expect(shared.number == first.number)

        // The first session's lease still lives, so it keeps the number rather than recycling another one.
        let again = try await grant(pool, "s-1", visitor: "v-1")
        #expect(again.status == .renewed)
        #expect(again.number == first.number)
        #expect(again.from == first.from)
        let renewal = try #require(try await store.renew(advertiser: advertiser.id, pool: pool, session: "s-1"))
        #expect(renewal.record.from == first.from)
        #expect(renewal.record.visitorId == "v-1")
        let sharedAgain = try await grant(pool, "s-2", visitor: "v-2")
        #expect(sharedAgain.status == .renewed)
        #expect(sharedAgain.from == shared.from)

        let history = try await store.history(advertiser: advertiser.id, pool: pool.id, number: "+15555550100", since: 0)
        #expect(history.first { $0.sessionId == "s-1" }?.until == renewal.record.until)
        #expect(history.first { $0.sessionId == "s-2" }?.recycled == true)
    }

    @Test func returningVisitorWaitsForSharedNumber() async throws {
        let pool = try await makePool(["+15555550100"], leaseSeconds: 3)
        let first = try await grant(pool, "s-a", visitor: "v-a")
        let shared = try await grant(pool, "s-b", visitor: "v-b")
        #expect(shared.status == .recycled)
        try await Task.sleep(for: .milliseconds(1200))
        let renewed = try await grant(pool, "s-a", visitor: "v-a")
        #expect(renewed.status == .renewed)

        // Once s-b's lease has ended, the number has no lease key, but s-a still holds it.
        let sharedEnd = Date(timeIntervalSince1970: Double(try #require(shared.until)) / 1000)
        try await Task.sleep(for: .milliseconds(max(0, Int(sharedEnd.timeIntervalSinceNow * 1000) + 300)))
        let back = try await grant(pool, "s-c", visitor: "v-b")
        #expect(back.number == first.number)
        #expect(back.status == .recycled, "a number another session still holds must not be granted as free")
    }

    @Test func sessionAskingAgainKeepsItsNumber() async throws {
        let pool = try await makePool(["+15555550100", "+15555550101"])
        let first = try await grant(pool, "s-1")
        let again = try await grant(pool, "s-1")
        #expect(first.status == .granted)
        #expect(again.status == .renewed)
        #expect(again.number == first.number)
        #expect(again.from == first.from)
        #expect((again.until ?? 0) >= (first.until ?? 0))
    }

    @Test func longestIdleNumberIsGrantedFirst() async throws {
        let pool = try await makePool(["+15555550100", "+15555550101", "+15555550102"], leaseSeconds: 0.2)
        let a = try await grant(pool, "s-a")
        try await Task.sleep(for: .milliseconds(30))
        let b = try await grant(pool, "s-b")
        let c = try await grant(pool, "s-c")
        #expect(Set([a.number, b.number, c.number]).count == 3)
        try await Task.sleep(for: .milliseconds(400))
        // All three expired; a's number has been free the longest.
        let next = try await grant(pool, "s-d")
        #expect(next.status == .granted)
        #expect(next.number == a.number)
    }

    @Test func returningVisitorGetsPreviousNumberWhenFree() async throws {
        let pool = try await makePool(["+15555550100", "+15555550101", "+15555550102"], leaseSeconds: 0.2)
        _ = try await grant(pool, "s-other-1")
        let first = try await grant(pool, "s-1", visitor: "v-returning")
        _ = try await grant(pool, "s-other-2")
        try await Task.sleep(for: .milliseconds(350))
        let second = try await grant(pool, "s-2", visitor: "v-returning")
        #expect(second.status == .granted)
        #expect(second.number == first.number)
    }

    @Test func exhaustedPoolRecyclesWithHistoryOfBoth() async throws {
        let pool = try await makePool(["+15555550100"])
        let first = try await grant(pool, "s-1")
        let second = try await grant(pool, "s-2")
        #expect(first.status == .granted)
        #expect(second.status == .recycled)
        #expect(second.number == first.number)
        let history = try await store.history(advertiser: advertiser.id, pool: pool.id, number: "+15555550100", since: 0)
        #expect(Set(history.map(\.sessionId)) == ["s-1", "s-2"])
        let stats = try await store.stats(advertiser: advertiser.id, pool: pool)
        #expect(stats.granted == 1)
        #expect(stats.recycled == 1)
        #expect(stats.leased == 1)
        #expect(stats.free == 0)
    }

    @Test func exhaustedFallbackPoolAnswersFallbackNumber() async throws {
        let pool = try await makePool(["+15555550100"], exhaustion: .fallback, fallback: "+15555550199")
        _ = try await grant(pool, "s-1")
        let second = try await grant(pool, "s-2")
        #expect(second.status == .fallback)
        #expect(second.number == "+15555550199")
        #expect(second.until == nil)
        let stats = try await store.stats(advertiser: advertiser.id, pool: pool)
        #expect(stats.fallback == 1)
    }

    @Test func leaseExpiresWithoutActivity() async throws {
        let pool = try await makePool(["+15555550100"], leaseSeconds: 0.15)
        let first = try await grant(pool, "s-1")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await store.renew(advertiser: advertiser.id, pool: pool, session: "s-1") == nil)
        let second = try await grant(pool, "s-2")
        #expect(second.status == .granted)
        #expect(second.number == first.number)
    }

    @Test func activityRenewalExtendsLeaseAndHistory() async throws {
        // Leases of 4 s leave room for a loaded machine: the renewal must come before the first lease ends, and the
        // second grant after that end but before the renewed lease ends.
        let pool = try await makePool(["+15555550100"], leaseSeconds: 4.0)
        let first = try await grant(pool, "s-1", visitor: "v-1")
        try await Task.sleep(for: .milliseconds(1500))
        let renewed = try #require(try await store.renew(advertiser: advertiser.id, pool: pool, session: "s-1"))
        #expect(renewed.number == first.number)
        #expect(renewed.record.visitorId == "v-1")
        #expect(renewed.record.until > (first.until ?? 0))
        let firstEnd = Date(timeIntervalSince1970: Double(try #require(first.until)) / 1000)
        try await Task.sleep(for: .milliseconds(max(0, Int(firstEnd.timeIntervalSinceNow * 1000) + 300)))
        // Without the renewal the lease would have ended by now.
        let other = try await grant(pool, "s-2")
        #expect(other.status == .recycled)
        let history = try await store.history(advertiser: advertiser.id, pool: pool.id, number: "+15555550100", since: 0)
        #expect(history.first { $0.sessionId == "s-1" }?.until == renewed.record.until)
    }

    @Test func removedNumberIsNoLongerGranted() async throws {
        var pool = try await makePool(["+15555550100", "+15555550101"])
        pool.numbers = ["+15555550101"]
        #expect(try await store.sync(advertiser: advertiser.id, pool: pool) == 1)
        for index in 0..<3 {
            #expect(try await grant(pool, "s-\(index)").number == "+15555550101")
        }
    }
}
