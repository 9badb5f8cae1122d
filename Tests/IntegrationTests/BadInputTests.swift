import Foundation
import Model
import SecurityKit
import Testing

/// Every HTTP endpoint answers bad input with a 4xx and, where Ringtrail's handlers answer, the JSON error body
/// `{"error": code, "message": …}`, and the service serves the next good request.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct BadInputTests {
    /// One bad request and the answer it must get.
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var service: String
        var method: String
        var target: String
        var key: String?
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        var status: Int
        /// The `error` code of the JSON body; nil for answers libmicrohttpd sends itself, which have an HTML body.
        var code: String?

        var description: String { "\(service) \(method) \(target.prefix(60)): \(name)" }
    }

    static let oneMiB = 1 << 20
    static let run = String(UUID().uuidString.prefix(8).lowercased())

    /// A call that exists, so the match and outcome endpoints get as far as reading their bodies.
    static let callId = "CAbad\(run)"

    // MARK: - Bodies shared by every JSON endpoint

    /// Bodies that no JSON endpoint accepts, with the status and error code each must get. `field` is a field the
    /// endpoint reads, so a bad value in it cannot pass as an ignored unknown field.
    static func badJSONBodies(field: String) -> [(name: String, body: [UInt8], status: Int, code: String)] {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        return [
            ("malformed JSON", Array("{\"\(field)\": ".utf8), 400, "invalid_json"),
            ("empty body", [], 400, "invalid_json"),
            ("invalid UTF-8 in a field", Array("{\"\(field)\": \"".utf8) + [0xff, 0xfe, 0xc3] + Array("\"}".utf8),
             400, "invalid_json"),
            ("invalid UTF-8 in an unknown field", Array("{\"zz\": \"".utf8) + [0xc3, 0x28] + Array("\"}".utf8), 400,
             "invalid_json"),
            ("lone surrogate escape", Array("{\"\(field)\": \"\\ud800\"}".utf8), 400, "invalid_json"),
            ("array instead of object", Array("[1, 2, 3]".utf8), 400, "invalid_json"),
            ("deeply nested arrays", Array(("{\"\(field)\": " + deep + "}").utf8), 400, "invalid_json"),
            ("number with 400 digits", Array(("{\"\(field)\": 1" + String(repeating: "0", count: 400) + "}").utf8),
             400, "invalid_json"),
        ]
    }

    /// The JSON endpoints with the key that may call them; the Telnyx webhook is signed per body instead.
    static func jsonEndpoints(_ stack: TestStack) -> [(service: String, target: String, key: String?, field: String)] {
        [
            ("number-pool", "/v1/leases", stack.keys["web"], "pool"),
            ("activity-ingester", "/v1/collect", stack.keys["web"], "batch"),
            ("call-router", "/v1/webhooks/generic", stack.keys["carrier"], "callId"),
            ("call-router", "/v1/calls/\(callId)/match", stack.keys["agent"], "sessionId"),
            ("call-router", "/v1/calls/\(callId)/outcome", stack.keys["agent"], "disposition"),
            ("call-router", "/v1/webhooks/telnyx/acme", nil, "data"),
        ]
    }

    static func cases(_ stack: TestStack) -> [Case] {
        var cases: [Case] = []
        for endpoint in jsonEndpoints(stack) {
            func add(_ name: String, _ body: [UInt8], contentType: String = "application/json", _ status: Int,
                     _ code: String?) {
                var headers = [("Content-Type", contentType)]
                if endpoint.target.contains("telnyx") { headers += telnyxHeaders(body) }
                cases.append(Case(name: name, service: endpoint.service, method: "POST", target: endpoint.target,
                                  key: endpoint.key, headers: headers, body: body, status: status, code: code))
            }
            for bad in badJSONBodies(field: endpoint.field) {
                // Collect reads each event of its batch on its own: the nested array is one event, rejected
                // alone in a 200 response (checked in IngesterTests).
                if endpoint.target == "/v1/collect", bad.name == "deeply nested arrays" {
                    add(bad.name, bad.body, 200, nil)
                } else {
                    add(bad.name, bad.body, bad.status, bad.code)
                }
            }
            add("form content type", Array("pool=main".utf8), contentType: "application/x-www-form-urlencoded",
                415, "unsupported_media_type")
            add("text content type", Array("{}".utf8), contentType: "text/plain", 415, "unsupported_media_type")
            // libmicrohttpd reads and drops a body past the limit before the handler can answer.
            add("body over 1 MiB", Array(("{\"a\": \"" + String(repeating: "x", count: oneMiB) + "\"}").utf8),
                413, "payload_too_large")
        }
        cases += endpointCases(stack)
        cases += targetCases(stack)
        cases += headerCases(stack)
        return cases
    }

    /// Wrong types, missing fields and values that break a rule, endpoint by endpoint.
    static func endpointCases(_ stack: TestStack) -> [Case] {
        func json(_ name: String, _ service: String, _ target: String, _ key: String?, _ body: String,
                  _ status: Int, _ code: String) -> Case {
            Case(name: name, service: service, method: "POST", target: target, key: key,
                 headers: [("Content-Type", "application/json")], body: Array(body.utf8), status: status, code: code)
        }
        let web = stack.keys["web"], carrier = stack.keys["carrier"], agent = stack.keys["agent"]
        let match = "/v1/calls/\(callId)/match", outcome = "/v1/calls/\(callId)/outcome"
        let batch = (0...CollectBatch.maxEvents).map { _ in "{\"type\": \"page\"}" }.joined(separator: ",")
        return [
            json("missing pool", "number-pool", "/v1/leases", web, "{}", 400, "invalid_json"),
            json("pool of the wrong type", "number-pool", "/v1/leases", web, "{\"pool\": 5}", 400, "invalid_json"),
            json("unknown pool", "number-pool", "/v1/leases", web, "{\"pool\": \"nope\"}", 404, "not_found"),
            json("NUL in the pool id", "number-pool", "/v1/leases", web, "{\"pool\": \"ma\\u0000in\"}", 404,
                 "not_found"),
            json("session id with a path", "number-pool", "/v1/leases", web,
                 "{\"pool\": \"main\", \"sessionId\": \"../../etc/passwd\"}", 400, "invalid_request"),
            json("missing batch", "activity-ingester", "/v1/collect", web, "{}", 400, "invalid_json"),
            json("batch of the wrong type", "activity-ingester", "/v1/collect", web, "{\"batch\": \"page\"}", 400,
                 "invalid_json"),
            json("batch over the limit", "activity-ingester", "/v1/collect", web, "{\"batch\": [\(batch)]}", 400,
                 "invalid_request"),
            json("unparseable phone number", "call-router", "/v1/webhooks/generic", carrier,
                 "{\"callId\": \"CAx\", \"to\": \"call me maybe\", \"status\": \"started\"}", 400, "invalid_request"),
            json("unparseable timestamp", "call-router", "/v1/webhooks/generic", carrier,
                 "{\"callId\": \"CAx\", \"to\": \"+15555550101\", \"status\": \"started\", "
                     + "\"occurredAt\": \"2026-02-30T00:00:00Z\"}",
                 400, "invalid_request"),
            json("unknown status", "call-router", "/v1/webhooks/generic", carrier,
                 "{\"callId\": \"CAx\", \"to\": \"+15555550101\", \"status\": \"exploded\"}", 400, "invalid_json"),
            json("duration of the wrong type", "call-router", "/v1/webhooks/generic", carrier,
                 "{\"callId\": \"CAx\", \"to\": \"+15555550101\", \"status\": \"completed\", "
                     + "\"durationSeconds\": \"ten\"}",
                 400, "invalid_json"),
            json("negative duration", "call-router", "/v1/webhooks/generic", carrier,
                 "{\"callId\": \"CAx\", \"to\": \"+15555550101\", \"status\": \"completed\", \"durationSeconds\": -5}",
                 400, "invalid_request"),
            json("call id with a path", "call-router", "/v1/webhooks/generic", carrier,
                 "{\"callId\": \"../CAx\", \"to\": \"+15555550101\", \"status\": \"started\"}", 400, "invalid_request"),
            json("missing session id", "call-router", match, agent, "{\"agentId\": \"a-7\"}", 400, "invalid_request"),
            json("session id of the wrong type", "call-router", match, agent, "{\"sessionId\": 5}", 400,
                 "invalid_json"),
            json("session not a candidate", "call-router", match, agent, "{\"sessionId\": \"s-nobody\"}", 422,
                 "not_a_candidate"),
            json("missing disposition", "call-router", outcome, agent, "{\"revenue\": 5}", 400, "invalid_json"),
            json("unknown disposition", "call-router", outcome, agent, "{\"disposition\": \"maybe\"}", 422,
                 "invalid_outcome"),
            json("revenue too large to sum", "call-router", outcome, agent,
                 "{\"disposition\": \"sale\", \"revenue\": 1.7e308, \"currency\": \"USD\"}", 422, "invalid_outcome"),
            json("revenue of the wrong type", "call-router", outcome, agent,
                 "{\"disposition\": \"sale\", \"revenue\": \"lots\", \"currency\": \"USD\"}", 400, "invalid_json"),
            json("negative revenue", "call-router", outcome, agent,
                 "{\"disposition\": \"sale\", \"revenue\": -1, \"currency\": \"USD\"}", 422, "invalid_outcome"),
            json("currency not ISO 4217", "call-router", outcome, agent,
                 "{\"disposition\": \"sale\", \"revenue\": 1, \"currency\": \"dollars\"}", 422, "invalid_outcome"),
            twilio("invalid percent-encoding", Array("CallSid=CA1&To=%2G1555".utf8), 400, "invalid_form"),
            twilio("invalid UTF-8", Array("CallSid=CA1&FromCity=".utf8) + [0xff, 0xfe], 400, "invalid_form"),
            twilio("escape decoding to invalid UTF-8", Array("CallSid=CA1&FromCity=%FF%FE".utf8), 400,
                   "invalid_form"),
            twilio("JSON content type", Array("{}".utf8), contentType: "application/json", 415,
                   "unsupported_media_type"),
            twilio("unsigned", Array("CallSid=CA1&To=%2B15555550101".utf8), 403, "forbidden"),
            twilio("body over 1 MiB", Array(("CallSid=" + String(repeating: "x", count: oneMiB)).utf8), 413,
                   "payload_too_large"),
            Case(name: "telnyx unsigned", service: "call-router", method: "POST", target: "/v1/webhooks/telnyx/acme",
                 headers: [("Content-Type", "application/json")], body: Array("{}".utf8), status: 403,
                 code: "forbidden"),
            Case(name: "unparseable from", service: "attribution-worker", method: "GET",
                 target: "/v1/reports/campaigns?from=yesterday&to=2026-05-18T00:00:00.000Z", key: stack.keys["read"],
                 status: 400, code: "invalid_request"),
            Case(name: "unparseable since", service: "number-pool", method: "GET",
                 target: "/v1/numbers/%2B15555550100/history?since=2026-13-01T00:00:00Z", key: stack.keys["read"],
                 status: 400, code: "invalid_request"),
            Case(name: "export with from after to", service: "attribution-worker", method: "GET",
                 target: "/v1/exports/google-ads/click-conversions.csv"
                     + "?from=2026-05-18T00:00:00Z&to=2026-05-17T00:00:00Z",
                 key: stack.keys["read"], status: 400, code: "invalid_request"),
        ]
    }

    static func twilio(_ name: String, _ body: [UInt8], contentType: String = "application/x-www-form-urlencoded",
                       _ status: Int, _ code: String) -> Case {
        Case(name: name, service: "call-router", method: "POST", target: "/v1/webhooks/twilio/acme",
             headers: [("Content-Type", contentType)], body: body, status: status, code: code)
    }

    /// Path traversal, percent-encoded junk and oversized targets, on every service.
    static func targetCases(_ stack: TestStack) -> [Case] {
        var cases: [Case] = []
        let read = stack.keys["read"]
        for service in ["number-pool", "activity-ingester", "call-router", "attribution-worker"] {
            cases += [
                Case(name: "dot segments", service: service, method: "GET", target: "/v1/../healthz", key: read,
                     status: 404, code: "not_found"),
                Case(name: "invalid percent-encoding", service: service, method: "GET", target: "/v1/%zz/x",
                     key: read, status: 400, code: "invalid_request"),
                Case(name: "escape decoding to invalid UTF-8", service: service, method: "GET", target: "/v1/%C3%28",
                     key: read, status: 400, code: "invalid_request"),
                Case(name: "invalid query encoding", service: service, method: "GET", target: "/healthz?a=%G0",
                     key: read, status: 400, code: "invalid_request"),
                Case(name: "encoded NUL", service: service, method: "GET", target: "/v1/%00", key: read,
                     status: 404, code: "not_found"),
                Case(name: "4000 path segments", service: service, method: "GET",
                     target: String(repeating: "/a", count: 4000), key: read, status: 404, code: "not_found"),
                // The request line does not fit the 32 KiB each connection gets.
                Case(name: "URL of 40 KiB", service: service, method: "GET",
                     target: "/healthz?q=" + String(repeating: "a", count: 40 * 1024), key: read, status: 414,
                     code: nil),
                Case(name: "unknown method", service: service, method: "BREW", target: "/healthz", key: read,
                     status: 405, code: "method_not_allowed"),
            ]
        }
        cases += [
            Case(name: "encoded traversal in an id", service: "activity-ingester", method: "GET",
                 target: "/v1/sessions/..%2F..%2Fetc%2Fpasswd", key: read, status: 404, code: "not_found"),
            Case(name: "encoded traversal in a number", service: "number-pool", method: "GET",
                 target: "/v1/numbers/..%2F%2B15555550100/history", key: read, status: 404, code: "not_found"),
            Case(name: "encoded slash in a phone to erase", service: "attribution-worker", method: "DELETE",
                 target: "/v1/phones/%2F%2E%2E", key: stack.keys["admin"], status: 400, code: "invalid_request"),
        ]
        return cases
    }

    /// Repeated, oversized and invalid headers.
    static func headerCases(_ stack: TestStack) -> [Case] {
        let poolTarget = "/v1/pools/main"
        return [
            Case(name: "two Authorization headers", service: "number-pool", method: "GET", target: poolTarget,
                 headers: [("Authorization", "Bearer \(stack.keys["read"]!)"), ("Authorization", "Bearer rt_other")],
                 status: 401, code: "unauthorized"),
            // Some proxies add an empty X-Api-Key; the Bearer key next to it still counts.
            Case(name: "empty X-Api-Key next to a Bearer key", service: "number-pool", method: "GET",
                 target: poolTarget,
                 headers: [("X-Api-Key", ""), ("Authorization", "Bearer \(stack.keys["read"]!)")], status: 200,
                 code: nil),
            Case(name: "key sent with the Basic scheme", service: "number-pool", method: "GET", target: poolTarget,
                 headers: [("Authorization", "Basic \(stack.keys["read"]!)")], status: 401, code: "unauthorized"),
            Case(name: "key with non-ASCII bytes", service: "number-pool", method: "GET", target: poolTarget,
                 headers: [("X-Api-Key", "rt_\u{E9}\u{FFFD}")], status: 401, code: "unauthorized"),
            Case(name: "Authorization of 20 KiB", service: "number-pool", method: "GET", target: poolTarget,
                 headers: [("Authorization", "Bearer " + String(repeating: "k", count: 20 * 1024))], status: 401,
                 code: "unauthorized"),
            // The headers do not fit the 32 KiB each connection gets.
            Case(name: "header of 40 KiB", service: "number-pool", method: "GET", target: poolTarget,
                 key: stack.keys["read"], headers: [("X-Filler", String(repeating: "f", count: 40 * 1024))],
                 status: 431, code: nil),
            Case(name: "two different Content-Length headers", service: "activity-ingester", method: "POST",
                 target: "/v1/collect", key: stack.keys["web"],
                 headers: [("Content-Type", "application/json"), ("Content-Length", "2"), ("Content-Length", "9")],
                 body: Array("{}".utf8), status: 400, code: "invalid_request"),
            // A valid request under the first length, so only the framing check can reject it.
            Case(name: "Content-Length with Transfer-Encoding", service: "number-pool", method: "GET",
                 target: poolTarget, key: stack.keys["read"],
                 headers: [("Content-Length", "0"), ("Transfer-Encoding", "chunked")],
                 status: 400, code: "invalid_request"),
        ]
    }

    static func telnyxHeaders(_ body: [UInt8]) -> [(String, String)] {
        let timestamp = String(Int(Date().timeIntervalSince1970))
        let signature = TelnyxSignature.sign(timestamp: timestamp, body: body,
                                             privateKey: TestStack.telnyxKeys.privateKey) ?? ""
        return [("telnyx-timestamp", timestamp), ("telnyx-signature-ed25519", signature)]
    }

    // MARK: - Tests

    @Test func badRequestsGet4xxAndServiceServesNext() async throws {
        let stack = try await TestStack.shared()
        try await createCall(stack)

        for badCase in Self.cases(stack) {
            var headers = badCase.headers
            if let key = badCase.key { headers.append(("Authorization", "Bearer \(key)")) }
            var request = RawHTTP.request(badCase.method, badCase.target, headers: headers, body: badCase.body)
            if badCase.name == "two different Content-Length headers" {
                // `RawHTTP.request` adds its own Content-Length for a body; this case brings two of its own.
                request = Array(("POST \(badCase.target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    + headers.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n").utf8) + badCase.body
            }
            let response = try await RawHTTP.exchange(port: stack.ports[badCase.service]!, request)

            #expect(
                response.status == badCase.status,
                "\(badCase): got \(response.status) \(response.text.prefix(200))"
            )
            if let code = badCase.code {
                #expect(response.headers["content-type"]?.hasPrefix("application/json") == true, "\(badCase)")
                #expect(response.json?["error"] as? String == code, "\(badCase): \(response.text.prefix(200))")
                let message = response.json?["message"] as? String ?? ""
                #expect(!message.isEmpty, "\(badCase): no message")
            }
            try await expectGoodRequestServed(stack, service: badCase.service, after: badCase.description)
        }
    }

    @Test func signedTwilioFormWithBadFieldsGets400() async throws {
        let stack = try await TestStack.shared()
        let call = "CAtw\(Self.run)"
        let cases: [(name: String, fields: [(String, String)], message: String)] = [
            ("unparseable To", [("CallSid", call), ("To", "call me maybe"), ("From", "+17025550100")], "To"),
            ("missing To", [("CallSid", call), ("From", "+17025550100")], "To"),
            ("CallSid with a path", [("CallSid", "../\(call)"), ("To", TestStack.scenarioNumbers[11])], "CallSid"),
            ("CallDuration not a number", [("CallSid", call), ("To", TestStack.scenarioNumbers[11]),
                                           ("CallStatus", "completed"), ("CallDuration", "ten")], "CallDuration"),
        ]
        for (name, fields, message) in cases {
            let path = message == "CallDuration" ? "/v1/webhooks/twilio/acme/status" : "/v1/webhooks/twilio/acme"
            let response = try await stack.postTwilio(path, fields)
            #expect(response.status == 400, "\(name): \(response.text)")
            #expect(response.json?["error"] as? String == "invalid_request", "\(name)")
            #expect((response.json?["message"] as? String)?.contains(message) == true, "\(name): \(response.text)")
        }

        // An unparseable caller number is treated as withheld, not as an error.
        let withheld = try await stack.postTwilio("/v1/webhooks/twilio/acme",
                                                  [("CallSid", call), ("To", TestStack.scenarioNumbers[11]),
                                                   ("From", "not a number")])
        #expect(withheld.status == 200, "\(withheld.text)")
        let view = try await waitForScreen(stack, call)
        #expect(view["from"] is NSNull, "\(view)")
    }

    @Test func unknownFieldsAreIgnored() async throws {
        let stack = try await TestStack.shared()
        let lease = try await HTTP.send(
            "POST", stack.url("number-pool", "/v1/leases"), key: stack.keys["web"],
            json: ["pool": "main", "userAgent": "curl/8.0", "colour": "blue", "nested": ["a": [1, 2]]]
        )
        #expect(lease.status == 200, "\(lease.text)")
        #expect(lease.json?["status"] as? String == "fallback")

        let session = "s-unknown-\(Self.run)"
        var event = Self.goodEvent(session: session)
        event["shoeSize"] = 43
        let collect = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                          json: ["batch": [event], "extra": true])
        #expect(collect.status == 200, "\(collect.text)")
        #expect(collect.json?["accepted"] as? Int == 1)
    }

    @Test func badEventsOfABatchAreRejectedOneByOne() async throws {
        let stack = try await TestStack.shared()
        let session = "s-mixed-\(Self.run)"
        var badTime = Self.goodEvent(session: session, messageId: "m-time")
        badTime["timestamp"] = "17/05/2026 10:05"
        var badType = Self.goodEvent(session: session, messageId: "m-type")
        badType["type"] = "click"
        var wrongContext = Self.goodEvent(session: session, messageId: "m-context")
        wrongContext["context"] = ["location": "San Jose"]
        var badSession = Self.goodEvent(session: "../\(session)", messageId: "m-session")
        badSession["sessionId"] = "../\(session)"
        let batch: [Any] = [Self.goodEvent(session: session), badTime, badType, wrongContext, badSession, 42, NSNull()]

        let response = try await HTTP.send(
            "POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"], json: ["batch": batch]
        )
        #expect(response.status == 200, "\(response.text)")
        #expect(response.json?["accepted"] as? Int == 1)
        let rejected = response.json?["rejected"] as? [[String: Any]] ?? []
        #expect(rejected.map { $0["index"] as? Int } == [1, 2, 3, 4, 5, 6])
        for entry in rejected {
            let reason = entry["error"] as? String ?? ""
            #expect(!reason.isEmpty, "rejection without a reason: \(entry)")
        }
        #expect((rejected.first?["error"] as? String)?.contains("timestamp") == true, "\(rejected)")
        try await waitForSession(stack, session, events: 1)
    }

    @Test func slowBodyIsCutOff() async throws {
        let stack = try await TestStack.shared()
        let connection = try await RawHTTP.connect(port: stack.ports["activity-ingester"]!)
        let head = "POST /v1/collect HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(stack.keys["web"]!)\r\n"
            + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        #expect(try await connection.write(Array(head.utf8)))

        // The stack runs with a request timeout of 5 s; a byte a second never leaves the connection idle.
        let started = ContinuousClock.now
        var sent = 0
        while ContinuousClock.now - started < .seconds(30), try await connection.write([UInt8(ascii: " ")]) {
            sent += 1
            try await Task.sleep(for: .seconds(1))
        }
        let elapsed = ContinuousClock.now - started
        #expect(sent < 100, "the whole body was accepted at a byte a second")
        #expect(elapsed < .seconds(12), "the slow client was cut off only after \(elapsed)")
        #expect(try await connection.isClosedByServer())
        try await expectGoodRequestServed(stack, service: "activity-ingester", after: "slow body")
    }

    // MARK: - Fixtures

    static func goodEvent(session: String, messageId: String? = nil) -> [String: Any] {
        ["type": "page", "messageId": messageId ?? "m-\(session)", "sessionId": session, "anonymousId": "v-bad",
         "timestamp": Timestamp.format(Date()), "properties": ["url": "https://example.com/"]]
    }

    /// Creates the call the match and outcome cases post to, and waits until it is screened.
    func createCall(_ stack: TestStack) async throws {
        let response = try await HTTP.send(
            "POST", stack.url("call-router", "/v1/webhooks/generic"), key: stack.keys["carrier"],
            json: ["callId": Self.callId, "to": TestStack.scenarioNumbers[11], "from": "+17025550100",
                   "status": "started"]
        )
        #expect(response.status == 200, "\(response.text)")
        _ = try await waitForScreen(stack, Self.callId)
    }

    /// Sends a good request to `service` and expects it to succeed.
    func expectGoodRequestServed(_ stack: TestStack, service: String, after: String) async throws {
        let response: HTTP.Response
        switch service {
        case "number-pool":
            response = try await HTTP.send("GET", stack.url(service, "/v1/pools/main"), key: stack.keys["read"])
        case "activity-ingester":
            let session = "s-good-\(UUID().uuidString.prefix(8).lowercased())"
            response = try await HTTP.send("POST", stack.url(service, "/v1/collect"), key: stack.keys["web"],
                                           json: ["batch": [Self.goodEvent(session: session)]])
            #expect(response.json?["accepted"] as? Int == 1, "after \(after): \(response.text)")
        case "call-router":
            let url = stack.url(service, "/v1/calls/\(Self.callId)")
            response = try await HTTP.send("GET", url, key: stack.keys["agent"])
        default:
            response = try await HTTP.send(
                "GET", stack.url(service, "/v1/reports/campaigns?from=2026-05-17T00:00:00Z&to=2026-05-18T00:00:00Z"),
                key: stack.keys["read"]
            )
        }
        #expect(response.status == 200, "\(service) did not serve a good request after \(after): \(response.status)")
    }
}
