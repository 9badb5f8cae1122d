import Foundation
import Model
import Testing

/// The dashboard page of the attribution-worker, rendered by headless Chromium against the shared stack and
/// compared with the campaign report API it reads.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DashboardTests {
    @Test func pageIsSelfContainedUnderStrictPolicy() async throws {
        let stack = try await TestStack.shared()
        let first = try await HTTP.send("GET", stack.url("attribution-worker", "/dashboard"))
        #expect(first.status == 200)
        #expect(first.headers["content-type"] == "text/html; charset=utf-8")
        #expect(first.headers["cache-control"] == "no-store")
        #expect(first.headers["referrer-policy"] == "no-referrer")

        let policy = try #require(first.headers["content-security-policy"])
        let directives = Dictionary(
            policy.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.map { directive in
                let parts = directive.split(separator: " ", maxSplits: 1).map(String.init)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            },
            uniquingKeysWith: { first, _ in first }
        )
        #expect(directives["default-src"] == "'none'")
        #expect(directives["connect-src"] == "'self'")
        #expect(directives["form-action"] == "'none'")
        #expect(!policy.contains("unsafe-inline"))
        #expect(!policy.contains("unsafe-eval"))
        let scriptSource = try #require(directives["script-src"])
        #expect(scriptSource.hasPrefix("'nonce-"))
        #expect(scriptSource.hasSuffix("'"))
        let nonce = String(scriptSource.dropFirst("'nonce-".count).dropLast())
        #expect(nonce.count >= 22)
        #expect(directives["style-src"] == scriptSource)
        #expect(first.text.contains("<script nonce=\"\(nonce)\">"))
        #expect(first.text.contains("<style nonce=\"\(nonce)\">"))

        let second = try await HTTP.send("GET", stack.url("attribution-worker", "/dashboard"))
        #expect(second.headers["content-security-policy"] != policy)

        let forbidden = ["src=\"http", "href=\"http", "src=\"//", "href=\"//", "@import", "url(", ".innerHTML"]
        for text in forbidden {
            #expect(!first.text.contains(text), "the page contains \(text)")
        }
    }

    @Test func tableAndChartMatchReportAPI() async throws {
        let stack = try await TestStack.shared()
        let chromium = try Chromium.executable()
        let run = UUID().uuidString.prefix(8).lowercased()
        // Markup characters in the name check that the page inserts it as text, not as HTML.
        let campaignName = "dash-\(run) <b>&\"x\"</b>"
        let campaignKey = "dashboard|cpc|\(campaignName)"
        try await makeAttributedCall(stack, run: run, campaignName: campaignName, revenue: 75.25)

        let today = Int64(Date().timeIntervalSince1970 * 1000) / 86_400_000 * 86_400_000
        let from = Timestamp.format(milliseconds: today - 6 * 86_400_000)
        let to = Timestamp.format(milliseconds: today + 86_400_000 - 1)
        let readKey = try #require(stack.keys["read"])
        let url = stack.url("attribution-worker", "/dashboard") + "#key=\(readKey)"

        let before = try await campaignReport(stack, from: from, to: to)
        let output = try await chromium.dumpDOM(url: url)
        let after = try await campaignReport(stack, from: from, to: to)
        let page = RenderedDashboard(html: output.standardOutput)

        #expect(output.problems.isEmpty, "console: \(output.problems)")

        #expect(page.state == "ready", "the page did not finish loading; error text: \(page.errorText ?? "none")")
        #expect(page.rangeFrom == from, "the default range starts 6 days before today")
        #expect(page.rangeTo == to, "the default range ends at the end of today")
        #expect(page.rowCount == page.rows.count, "the table has two rows for one campaign")

        // Another suite may add sessions or calls while the page loads, so only rows that the API returned alike
        // before and after the page load are compared.
        var comparedKeys: Set<String> = []
        // Rows with medium `volatile` belong to a suite that moves one call between campaigns and back within a
        // second, which can happen entirely between the two snapshots.
        for key in Set(before.rows.keys).union(after.rows.keys).union(page.rows.keys).sorted()
        where !key.contains("|volatile|") {
            guard before.rows[key] == after.rows[key] else { continue }

            guard let expected = before.rows[key] else {
                Issue.record("the page shows campaign \(key), which the report API does not return")
                continue
            }
            guard let cells = page.rows[key] else {
                Issue.record("the page is missing campaign \(key)")
                continue
            }
            checkRow(cells, against: expected, key: key)
            comparedKeys.insert(key)
        }
        #expect(comparedKeys.contains(campaignKey), "the test's own campaign was not compared")

        let ownRow = try #require(page.rows[campaignKey])
        #expect(ownRow.count == 6)
        #expect(ownRow.first == "dashboard")
        #expect(ownRow.dropFirst(2).first == campaignName)
        #expect(ownRow.dropFirst(3).first == "1")
        #expect(ownRow.dropFirst(4).first == "1")
        #expect(ownRow.last == "USD 75.25")
        #expect(!(page.rowHTML[campaignKey] ?? "").contains("<b>"), "the campaign name was inserted as markup")

        #expect(page.hasChart)
        #expect(page.days.count == 7)
        let expectedDays = (0..<7).map { offset in
            String(Timestamp.format(milliseconds: today - Int64(6 - offset) * 86_400_000).prefix(10))
        }
        #expect(page.days.map(\.day) == expectedDays)
        #expect(page.barCount == 7)
        #expect(page.pointCount == 7)
        #expect((page.days.last?.calls ?? 0) >= 1, "today's bar shows no matched call")
        #expect((page.days.last?.revenue ?? 0) >= 75.25, "today's point shows less revenue than the test's call")
        if before == after {
            #expect(page.days.map(\.calls).reduce(0, +) == before.rows.values.map(\.calls).reduce(0, +))
            #expect(page.days.map(\.unattributed).reduce(0, +) == before.unattributedCalls)
            let revenue = before.rows.values.compactMap { $0.revenue["USD"] }.reduce(0, +)
            #expect(abs(page.days.map(\.revenue).reduce(0, +) - revenue) < 0.01)
        }

        let screenshot = packageRoot.appendingPathComponent(".run/dashboard.png")
        let screenshotOutput = try await chromium.screenshot(url: url, to: screenshot)
        #expect(screenshotOutput.problems.isEmpty, "console: \(screenshotOutput.problems)")
        let png = try Data(contentsOf: screenshot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(screenshot.path) is not a PNG image")
        #expect(png.count > 10_000, "\(screenshot.path) is only \(png.count) bytes")
    }

    @Test func unknownKeyShowsRejection() async throws {
        let stack = try await TestStack.shared()
        let chromium = try Chromium.executable()
        let url = stack.url("attribution-worker", "/dashboard") + "#key=rt_unknownKeyOfNoAdvertiser0000000"
        let output = try await chromium.dumpDOM(url: url)
        let page = RenderedDashboard(html: output.standardOutput)
        #expect(output.problems.isEmpty, "console: \(output.problems)")
        #expect(page.state == "error")
        #expect(page.errorText?.contains("The report API rejected the key (401 unauthorized)") == true,
                "error text: \(page.errorText ?? "none")")
        #expect(page.rows.isEmpty)
        #expect(page.barCount == 0)

        let screenshot = packageRoot.appendingPathComponent(".run/dashboard-unknown-key.png")
        let screenshotOutput = try await chromium.screenshot(url: url, to: screenshot)
        #expect(screenshotOutput.problems.isEmpty, "console: \(screenshotOutput.problems)")
    }

    @Test func keyWithoutReadScopeShowsError() async throws {
        let stack = try await TestStack.shared()
        let chromium = try Chromium.executable()
        let webKey = try #require(stack.keys["web"])
        let url = stack.url("attribution-worker", "/dashboard") + "#key=\(webKey)"
        let output = try await chromium.dumpDOM(url: url)
        let page = RenderedDashboard(html: output.standardOutput)
        #expect(output.problems.isEmpty, "console: \(output.problems)")
        #expect(page.state == "error")
        #expect(page.errorText?.contains("The key lacks the read scope (403 forbidden)") == true,
                "error text: \(page.errorText ?? "none")")
        #expect(page.rows.isEmpty)
    }

    /// Checks the cells of one table row (source, medium, campaign, sessions, calls, revenue) against the API.
    private func checkRow(_ cells: [String], against expected: ReportRow, key: String) {
        guard cells.count == 6 else {
            Issue.record("campaign \(key) has \(cells.count) cells instead of 6: \(cells)")
            return
        }
        #expect(cells[0] == expected.source ?? "(none)", "source of \(key)")
        #expect(cells[1] == expected.medium ?? "(none)", "medium of \(key)")
        #expect(cells[2] == expected.name ?? "(none)", "campaign of \(key)")
        #expect(Int(cells[3].replacingOccurrences(of: ",", with: "")) == expected.sessions, "sessions of \(key)")
        #expect(Int(cells[4].replacingOccurrences(of: ",", with: "")) == expected.calls, "calls of \(key)")
        let revenue = RenderedDashboard.parseRevenue(cells[5])
        #expect(revenue.map { Set($0.keys) } == Set(expected.revenue.keys), "currencies of \(key): \(cells[5])")
        for (currency, amount) in expected.revenue {
            #expect(abs((revenue?[currency] ?? -1) - amount) < 0.005, "\(currency) revenue of \(key): \(cells[5])")
        }
    }
}

