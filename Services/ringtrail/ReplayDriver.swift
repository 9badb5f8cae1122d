import Foundation
import Model
import SecurityKit
import ServiceKit

/// The driver's log of a replay: numbers shown, webhook times and agent actions. The report takes its
/// figures from the services' topics and APIs and uses this only for the truth it scores them against.
actor ReplayLedger {
    var numberShown: [Int: String] = [:]
    var webhookPostedAt: [String: Int64] = [:]
    var placedCalls: [String: PlannedCall] = [:]
    var calledNumber: [String: String] = [:]
    var skippedCalls = 0
    var httpErrors: [String: Int] = [:]
    var acknowledged = AcknowledgedTraffic()

    func show(_ number: String, to session: Int) { numberShown[session] = number }

    func number(of session: Int) -> String? { numberShown[session] }

    func placed(_ call: PlannedCall, to number: String, at time: Int64) {
        placedCalls[call.callId] = call
        calledNumber[call.callId] = number
        webhookPostedAt[call.callId] = time
    }

    func skip() { skippedCalls += 1 }

    func error(_ what: String) { httpErrors[what, default: 0] += 1 }

    func acknowledge(event: AcknowledgedTraffic.Event) { acknowledged.events.append(event) }

    func acknowledge(call callId: String) { acknowledged.calls.append(callId) }

    func acknowledge(match: AcknowledgedTraffic.Match) { acknowledged.matches.append(match) }

    func acknowledge(outcome: AcknowledgedTraffic.Outcome) { acknowledged.outcomes.append(outcome) }
}

/// Runs one replay: schedules every session's requests and every call on the compressed clock, then reports.
struct ReplayDriver: Sendable {
    let options: ReplayCommand.Options
    let settings: ReplaySettings
    let client: ReplayClient
    let ledger = ReplayLedger()
    let sessions: [ReplaySession]
    let extras: [Int: SessionExtras]
    let calls: [PlannedCall]
    let requestCount: Int
    let simulationStart: Int64
    let site = "https://www.example.com"

    init(options: ReplayCommand.Options, settings: ReplaySettings) throws {
        self.options = options
        self.settings = settings
        client = ReplayClient(retryFor: .seconds(options.retrySeconds))
        let requests: [LogRequest]
        if let log = options.log {
            let summary = try AccessLog.read(path: log)
            guard !summary.requests.isEmpty else { throw ReplayError("no request in \(log) is in the combined format") }
            requests = summary.requests
            say("replay: \(requests.count) requests from \(log) (\(summary.skippedLines) lines not in the combined format)")
        } else {
            let parameters = GeneratedTraffic.Parameters(seed: settings.seed, visitors: options.visitors, days: options.days)
            requests = GeneratedTraffic.make(parameters, start: 1_747_476_000_000)
            say("replay: no log given, generated \(requests.count) requests: \(parameters.description)")
        }
        requestCount = requests.count
        var sessions = TrafficModel.sessionize(requests)
        var model = TrafficModel(parameters: .init(seed: settings.seed, callShare: options.callShare))
        model.decorate(&sessions, site: site)
        var extras: [Int: SessionExtras] = [:]
        calls = model.planCalls(sessions: sessions, extras: &extras)
        say("replay: model: \(model.parameters.description)")
        self.sessions = sessions
        self.extras = extras
        simulationStart = requests.first?.time ?? 0
    }

