import Foundation
import KafkaKit
import Model
import Testing

/// The whole flow over the real Redis and broker: a visit, a lease, a form fill and a phone-link tap, a call,
/// the screen, the automatic match, the outcome and the attribution record.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct WholeFlowTests {
    @Test func callFromFormPhoneIsAttributedFieldByField() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(8).lowercased()
        let session = "s-flow-\(run)"
        let visitor = "v-flow-\(run)"
        let callId = "CAflow\(run)"
        let reader = try stack.makeReader([.callScreens, .callMatches, .attributions])
        defer { Task { await reader.close() } }

        let lease = try await HTTP.send("POST", stack.url("number-pool", "/v1/leases"), key: stack.keys["web"], json: [
            "pool": "main", "sessionId": session, "visitorId": visitor,
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            "page": "https://example.com/pricing",
        ])
        #expect(lease.status == 200)
        let number = try #require(lease.json?["number"] as? String)
        #expect(TestStack.numbers.contains(number))
        #expect(["granted", "recycled"].contains(lease.json?["status"] as? String))

        let landing = "https://example.com/pricing?utm_source=google&utm_medium=cpc&gclid=abc123&utm_term=plumber"
        let now = Date()
        let batch: [[String: Any]] = [
            [
                "type": "page", "messageId": "\(session)-1", "anonymousId": visitor, "sessionId": session,
                "timestamp": Timestamp.format(now.addingTimeInterval(-120)),
                "properties": ["url": landing, "referrer": "https://www.google.com/", "title": "Pricing"],
                "context": [
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148",
                    "campaign": ["name": "spring"],
                    "location": ["country": "US", "region": "NY", "city": "New York"],
                ] as [String: Any],
            ],
            [
                "type": "identify", "messageId": "\(session)-2", "anonymousId": visitor, "sessionId": session,
                "timestamp": Timestamp.format(now.addingTimeInterval(-60)), "traits": ["phone": "(212) 555-0147"],
            ],
            [
                "type": "track", "event": "Phone Link Clicked", "messageId": "\(session)-3", "anonymousId": visitor,
                "sessionId": session, "timestamp": Timestamp.format(now.addingTimeInterval(-20)),
            ],
        ]
        let collect = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                          json: ["batch": batch])
        #expect(collect.status == 200)
        #expect(collect.json?["accepted"] as? Int == 3)
        try await waitForSession(stack, session, events: 3)

        let fields: [(String, String)] = [
            ("CallSid", callId), ("From", "+12125550147"), ("To", number), ("CallStatus", "ringing"),
            ("Direction", "inbound"), ("AccountSid", "ACtest"),
        ]
        let voice = try await stack.postTwilio("/v1/webhooks/twilio/acme", fields)
        #expect(voice.status == 200)
        #expect(voice.text.contains("<Dial>+15555550111</Dial>"))

        let screen = await awaitMessage(reader, as: CallScreen.self, topic: stack.topic(.callScreens)) {
            $0.data.callId == callId
        }
        let candidates = try #require(screen?.data.candidates)
        let top = try #require(candidates.first)
        #expect(top.sessionId == session)
        #expect(top.reasons.contains("caller number entered in a form"))
        #expect(top.reasons.contains("lease active at call time"))
        #expect(top.reasons.contains { $0.hasPrefix("tapped the phone link") })
        #expect(top.session?.landingPage == landing)

        let match = await awaitMessage(reader, as: CallMatch.self, topic: stack.topic(.callMatches)) {
            $0.data.callId == callId
        }
        #expect(match?.data.sessionId == session)
        #expect(match?.data.method == .ani)
        #expect((match?.data.probability ?? 0) >= 0.9)

        let outcome = try await HTTP.send("POST", stack.url("call-router", "/v1/calls/\(callId)/outcome"),
                                          key: stack.keys["centerAgent"],
                                          json: ["disposition": "sale", "revenue": 120.5, "currency": "USD",
                                                 "agentId": "a-7", "notes": "booked"])
        #expect(outcome.status == 200)
        let completed = fields.map { $0.0 == "CallStatus" ? ("CallStatus", "completed") : $0 } + [("CallDuration", "95")]
        let status = try await stack.postTwilio("/v1/webhooks/twilio/acme/status", completed)
        #expect(status.status == 200)

        let attribution = await awaitMessage(reader, as: Attribution.self, topic: stack.topic(.attributions)) {
            $0.data.callId == callId && $0.data.disposition == "sale" && $0.data.durationSeconds == 95
        }
        let record = try #require(attribution?.data)
        #expect(attribution?.advertiserid == "acme")
        #expect(attribution?.type == "ringtrail.attribution")
        #expect(record.sessionId == session)
        #expect(record.visitorId == visitor)
        #expect(record.to == number)
        #expect(record.campaign == Campaign(source: "google", medium: "cpc", name: "spring", term: "plumber"))
        #expect(record.clickIds == ["gclid": "abc123"])
        #expect(record.landingPage == landing)
        #expect(record.referrer == "https://www.google.com/")
        #expect(record.method == .ani)
        #expect((record.probability ?? 0) >= 0.9)
        #expect(record.startedAt != nil)
        #expect(record.revenue == 120.5)
        #expect(record.currency == "USD")
        #expect(record.withdrawn == false)

        let complete = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/sessions/\(session)/record"),
                                           key: stack.keys["read"])
        #expect(complete.status == 200)
        let calls = complete.json?["calls"] as? [[String: Any]]
        #expect(calls?.count == 1)
        #expect(calls?.first?["callId"] as? String == callId)
        #expect(calls?.first?["disposition"] as? String == "sale")

        let report = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/reports/campaigns"),
                                         key: stack.keys["read"])
        #expect(report.status == 200)
        let rows = report.json?["campaigns"] as? [[String: Any]] ?? []
        let spring = rows.first { $0["source"] as? String == "google" && $0["name"] as? String == "spring" }
        #expect((spring?["calls"] as? Int ?? 0) >= 1)
        #expect((spring?["sessions"] as? Int ?? 0) >= 1)
        #expect(((spring?["revenue"] as? [String: Double])?["USD"] ?? 0) >= 120.5)

        let export = try await HTTP.send("GET", stack.url("attribution-worker",
                                                          "/v1/exports/google-ads/click-conversions.csv"),
                                         key: stack.keys["read"])
        #expect(export.status == 200)
        let lines = export.text.split(separator: "\r\n").map(String.init)
        #expect(lines.first == "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency")
        let row = lines.first { $0.hasPrefix("abc123,") }?.split(separator: ",").map(String.init)
        #expect(row?.count == 5)
        #expect(row?[1] == "Phone call")
        #expect(row?[2].hasSuffix("+0000") == true)
        #expect(row?[3] == "120.50")
        #expect(row?[4] == "USD")
    }

    @Test func agentDecisionReplacesAutomaticMatch() async throws {
        let stack = try await TestStack.shared()
        let run = UUID().uuidString.prefix(8).lowercased()
        let first = "s-a-\(run)"
        let second = "s-b-\(run)"
        var number = ""
        for session in [first, second] {
            let lease = try await HTTP.send("POST", stack.url("number-pool", "/v1/leases"), key: stack.keys["web"],
                                            json: ["pool": "main", "sessionId": session, "visitorId": "v-\(session)",
                                                   "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0"])
            number = try #require(lease.json?["number"] as? String)
            let page: [String: Any] = [
                "type": "page", "messageId": "\(session)-p", "anonymousId": "v-\(session)", "sessionId": session,
                "properties": ["url": "https://example.com/"],
            ]
            _ = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                    json: ["batch": [page]])
        }
        // Make sure the first session held the called number too, so both are candidates.
        let callId = "CAagent\(run)"
        let fields: [(String, String)] = [("CallSid", callId), ("From", "+13125550111"), ("To", number),
                                          ("CallStatus", "ringing")]
        #expect(try await stack.postTwilio("/v1/webhooks/twilio/acme", fields).status == 200)
        let view = try await waitForScreen(stack, callId)
        let candidates = (view["candidates"] as? [[String: Any]] ?? []).compactMap { $0["sessionId"] as? String }
        let chosen = try #require(candidates.first)

        let url = stack.url("call-router", "/v1/calls/\(callId)/match")
        let agentMatch = try await HTTP.send("POST", url, key: stack.keys["agent"],
                                             json: ["sessionId": chosen, "agentId": "a-1"])
        #expect(agentMatch.status == 200)
        let none = try await HTTP.send("POST", url, key: stack.keys["agent"], json: ["sessionId": NSNull(), "agentId": "a-1"])
        #expect(none.status == 200)
        let after = try await HTTP.send("GET", stack.url("call-router", "/v1/calls/\(callId)"), key: stack.keys["agent"])
        let match = after.json?["match"] as? [String: Any]
        #expect(match?["method"] as? String == "agent")
        #expect(match?["sessionId"] is NSNull)

        let notCandidate = try await HTTP.send("POST", url, key: stack.keys["agent"],
                                               json: ["sessionId": "s-never-seen", "agentId": "a-1"])
        #expect(notCandidate.status == 422)
    }

    @Test func otherTenantsKeysSeeNothing() async throws {
        let stack = try await TestStack.shared()
        let callId = "CAiso\(UUID().uuidString.prefix(8).lowercased())"
        // A number no test leases: a call to a number of the main pool would join the sessions of other tests.
        let fields: [(String, String)] = [("CallSid", callId), ("From", "+13125550112"),
                                          ("To", TestStack.scenarioNumbers[11]), ("CallStatus", "ringing")]
        #expect(try await stack.postTwilio("/v1/webhooks/twilio/acme", fields).status == 200)
        _ = try await waitForScreen(stack, callId)
        let path = stack.url("call-router", "/v1/calls/\(callId)")
        #expect(try await HTTP.send("GET", path, key: stack.keys["otherAgent"]).status == 404)
        #expect(try await HTTP.send("GET", path, key: stack.keys["otherRead"]).status == 404)
        #expect(try await HTTP.send("GET", path, key: stack.keys["centerAgent"]).status == 200)
        #expect(try await HTTP.send("GET", path).status == 401)
        #expect(try await HTTP.send("GET", path, key: "rt_unknown").status == 401)
        #expect(try await HTTP.send("GET", path, key: stack.keys["web"]).status == 403)
        let pool = try await HTTP.send("GET", stack.url("number-pool", "/v1/pools/main"), key: stack.keys["otherRead"])
        #expect(pool.json?["size"] as? Int == TestStack.otherNumbers.count)
    }

    @Test func badSignatureIsRejected() async throws {
        let stack = try await TestStack.shared()
        let fields: [(String, String)] = [("CallSid", "CAbadsig"), ("From", "+13125550113"), ("To", TestStack.numbers[0]),
                                          ("CallStatus", "ringing")]
        let wrongToken = try await stack.postTwilio("/v1/webhooks/twilio/acme", fields, token: "not-the-token")
        #expect(wrongToken.status == 403)
        #expect(wrongToken.json?["error"] as? String == "forbidden")
        let unsigned = try await HTTP.send("POST", stack.url("call-router", "/v1/webhooks/twilio/acme"), form: fields)
        #expect(unsigned.status == 403)
    }
}

/// Waits until the ingester has stored `events` events of `session`.
func waitForSession(_ stack: TestStack, _ session: String, events: Int) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        let response = try await HTTP.send("GET", stack.url("activity-ingester", "/v1/sessions/\(session)"),
                                           key: stack.keys["read"])
        if response.status == 200, (response.json?["events"] as? [Any])?.count ?? 0 >= events { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("session \(session) did not reach \(events) events within 20 s")
}

/// Waits until the call-router has screened `callId` and returns the call as the agent API shows it.
func waitForScreen(_ stack: TestStack, _ callId: String) async throws -> [String: Any] {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        let response = try await HTTP.send("GET", stack.url("call-router", "/v1/calls/\(callId)"), key: stack.keys["agent"])
        if response.status == 200, let json = response.json, json["screened"] as? Bool == true { return json }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestStackError("call \(callId) was not screened within 20 s")
}