/// The package directory, where `.run/` keeps the screenshots.
private let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

// MARK: - Test data

/// Creates a session with campaign tags and a form phone, a call from that phone, its automatic match and a sale,
/// and waits until the campaign report shows the call's revenue.
private func makeAttributedCall(
    _ stack: TestStack,
    run: String,
    campaignName: String,
    revenue: Double
) async throws {
    let session = "s-dash-\(run)"
    let visitor = "v-dash-\(run)"
    let callId = "CAdash\(run)"
    let lease = try await HTTP.send("POST", stack.url("number-pool", "/v1/leases"), key: stack.keys["web"], json: [
        "pool": "main", "sessionId": session, "visitorId": visitor,
        "userAgent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0", "page": "https://example.com/offers",
    ])
    #expect(lease.status == 200)
    let number = try #require(lease.json?["number"] as? String)

    let now = Date()
    let batch: [[String: Any]] = [
        [
            "type": "page", "messageId": "\(session)-1", "anonymousId": visitor, "sessionId": session,
            "timestamp": Timestamp.format(now.addingTimeInterval(-90)),
            "properties": ["url": "https://example.com/offers?utm_source=dashboard&utm_medium=cpc", "title": "Offers"],
            "context": ["campaign": ["name": campaignName]] as [String: Any],
        ],
        [
            "type": "identify", "messageId": "\(session)-2", "anonymousId": visitor, "sessionId": session,
            "timestamp": Timestamp.format(now.addingTimeInterval(-60)), "traits": ["phone": "(646) 555-0183"],
        ],
        [
            "type": "track", "event": "Phone Link Clicked", "messageId": "\(session)-3", "anonymousId": visitor,
            "sessionId": session, "timestamp": Timestamp.format(now.addingTimeInterval(-20)),
        ],
    ]
    let collect = try await HTTP.send("POST", stack.url("activity-ingester", "/v1/collect"), key: stack.keys["web"],
                                      json: ["batch": batch])
    #expect(collect.status == 200)
    try await waitForSession(stack, session, events: 3)

    let fields: [(String, String)] = [
        ("CallSid", callId), ("From", "+16465550183"), ("To", number), ("CallStatus", "ringing"),
        ("Direction", "inbound"), ("AccountSid", "ACtest"),
    ]
    #expect(try await stack.postTwilio("/v1/webhooks/twilio/acme", fields).status == 200)
    try await waitForMatch(stack, callId: callId, session: session)

    let outcome = try await HTTP.send("POST", stack.url("call-router", "/v1/calls/\(callId)/outcome"),
                                      key: stack.keys["agent"],
                                      json: ["disposition": "sale", "revenue": revenue, "currency": "USD",
                                             "agentId": "a-9"])
    #expect(outcome.status == 200)
    let completed = fields.map { $0.0 == "CallStatus" ? ("CallStatus", "completed") : $0 } + [("CallDuration", "64")]
    #expect(try await stack.postTwilio("/v1/webhooks/twilio/acme/status", completed).status == 200)

    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        let report = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/reports/campaigns"),
                                         key: stack.keys["read"])
        let rows = report.json?["campaigns"] as? [[String: Any]] ?? []
        let row = rows.first { $0["name"] as? String == campaignName }
        if let row, row["calls"] as? Int == 1, (row["revenue"] as? [String: Double])?["USD"] == revenue { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw TestStackError("the campaign report did not show call \(callId) with its revenue within 30 s")
}