    /// Milliseconds of wall-clock time at which simulated time `time` is due.
    func wallTime(_ time: Int64, realStart: Int64) -> Int64 {
        realStart + Int64(Double(time - simulationStart) / settings.speed)
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func sleep(until wall: Int64) async {
        let delay = wall - now()
        if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
    }

    func run() async throws {
        let simulatedEnd = max(sessions.map(\.end).max() ?? 0, calls.map(\.time).max() ?? 0)
        let realDuration = Double(simulatedEnd - simulationStart) / settings.speed / 1000
        let withPages = sessions.filter { !$0.pages.isEmpty }
        let human = withPages.filter { !$0.isBot }.count
        say("replay: \(withPages.count) sessions with pages (\(human) human), \(calls.count) calls planned, "
            + "speed \(settings.speed): "
              + "about \(Int(realDuration)) s of wall-clock time")
        let realStart = Self.now() + 1000
        let progress = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(15))
                let elapsed = Double(Self.now() - realStart) / 1000
                say("replay: \(Int(elapsed)) s of \(Int(realDuration)) s")
            }
        }
        // A session's calls are placed by the session's own task after its pages, so a caller always dials a
        // number the web tier has already shown, however late the services answer under load.
        let callsBySession = Dictionary(grouping: calls.filter { $0.sessionIndex != nil }) { $0.sessionIndex! }
        await withTaskGroup(of: Void.self) { group in
            for session in sessions where !session.pages.isEmpty {
                let ownCalls = callsBySession[session.index] ?? []
                group.addTask {
                    await play(session, realStart: realStart)
                    for call in ownCalls.sorted(by: { $0.time < $1.time }) { await place(call, realStart: realStart) }
                }
            }
            for call in calls where call.sessionIndex == nil {
                group.addTask { await place(call, realStart: realStart) }
            }
        }
        progress.cancel()
        // Written before the report, which needs every service up, so a checker has it even if the report fails.
        try await ledger.acknowledged.write(directory: options.directory)
        say("replay: traffic done, reading back what the services published")
        let report = try await ReplayReport.collect(driver: self)
        try report.write(directory: options.directory)
    }

    // MARK: - Web tier

    private func play(_ session: ReplaySession, realStart: Int64) async {
        let extra = extras[session.index]
        for (position, page) in session.pages.enumerated() {
            await Self.sleep(until: wallTime(page.time, realStart: realStart))
            let url = position == 0 ? (session.landingURL ?? site + page.path) : site + page.path
            await requestNumber(session, page: url)
            await collect(pageEvent(session, url: url, referrer: position == 0 ? page.referrer : site + "/",
                                    position: position))
        }
        if let formAt = extra?.formFillAt, let phone = extra?.formPhone {
            await Self.sleep(until: wallTime(formAt, realStart: realStart))
            await collect(identifyEvent(session, phone: phone))
        }
        if let clickAt = extra?.phoneClickAt {
            await Self.sleep(until: wallTime(clickAt, realStart: realStart))
            await collect(phoneClickEvent(session))
        }
    }

    private func requestNumber(_ session: ReplaySession, page: String) async {
        let body: [String: Any] = [
            "pool": settings.poolId, "sessionId": session.id, "visitorId": session.visitorId,
            "userAgent": session.userAgent, "page": page,
        ]
        do {
            let response = try await client.send("POST", options.numberPool + "/v1/leases", key: settings.webKey,
                                                 json: body)
            guard response.status == 200, let number = response.json()?["number"] as? String else {
                await ledger.error("lease \(response.status)")
                return
            }
            if !session.isBot { await ledger.show(number, to: session.index) }
        } catch {
            await ledger.error("lease unreachable")
        }
    }

    private func baseEvent(_ session: ReplaySession, type: String, suffix: String) -> [String: Any] {
        [
            "type": type, "messageId": "\(session.id)-\(suffix)", "anonymousId": session.visitorId,
            "sessionId": session.id, "timestamp": Timestamp.format(Date()),
            "context": [
                "userAgent": session.userAgent,
                "location": ["country": "US", "region": session.location.region, "city": session.location.city],
            ] as [String: Any],
        ]
    }

    private func pageEvent(_ session: ReplaySession, url: String, referrer: String?, position: Int) -> [String: Any] {
        var event = baseEvent(session, type: "page", suffix: "p\(position)")
        var properties: [String: Any] = ["url": url, "title": CampaignParser.path(of: url)]
        if let referrer { properties["referrer"] = referrer }
        event["properties"] = properties
        return event
    }

    private func identifyEvent(_ session: ReplaySession, phone: String) -> [String: Any] {
        var event = baseEvent(session, type: "identify", suffix: "form")
        // Forms get numbers the way people type them: national format with punctuation.
        let digits = Array(phone.dropFirst(2))
        event["traits"] = ["phone": "(\(String(digits[0..<3]))) \(String(digits[3..<6]))-\(String(digits[6...]))"]
        return event
    }

    private func phoneClickEvent(_ session: ReplaySession) -> [String: Any] {
        var event = baseEvent(session, type: "track", suffix: "tel")
        event["event"] = "Phone Link Clicked"
        return event
    }

    private func collect(_ event: [String: Any]) async {
        do {
            let response = try await client.send("POST", options.ingester + "/v1/collect", key: settings.webKey,
                                                 json: ["batch": [event]])
            if response.status != 200 || (response.json()?["accepted"] as? Int) != 1 {
                await ledger.error("collect \(response.status)")
            } else if let session = event["sessionId"] as? String, let message = event["messageId"] as? String {
                await ledger.acknowledge(event: .init(sessionId: session, messageId: message))
            }
        } catch {
            await ledger.error("collect unreachable")
        }
    }
}
