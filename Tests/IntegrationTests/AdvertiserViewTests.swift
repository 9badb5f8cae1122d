import Foundation
import Model
import RedisKit
import Testing

/// What the advertiser reads: records that follow decisions, and no other tenant's data.
@Suite(.timeLimit(.minutes(2)))
struct AdvertiserViewTests {
    @Test func matchChangeMovesCallBetweenRecords() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let sessions = ["s-chg-a-\(run)", "s-chg-b-\(run)"]
        // Both sessions held the scenario number in turn, as the number-pool would have recorded it.
        let number = TestStack.scenarioNumbers[9]
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (index, session) in sessions.enumerated() {
            let from = now - Int64(600_000 - index * 300_000)
            try await stack.redis.command("ZADD", "\(stack.keyPrefix){acme:scenarios}:hist:\(number)",
                                          String(from + 250_000), "\(session)|v-\(session)|\(from)")
            let page: [String: Any] = [
                "type": "page", "messageId": "\(session)-p", "anonymousId": "v-\(session)", "sessionId": session,
                "properties": ["url": "https://example.com/?utm_source=\(session)&utm_medium=volatile&utm_campaign=chg"],
            ]
            _ = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                    json: ["batch": [page]])
            try await waitForSession(stack, session, events: 1)
        }
        let callId = "CAchg\(run)"
        _ = try await stack.postTwilio("/v1/webhooks/twilio/acme",
                                       [("CallSid", callId), ("From", "+16155550150"), ("To", number),
                                        ("CallStatus", "ringing")])
        let view = try await waitForScreen(stack, callId)
        let listed = (view["candidates"] as? [[String: Any]] ?? []).compactMap { $0["sessionId"] as? String }
        let (a, b) = (sessions[0], sessions[1])
        try #require(listed.contains(a) && listed.contains(b), "both sessions held the number: \(listed)")
        let reader = try stack.makeReader([.attributions])
        defer { Task { await reader.close() } }
        let matchURL = stack.url("call-router", "/v1/calls/\(callId)/match")
        _ = try await HTTP.send("POST", stack.url("call-router", "/v1/calls/\(callId)/outcome"), key: stack.keys["agent"],
                                json: ["disposition": "sale", "revenue": 50, "currency": "USD"])

        func calls(of session: String) async throws -> [String] {
            let record = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/sessions/\(session)/record"),
                                             key: stack.keys["read"])
            return (record.json?["calls"] as? [[String: Any]] ?? []).compactMap { $0["callId"] as? String }
        }
        func settle(_ expected: @Sendable (Attribution) -> Bool) async -> Attribution? {
            await awaitMessage(reader, as: Attribution.self, topic: stack.topic(.attributions)) {
                $0.data.callId == callId && expected($0.data)
            }?.data
        }

        _ = try await HTTP.send("POST", matchURL, key: stack.keys["agent"], json: ["sessionId": a, "agentId": "a-1"])
        #expect(await settle { $0.sessionId == a } != nil)
        #expect(try await calls(of: a) == [callId])
        #expect(try await calls(of: b).isEmpty)

        try await Task.sleep(for: .milliseconds(5))
        _ = try await HTTP.send("POST", matchURL, key: stack.keys["agent"], json: ["sessionId": b, "agentId": "a-1"])
        let toB = await settle { $0.sessionId == b }
        #expect(toB?.campaign?.source == b)
        #expect(try await calls(of: a).isEmpty)
        #expect(try await calls(of: b) == [callId])

        try await Task.sleep(for: .milliseconds(5))
        _ = try await HTTP.send("POST", matchURL, key: stack.keys["agent"], json: ["sessionId": NSNull(), "agentId": "a-1"])
        let none = await settle { $0.withdrawn }
        #expect(none?.sessionId == nil)
        #expect(none?.disposition == "sale")
        #expect(try await calls(of: a).isEmpty)
        #expect(try await calls(of: b).isEmpty)

        let report = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/reports/campaigns"),
                                         key: stack.keys["read"])
        let rows = report.json?["campaigns"] as? [[String: Any]] ?? []
        for session in sessions {
            let row = rows.first { $0["source"] as? String == session }
            #expect(row?["calls"] as? Int == 0, "the withdrawn call counts for no campaign")
            #expect(row?["sessions"] as? Int == 1)
        }
    }

    @Test func otherAdvertiserGetsNotFoundEverywhere() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let session = "s-iso-\(run)"
        let page: [String: Any] = [
            "type": "page", "messageId": "\(session)-p", "anonymousId": "v-iso-\(run)", "sessionId": session,
            "properties": ["url": "https://example.com/?utm_source=isolated\(run)"],
        ]
        _ = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                json: ["batch": [page]])
        try await waitForSession(stack, session, events: 1)

        let other = stack.keys["otherRead"]
        for (service, path) in [
            ("activity-ingester", "/v1/sessions/\(session)"),
            ("attribution-worker", "/v1/sessions/\(session)/record"),
            ("attribution-worker", "/v1/sessions/\(session)/summary"),
            ("number-pool", "/v1/pools/stress"),
            ("number-pool", "/v1/numbers/%2B15555550100/history"),
        ] {
            let response = try await HTTP.send("GET", stack.url(service, path), key: other)
            #expect(response.status == 404, "\(service) \(path) answered \(response.status) to another tenant")
            #expect(response.json?["error"] as? String == "not_found")
        }
        let report = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/reports/campaigns"), key: other)
        #expect(report.status == 200)
        #expect(!report.text.contains("isolated\(run)"))
        let export = try await HTTP.send("GET", stack.url("attribution-worker",
                                                          "/v1/exports/google-ads/click-conversions.csv"), key: other)
        #expect(export.status == 200)
        #expect(export.text.split(separator: "\r\n").count == 1, "another tenant's export holds only its header")
        let agent = try await HTTP.send("GET", stack.url("activity-ingester", "/v1/sessions/\(session)"),
                                        key: stack.keys["centerAgent"])
        #expect(agent.status == 403, "call-center keys read only calls")
    }

    @Test func recordsExpireAfterRetention() async throws {
        let stack = try await TestStack.shared()
        let session = "s-retain-\(UUID().uuidString.prefix(6).lowercased())"
        let page: [String: Any] = [
            "type": "page", "messageId": "\(session)-p", "anonymousId": "v-\(session)", "sessionId": session,
            "properties": ["url": "https://example.com/"],
        ]
        let key = stack.keys["otherRead"]
        let collect = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: key,
                                          json: ["batch": [page]])
        #expect(collect.status == 200)
        let url = stack.url("activity-ingester", "/v1/sessions/\(session)")
        var stored = false
        let deadline = ContinuousClock.now + .seconds(10)
        while !stored, ContinuousClock.now < deadline {
            stored = try await HTTP.send("GET", url, key: key).status == 200
            if !stored { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(stored, "the session was never stored")
        // The advertiser keeps records for three seconds.
        try await Task.sleep(for: .seconds(4))
        #expect(try await HTTP.send("GET", url, key: key).status == 404)
        let keys = try await stack.redis.command("KEYS", "\(stack.keyPrefix)*\(session)*")
        #expect(keys.array?.isEmpty == true)
    }
}