/// Waits until the call-router has matched `callId` to `session`, which the caller's form phone decides.
private func waitForMatch(_ stack: TestStack, callId: String, session: String) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    var call: [String: Any] = [:]
    while ContinuousClock.now < deadline {
        let response = try await HTTP.send("GET", stack.url("call-router", "/v1/calls/\(callId)"),
                                           key: stack.keys["agent"])
        call = response.json ?? [:]
        if (call["match"] as? [String: Any])?["sessionId"] as? String == session { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw TestStackError("call \(callId) was not matched to session \(session) within 20 s. Last state: \(call)")
}

/// One campaign of `GET /v1/reports/campaigns`.
struct ReportRow: Decodable, Equatable {
    var source: String?
    var medium: String?
    var name: String?
    var sessions: Int
    var calls: Int
    var revenue: [String: Double]
}

/// The campaign report keyed the way the page keys its rows: `source|medium|name`, with a missing value empty.
struct ReportSnapshot: Equatable {
    var rows: [String: ReportRow]
    var unattributedCalls: Int
}

private func campaignReport(_ stack: TestStack, from: String, to: String) async throws -> ReportSnapshot {
    struct Body: Decodable {
        var campaigns: [ReportRow]
        var unattributedCalls: Int
    }
    let query = "from=\(from)&to=\(to)"
    let response = try await HTTP.send("GET", stack.url("attribution-worker", "/v1/reports/campaigns?\(query)"),
                                       key: stack.keys["read"])
    guard response.status == 200 else {
        throw TestStackError("GET /v1/reports/campaigns?\(query) returned \(response.status): \(response.text)")
    }
    let body = try JSONDecoder().decode(Body.self, from: response.body)
    var rows: [String: ReportRow] = [:]
    for row in body.campaigns {
        rows["\(row.source ?? "")|\(row.medium ?? "")|\(row.name ?? "")"] = row
    }
    return ReportSnapshot(rows: rows, unattributedCalls: body.unattributedCalls)
}

// MARK: - Reading the rendered page

/// The parts of the dashboard that the tests check, read from the DOM that Chromium serialized.
struct RenderedDashboard {
    struct Day: Equatable {
        var day: String
        var calls: Int
        var unattributed: Int
        var revenue: Double
    }

    /// The `data-state` of `<body>`: `idle`, `loading`, `ready` or `error`.
    var state: String?
    var errorText: String?
    var rangeFrom: String?
    var rangeTo: String?
    /// The cell texts of each campaign row, keyed by its `data-campaign`.
    var rows: [String: [String]] = [:]
    /// The serialized cells of each campaign row, keyed by its `data-campaign`.
    var rowHTML: [String: String] = [:]
    var rowCount = 0
    var hasChart = false
    var days: [Day] = []
    var barCount = 0
    var pointCount = 0

    init(html: String) {
        state = html.firstMatch(of: #/<body data-state="([^"]*)"/#).map { String($0.1) }
        if let error = html.firstMatch(of: #/<p id="error"([^>]*)>(.*?)</p>/#.dotMatchesNewlines()),
            !error.1.contains("hidden")
        {
            errorText = Self.text(of: String(error.2))
        }
        if let table = html.firstMatch(of: #/<table id="campaigns"([^>]*)>/#) {
            rangeFrom = table.1.firstMatch(of: #/data-from="([^"]*)"/#).map { String($0.1) }
            rangeTo = table.1.firstMatch(of: #/data-to="([^"]*)"/#).map { String($0.1) }
        }
        for row in html.matches(of: #/<tr data-campaign="([^"]*)">(.*?)</tr>/#.dotMatchesNewlines()) {
            let key = Self.decodeEntities(String(row.1))
            rows[key] = row.2.matches(of: #/<td[^>]*>(.*?)</td>/#.dotMatchesNewlines()).map {
                Self.text(of: String($0.1))
            }
            rowHTML[key] = String(row.2)
            rowCount += 1
        }
        hasChart = html.contains("<svg id=\"chart\"")
        let dayPattern =
            #/<g class="day" data-day="([^"]+)" data-calls="(\d+)" data-unattributed="(\d+)" data-revenue="([0-9.]+)">/#
        for match in html.matches(of: dayPattern) {
            days.append(Day(day: String(match.1), calls: Int(match.2) ?? -1, unattributed: Int(match.3) ?? -1,
                            revenue: Double(match.4) ?? -1))
        }
        barCount = html.matches(of: #/<rect class="bar" /#).count
        pointCount = html.matches(of: #/<circle class="point" /#).count
    }

    /// Returns revenue by currency from a cell such as `USD 1,234.50 · EUR 20.00`, an empty map for the em dash
    /// of no revenue, or nil when the text has another form.
    static func parseRevenue(_ text: String) -> [String: Double]? {
        guard text != "—" else { return [:] }

        var revenue: [String: Double] = [:]
        for part in text.components(separatedBy: " · ") {
            let pieces = part.split(separator: " ", maxSplits: 1)
            guard pieces.count == 2, let amount = Double(pieces[1].replacingOccurrences(of: ",", with: "")) else {
                return nil
            }
            revenue[String(pieces[0])] = amount
        }
        return revenue
    }

    /// Returns the text of serialized HTML: tags removed, entities decoded, outer white space trimmed.
    static func text(of html: String) -> String {
        decodeEntities(html.replacing(#/<[^>]*>/#, with: "")).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Decodes the entities that Chromium writes when it serializes text and attribute values.
    static func decodeEntities(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"")
            .replacingOccurrences(of: "&nbsp;", with: "\u{00A0}")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

// MARK: - Headless Chromium

/// The `chromium` executable, run headless with a profile of its own that is removed afterwards.
struct Chromium {
    let path: String

    /// Finds `chromium` on the `PATH`.
    ///
    /// - Throws: `TestStackError` telling to run `make deps` when it is not installed.
    static func executable() throws -> Chromium {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for directory in directories {
            let candidate = "\(directory)/chromium"
            if FileManager.default.isExecutableFile(atPath: candidate) { return Chromium(path: candidate) }
        }
        throw TestStackError("chromium is not installed: run `make deps`, which installs the Debian package chromium")
    }

    /// The output of one Chromium run.
    struct Output {
        var standardOutput: String
        /// The page's console messages, including Content-Security-Policy violations and uncaught exceptions.
        var console: [String]

        /// Console messages that show a broken page: a blocked script or style, or an uncaught exception.
        var problems: [String] {
            console.filter { $0.contains("Content Security Policy") || $0.contains("Uncaught") }
        }
    }

    /// Loads `url`, runs its scripts for 5 s of virtual time and returns the serialized DOM on standard output.
    func dumpDOM(url: String) async throws -> Output {
        try await run(["--dump-dom", url])
    }

    /// Loads `url` in a 1280×900 window, runs its scripts for 5 s of virtual time and saves a PNG at `file`.
    func screenshot(url: String, to file: URL) async throws -> Output {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: file)
        let output = try await run(["--screenshot=\(file.path)", "--window-size=1280,900", url])
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw TestStackError("chromium wrote no screenshot at \(file.path)")
        }
        return output
    }

    /// Runs Chromium with `arguments` after the common flags.
    ///
    /// The common flags keep it off the network except loopback: background services are off and every host
    /// name except 127.0.0.1 resolves to nothing. Logging to standard error is on, because that is where
    /// headless Chromium writes the page's console messages.
    private func run(_ arguments: [String]) async throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ringtrail-chromium-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let output = directory.appendingPathComponent("stdout")
        let errors = directory.appendingPathComponent("stderr")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
            "--user-data-dir=\(directory.appendingPathComponent("profile").path)",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
            "--disable-domain-reliability", "--no-pings", "--metrics-recording-only",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--enable-logging=stderr", "--v=0",
        ] + arguments
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()

        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                process.terminate()
                throw TestStackError("chromium did not exit within 60 s")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw TestStackError("chromium exited with status \(process.terminationStatus): \(log.suffix(2000))")
        }
        return Output(
            standardOutput: try String(contentsOf: output, encoding: .utf8),
            console: log.split(separator: "\n").filter { $0.contains(":CONSOLE") }.map(String.init)
        )
    }
}
