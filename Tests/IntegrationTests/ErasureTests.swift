import Foundation
import Model
import RedisKit
import Testing

/// Erasing a visitor or a phone number leaves nothing of theirs behind any endpoint or key.
@Suite(.timeLimit(.minutes(2)))
struct ErasureTests {
    @Test func erasedVisitorIsGoneEverywhere() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let visitor = "v-erase-\(run)"
        let session = "s-erase-\(run)"
        let lease = try await HTTP.send("POST", stack.url("number-pool", "/v1/leases"), key: stack.keys["web"], json: [
            "pool": "main", "sessionId": session, "visitorId": visitor, "userAgent": "Mozilla/5.0 Firefox/121.0",
        ])
        let number = try #require(lease.json?["number"] as? String)
        let batch: [[String: Any]] = [
            ["type": "page", "messageId": "\(session)-1", "anonymousId": visitor, "sessionId": session,
             "properties": ["url": "https://example.com/?gclid=erase\(run)"]],
            ["type": "identify", "messageId": "\(session)-2", "anonymousId": visitor, "sessionId": session,
             "traits": ["phone": "+1 404 555 0177"]],
        ]
        _ = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                json: ["batch": batch])
        try await waitForSession(stack, session, events: 2)
        let callId = "CAerase\(run)"
        // Another number than the form's: the agent's match teaches this number's index the visitor too.
        _ = try await stack.postTwilio("/v1/webhooks/twilio/acme",
                                       [("CallSid", callId), ("From", "+14045550178"), ("To", number),
                                        ("CallStatus", "ringing")])
        _ = try await waitForScreen(stack, callId)
        _ = try await HTTP.send("POST", stack.url("call-router", "/v1/calls/\(callId)/match"), key: stack.keys["agent"],
                                json: ["sessionId": session, "agentId": "a-1"])
        // A call the agent matched to the visitor and then unmatched. The match still added the visitor to its
        // number's index.
        let unmatchedId = "CAerase2\(run)"
        _ = try await stack.postTwilio("/v1/webhooks/twilio/acme",
                                       [("CallSid", unmatchedId), ("From", "+14045550179"), ("To", number),
                                        ("CallStatus", "ringing")])
        _ = try await waitForScreen(stack, unmatchedId)
        let unmatchedURL = stack.url("call-router", "/v1/calls/\(unmatchedId)/match")
        _ = try await HTTP.send("POST", unmatchedURL, key: stack.keys["agent"],
                                json: ["sessionId": session, "agentId": "a-1"])
        _ = try await HTTP.send("POST", unmatchedURL, key: stack.keys["agent"],
                                json: ["sessionId": NSNull(), "agentId": "a-1"])
        let recordURL = stack.url("attribution-worker", "/v1/sessions/\(session)/record")
        let deadline = ContinuousClock.now + .seconds(15)
        // Waits until the record lists the matched call and no longer the unmatched one. The erasure can then find
        // the unmatched call's number only through the visitor's list of matched numbers.
        while ContinuousClock.now < deadline {
            let record = try await HTTP.send("GET", recordURL, key: stack.keys["read"])
            let ids = (record.json?["calls"] as? [[String: Any]] ?? []).compactMap { $0["callId"] as? String }
            if ids.contains(callId), !ids.contains(unmatchedId) { break }
            try await Task.sleep(for: .milliseconds(100))
        }

        let path = stack.url("attribution-worker", "/v1/visitors/\(visitor)")
        #expect(try await HTTP.send("DELETE", path, key: stack.keys["read"]).status == 403)
        let erased = try await HTTP.send("DELETE", path, key: stack.keys["admin"])
        #expect(erased.status == 200)
        #expect(erased.json?["sessions"] as? [String] == [session])
        #expect(erased.json?["calls"] as? [String] == [callId])

        #expect(try await HTTP.send("GET", recordURL, key: stack.keys["read"]).status == 404)
        #expect(try await HTTP.send("GET", stack.url("attribution-worker", "/v1/sessions/\(session)/summary"),
                                    key: stack.keys["read"]).status == 404)
        #expect(try await HTTP.send("GET", stack.url("activity-ingester", "/v1/sessions/\(session)"),
                                    key: stack.keys["read"]).status == 404)
        #expect(try await HTTP.send("GET", stack.url("call-router", "/v1/calls/\(callId)"),
                                    key: stack.keys["agent"]).status == 404)
        let history = try await HTTP.send("GET", stack.url("number-pool", "/v1/numbers/\(number)/history"),
                                          key: stack.keys["read"])
        #expect(!(history.jsonArray ?? []).contains { $0["visitorId"] as? String == visitor })
        let export = try await HTTP.send("GET", stack.url("attribution-worker",
                                                          "/v1/exports/google-ads/click-conversions.csv"),
                                         key: stack.keys["read"])
        #expect(!export.text.contains("erase\(run)"))
        let keys = try await stack.redis.command("KEYS", "\(stack.keyPrefix)*\(visitor)*")
        #expect(keys.array?.isEmpty == true, "left: \(keys)")
        let sessionKeys = try await stack.redis.command("KEYS", "\(stack.keyPrefix)*\(session)*")
        #expect(sessionKeys.array?.isEmpty == true, "left: \(sessionKeys)")
        for phone in ["+14045550177", "+14045550178", "+14045550179"] {
            let visitors = try await stack.redis.command("SMEMBERS", "\(stack.keyPrefix){acme:p:\(phone)}:visitors")
            #expect(!(visitors.array ?? []).contains { $0.string == visitor }, "\(phone) still knows the visitor")
            let calls = try await stack.redis.command("SMEMBERS", "\(stack.keyPrefix){acme:p:\(phone)}:calls")
            #expect(!(calls.array ?? []).contains { $0.string == callId }, "\(phone) still lists the call")
        }

        // The erased session's live lease went, so its number is free again rather than reserved for no session.
        let free = try await stack.redis.command("ZSCORE", "\(stack.keyPrefix){acme:main}:free", number)
        let freeAt = try #require(free.string.flatMap { Double($0) })
        #expect(freeAt <= Date().timeIntervalSince1970 * 1000)

        let again = try await HTTP.send("DELETE", path, key: stack.keys["admin"])
        #expect(again.status == 200)
    }

    @Test func erasedPhoneLeavesNoCallerNumber() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(6).lowercased()
        let callId = "CAphone\(run)"
        // A number no test leases, so the call cannot join the sessions of the other tests.
        _ = try await stack.postTwilio("/v1/webhooks/twilio/acme",
                                       [("CallSid", callId), ("From", "+13125550166"),
                                        ("To", TestStack.scenarioNumbers[11]), ("CallStatus", "ringing")])
        let view = try await waitForScreen(stack, callId)
        #expect(view["from"] as? String == "+13125550166")
        let erased = try await HTTP.send("DELETE", stack.url("attribution-worker", "/v1/phones/%2B13125550166"),
                                         key: stack.keys["admin"])
        #expect(erased.status == 200)
        #expect((erased.json?["calls"] as? [String])?.contains(callId) == true)
        let after = try await HTTP.send("GET", stack.url("call-router", "/v1/calls/\(callId)"), key: stack.keys["agent"])
        #expect(after.json?["from"] is NSNull)
        let invalid = try await HTTP.send("DELETE", stack.url("attribution-worker", "/v1/phones/12345"),
                                          key: stack.keys["admin"])
        #expect(invalid.status == 400)
    }
}
