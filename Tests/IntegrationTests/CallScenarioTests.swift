import Foundation
import Model
import RedisKit
import SecurityKit
import Testing

/// Realistic calls against the real services: each scenario writes the lease history of its own number, sends the
/// sessions' web activity through the collect endpoint, places the call through a carrier webhook and checks the
/// ranking and the reasons an agent reads.
@Suite(.timeLimit(.minutes(2)))
struct CallScenarioTests {
    struct Visit {
        var session: String
        var leaseFrom: Date
        var leaseUntil: Date
        var region: String? = nil
        var events: [[String: Any]] = []
    }

    let stack: TestStack
    let run = UUID().uuidString.prefix(6).lowercased()

    init() async throws {
        stack = try await TestStack.shared()
    }

    /// Writes the visits' leases of `number` and their events, as the number-pool and the web tier would have.
    func prepare(_ number: String, _ visits: [Visit]) async throws {
        for visit in visits {
            let from = Int64(visit.leaseFrom.timeIntervalSince1970 * 1000)
            let until = Int64(visit.leaseUntil.timeIntervalSince1970 * 1000)
            try await stack.redis.command(
                "ZADD", "\(stack.keyPrefix){acme:scenarios}:hist:\(number)", String(until),
                "\(visit.session)|v-\(visit.session)|\(from)")
            var page: [String: Any] = [
                "type": "page", "messageId": "\(visit.session)-page", "anonymousId": "v-\(visit.session)",
                "sessionId": visit.session, "timestamp": Timestamp.format(visit.leaseFrom),
                "properties": ["url": "https://example.com/pricing"],
            ]
            if let region = visit.region {
                page["context"] = ["location": ["country": "US", "region": region]]
            }
            let batch = [page] + visit.events
            let response = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"),
                                               key: stack.keys["web"], json: ["batch": batch])
            #expect(response.json?["accepted"] as? Int == batch.count)
            try await waitForSession(stack, visit.session, events: batch.count)
        }
    }

    func call(_ number: String, from: String, id: String) async throws -> [String: Any] {
        let fields: [(String, String)] = [("CallSid", id), ("From", from), ("To", number), ("CallStatus", "ringing")]
        let response = try await stack.postTwilio("/v1/webhooks/twilio/acme", fields)
        #expect(response.status == 200)
        return try await waitForScreen(stack, id)
    }

    static func candidates(_ view: [String: Any]) -> [(session: String, reasons: [String], probability: Double)] {
        (view["candidates"] as? [[String: Any]] ?? []).map {
            ($0["sessionId"] as? String ?? "", $0["reasons"] as? [String] ?? [], $0["probability"] as? Double ?? 0)
        }
    }

    /// A call screened late, after the visitor's session id continued into a second visit, still ranks the visit
    /// under way when the phone rang.
    @Test func lateScreenedCallRanksVisitUnderWay() async throws {
        let number = TestStack.scenarioNumbers[12]
        let now = Date()
        let visit = Visit(session: "s-late-\(run)", leaseFrom: now - 3600, leaseUntil: now)
        try await prepare(number, [visit])
        // Fifty minutes later the same session id comes back: more than the 30-minute timeout, so a second visit.
        let again: [String: Any] = [
            "type": "page", "messageId": "\(visit.session)-again", "anonymousId": "v-\(visit.session)",
            "sessionId": visit.session, "timestamp": Timestamp.format(now - 600),
            "properties": ["url": "https://example.com/contact"],
        ]
        _ = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                json: ["batch": [again]])
        try await waitForSession(stack, "\(visit.session)~2", events: 1)

        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        let id = "CAlate\(run)"
        let fields: [(String, String)] = [("CallSid", id), ("From", "+17735550123"), ("To", number),
                                          ("CallStatus", "ringing"), ("Timestamp", formatter.string(from: now - 3300))]
        #expect(try await stack.postTwilio("/v1/webhooks/twilio/acme", fields).status == 200)
        let ranked = Self.candidates(try await waitForScreen(stack, id))
        #expect(ranked.map(\.session) == [visit.session])
    }

    @Test func callerAreaCodePicksOneOfTwoHolders() async throws {
        let number = TestStack.scenarioNumbers[0]
        let now = Date()
        let newYork = Visit(session: "s-ny-\(run)", leaseFrom: now - 900, leaseUntil: now - 600, region: "NY")
        let chicago = Visit(session: "s-chi-\(run)", leaseFrom: now - 590, leaseUntil: now - 290, region: "IL")
        try await prepare(number, [newYork, chicago])
        let view = try await call(number, from: "+12125550147", id: "CAarea\(run)")
        let ranked = Self.candidates(view)
        #expect(ranked.first?.session == newYork.session)
        #expect(ranked.first?.reasons.contains("caller's area (NY) matches the visitor's location") == true)
        #expect(ranked.last?.reasons.contains("caller's area (NY) differs from the visitor's (IL)") == true)
        #expect((view["match"] as? [String: Any]) == nil, "area alone is not enough to match without an agent")
    }

    @Test func callerNumberFromFormAnHourEarlierMatchesByNumber() async throws {
        let number = TestStack.scenarioNumbers[1]
        let now = Date()
        var filler = Visit(session: "s-form-\(run)", leaseFrom: now - 3900, leaseUntil: now - 3000)
        filler.events = [[
            "type": "identify", "messageId": "\(filler.session)-form", "anonymousId": "v-\(filler.session)",
            "sessionId": filler.session, "timestamp": Timestamp.format(now - 3600),
            "traits": ["phone": "+1 (312) 555-0188"],
        ]]
        let later = Visit(session: "s-later-\(run)", leaseFrom: now - 120, leaseUntil: now + 600)
        try await prepare(number, [filler, later])
        let view = try await call(number, from: "+13125550188", id: "CAform\(run)")
        let ranked = Self.candidates(view)
        #expect(ranked.first?.session == filler.session)
        #expect(ranked.first?.reasons.contains("caller number entered in a form") == true)
        let match = view["match"] as? [String: Any]
        #expect(match?["sessionId"] as? String == filler.session)
        #expect(match?["method"] as? String == "ani")
    }

    @Test func phoneLinkTapTwentySecondsBeforeCallMatchesAutomatically() async throws {
        let number = TestStack.scenarioNumbers[2]
        let now = Date()
        var tapper = Visit(session: "s-tap-\(run)", leaseFrom: now - 300, leaseUntil: now + 600)
        tapper.events = [[
            "type": "track", "event": "Phone Link Clicked", "messageId": "\(tapper.session)-tel",
            "anonymousId": "v-\(tapper.session)", "sessionId": tapper.session, "timestamp": Timestamp.format(now - 20),
        ]]
        let earlier = Visit(session: "s-early-\(run)", leaseFrom: now - 2400, leaseUntil: now - 1500)
        try await prepare(number, [tapper, earlier])
        let view = try await call(number, from: "+14155550100", id: "CAtap\(run)")
        let ranked = Self.candidates(view)
        #expect(ranked.first?.session == tapper.session)
        #expect(ranked.first?.reasons.contains { $0.hasPrefix("tapped the phone link 2") } == true)
        #expect(ranked.first?.reasons.contains("lease active at call time") == true)
        let match = view["match"] as? [String: Any]
        #expect(match?["method"] as? String == "auto")
        #expect(match?["sessionId"] as? String == tapper.session)
    }

    @Test func withheldCallerHasNoNumberAndNoNumberSignal() async throws {
        let number = TestStack.scenarioNumbers[3]
        let now = Date()
        let visit = Visit(session: "s-anon-\(run)", leaseFrom: now - 4000, leaseUntil: now - 3000)
        try await prepare(number, [visit])
        let view = try await call(number, from: "anonymous", id: "CAanon\(run)")
        #expect(view["from"] is NSNull)
        let ranked = Self.candidates(view)
        #expect(ranked.map(\.session) == [visit.session])
        #expect(ranked.first?.reasons.allSatisfy { !$0.contains("caller number") } == true)
        for placeholder in ["+266696687", "Restricted", "Unknown"] {
            let other = try await call(number, from: placeholder, id: "CAanon\(placeholder.count)\(run)")
            #expect(other["from"] is NSNull, "\(placeholder) must count as withheld")
        }
    }

    @Test func callThreeDaysLaterListsEveryHolderSince() async throws {
        let number = TestStack.scenarioNumbers[4]
        let now = Date()
        let day = 86_400.0
        var caller = Visit(session: "s-old-\(run)", leaseFrom: now - 3 * day - 900, leaseUntil: now - 3 * day)
        caller.events = [[
            "type": "identify", "messageId": "\(caller.session)-form", "anonymousId": "v-\(caller.session)",
            "sessionId": caller.session, "timestamp": Timestamp.format(now - 3 * day - 600),
            "traits": ["phone": "617-555-0123"],
        ]]
        let since = (0..<3).map {
            Visit(session: "s-since\($0)-\(run)", leaseFrom: now - Double(2 - $0) * day - 900,
                  leaseUntil: now - Double(2 - $0) * day - 100)
        }
        let outside = Visit(session: "s-outside-\(run)", leaseFrom: now - 9 * day, leaseUntil: now - 8 * day)
        try await prepare(number, [caller] + since + [outside])
        let view = try await call(number, from: "+16175550123", id: "CAlate\(run)")
        let ranked = Self.candidates(view)
        #expect(Set(ranked.map(\.session)) == Set([caller.session] + since.map(\.session)),
                "every session of the 7-day lookback, and none older")
        #expect(ranked.first?.session == caller.session)
        let probabilities = ranked.map(\.probability)
        #expect(probabilities.reduce(0, +) <= 1.0001)
        #expect(probabilities == probabilities.sorted(by: >))
    }

    @Test func duplicateAndOutOfOrderCallbacksAreHarmless() async throws {
        let number = TestStack.scenarioNumbers[5]
        let callId = "CAorder\(run)"
        let base: [(String, String)] = [("CallSid", callId), ("From", "+12065550111"), ("To", number)]
        let url = "/v1/webhooks/twilio/acme"
        #expect(try await stack.postTwilio(url, base + [("CallStatus", "ringing")]).status == 200)
        #expect(try await stack.postTwilio(url, base + [("CallStatus", "ringing")]).status == 200)
        let completed = base + [("CallStatus", "completed"), ("CallDuration", "42")]
        #expect(try await stack.postTwilio(url + "/status", completed).status == 200)
        #expect(try await stack.postTwilio(url + "/status", base + [("CallStatus", "in-progress")]).status == 200)
        #expect(try await stack.postTwilio(url + "/status", completed).status == 200)
        _ = try await waitForScreen(stack, callId)
        let deadline = ContinuousClock.now + .seconds(10)
        var view: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            view = try await HTTP.send("GET", stack.url("call-router", "/v1/calls/\(callId)"), key: stack.keys["agent"])
                .json ?? [:]
            if view["status"] as? String == "completed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(view["status"] as? String == "completed")
        #expect(view["durationSeconds"] as? Int == 42)
    }

    @Test func tamperedTwilioRequestsAreRejected() async throws {
        let number = TestStack.scenarioNumbers[6]
        let fields: [(String, String)] = [("CallSid", "CAtamper\(run)"), ("From", "+12065550112"), ("To", number),
                                          ("CallStatus", "ringing")]
        let url = stack.url("call-router", "/v1/webhooks/twilio/acme")
        let signature = TwilioSignature.compute(url: url, parameters: fields, authToken: stack.twilioToken)
        var changed = fields
        changed[1] = ("From", "+12065550113")
        let tampered = try await HTTP.send("POST", url, form: changed, headers: ["X-Twilio-Signature": signature])
        #expect(tampered.status == 403)
        let otherURL = TwilioSignature.compute(url: url + "/other", parameters: fields, authToken: stack.twilioToken)
        let wrongURL = try await HTTP.send("POST", url, form: fields, headers: ["X-Twilio-Signature": otherURL])
        #expect(wrongURL.status == 403)
        let good = try await HTTP.send("POST", url, form: fields, headers: ["X-Twilio-Signature": signature])
        #expect(good.status == 200)
    }

    @Test func telnyxEventsAreCheckedAndScreened() async throws {
        let number = TestStack.scenarioNumbers[7]
        let session = "v3:telnyx-\(run)"
        func post(_ type: String, id: String, extra: [String: Any] = [:], privateKey: [UInt8]) async throws -> Int {
            var payload: [String: Any] = ["call_session_id": session, "from": "+13035550140", "to": number,
                                          "direction": "incoming"]
            payload.merge(extra) { _, new in new }
            let body = try JSONSerialization.data(withJSONObject: [
                "data": ["event_type": type, "id": id, "occurred_at": Timestamp.format(Date()), "payload": payload,
                         "record_type": "event"] as [String: Any],
            ])
            let timestamp = String(Int(Date().timeIntervalSince1970))
            let signature = TelnyxSignature.sign(timestamp: timestamp, body: Array(body), privateKey: privateKey) ?? ""
            return try await HTTP.send("POST", stack.url("call-router", "/v1/webhooks/telnyx/acme"), body: body,
                                       headers: ["Content-Type": "application/json", "telnyx-timestamp": timestamp,
                                                 "telnyx-signature-ed25519": signature]).status
        }
        let stranger = Ed25519.makeKeyPair()
        #expect(try await post("call.initiated", id: "e-1-\(run)", privateKey: stranger.privateKey) == 403)
        #expect(try await post("call.initiated", id: "e-1-\(run)", privateKey: TestStack.telnyxKeys.privateKey) == 200)
        let start = Date()
        #expect(try await post("call.hangup", id: "e-2-\(run)",
                               extra: ["start_time": Timestamp.format(start), "end_time": Timestamp.format(start + 30)],
                               privateKey: TestStack.telnyxKeys.privateKey) == 200)
        let view = try await waitForScreen(stack, session)
        #expect(view["from"] as? String == "+13035550140")
    }

    @Test func genericWebhookNeedsCarrierKey() async throws {
        let number = TestStack.scenarioNumbers[8]
        let body: [String: Any] = ["callId": "CAgen\(run)", "to": number, "from": "+17025550100", "status": "started"]
        let url = stack.url("call-router", "/v1/webhooks/generic")
        #expect(try await HTTP.send("POST", url, key: stack.keys["web"], json: body).status == 403)
        #expect(try await HTTP.send("POST", url, json: body).status == 401)
        #expect(try await HTTP.send("POST", url, key: stack.keys["carrier"], json: body).status == 200)
        let invalid = try await HTTP.send("POST", url, key: stack.keys["carrier"],
                                          json: ["callId": "CAgen2", "to": "not a number", "status": "started"])
        #expect(invalid.status == 400)
        _ = try await waitForScreen(stack, "CAgen\(run)")
    }
}
