import Foundation
import KafkaKit
import Model
import ServiceKit

/// The figures of a replay, read back from the services' topics and APIs and scored against the driver's truth.
struct ReplayReport: Codable {
    struct Leases: Codable {
        var granted: Int
        var renewed: Int
        var recycled: Int
        var fallback: Int
    }

    struct Percentiles: Codable {
        var p50: Double
        var p99: Double
    }

    var requests: Int
    var sessions: Int
    var humanSessions: Int
    var botSessions: Int
    var poolSize: Int
    var leases: Leases
    var calls: Int
    /// Planned calls not placed because the session was never shown a number.
    var callsSkipped: Int
    var callsWithinLookback: Int
    var trueSessionInCandidates: Int
    var meanCandidates: Double
    var autoMatched: Int
    var autoMatchedCorrect: Int
    var agentMatched: Int
    var agentMatchedCorrect: Int
    var unmatched: Int
    var unmatchedCorrect: Int
    var attributionsPublished: Int
    var matchedCallsWithAttribution: Int
    var correctlyAttributed: Int
    var classicLastHolderCorrect: Int
    var classicPoolNeeded: Int
    var classicReservationSeconds: Double
    var webhookToScreenMs: Percentiles
    var deadletters: Int
    var driverErrors: [String: Int]
    var speed: Double
    var seed: UInt64

    /// Reads the topics from the beginning until they stay quiet, then computes the report.
    static func collect(driver: ReplayDriver) async throws -> ReplayReport {
        let messages = try await readTopics(expectedCalls: await driver.ledger.placedCalls.count)
        let ledger = driver.ledger
        let placed = await ledger.placedCalls
        let calledNumber = await ledger.calledNumber
        let postedAt = await ledger.webhookPostedAt
        let sessions = driver.sessions
        let settings = driver.settings

        var screens: [String: (CloudEvent<CallScreen>, Int64)] = [:]
        var matches: [String: CallMatch] = [:]
        var attributions: [String: Attribution] = [:]
        var attributionCount = 0
        var leaseStarts: [String: [(Int64, String)]] = [:]
        var deadletters = 0
        for message in messages {
            let value = message.value ?? []
            switch message.topic.split(separator: ".").suffix(2).joined(separator: ".") {
            case "calls.screens":
                if let event = try? CloudEvent<CallScreen>.decode(value) {
                    screens[event.data.callId] = (event, message.timestampMilliseconds ?? 0)
                }
            case "calls.matches":
                if let event = try? CloudEvent<CallMatch>.decode(value) {
                    let match = event.data
                    if let known = matches[match.callId], known.decidedAt > match.decidedAt { continue }
                    matches[match.callId] = match
                }
            case "number.leases":
                if let event = try? CloudEvent<LeaseEvent>.decode(value), event.data.status != .renewed,
                    let from = Timestamp.parseMilliseconds(event.data.from)
                {
                    leaseStarts[event.data.number, default: []].append((from, event.data.sessionId))
                }
            default:
                if message.topic.hasSuffix("attributions"), let event = try? CloudEvent<Attribution>.decode(value) {
                    attributionCount += 1
                    attributions[event.data.callId] = event.data
                } else if message.topic.hasSuffix("deadletter") {
                    deadletters += 1
                }
            }
        }

        var report = ReplayReport.empty(driver: driver)
        report.attributionsPublished = attributionCount
        report.deadletters = deadletters
        report.driverErrors = await ledger.httpErrors
        report.callsSkipped = await ledger.skippedCalls
        report.leases = try await poolLeases(driver: driver)
        var latencies: [Double] = []
        var candidateCounts: [Int] = []
        let lookbackMs = Int64(settings.lookbackSeconds * 1000)
        for (callId, call) in placed {
            report.calls += 1
            let truth = call.sessionIndex.map { sessions[$0].id }
            let screen = screens[callId]
            if let screen, let posted = postedAt[callId] { latencies.append(Double(screen.1 - posted)) }
            let candidates = screen?.0.data.candidates.map(\.sessionId) ?? []
            candidateCounts.append(candidates.count + (screen?.0.data.omittedCandidates ?? 0))
            let callWall = postedAt[callId] ?? 0
            if let truth, let number = calledNumber[callId],
                let start = leaseStarts[number]?.filter({ $0.1 == truth }).map(\.0).min(), callWall - start <= lookbackMs
            {
                report.callsWithinLookback += 1
                if candidates.contains(truth) { report.trueSessionInCandidates += 1 }
            }
            let match = matches[callId]
            switch match?.method {
            case .auto?, .ani?:
                report.autoMatched += 1
                if match?.sessionId == truth { report.autoMatchedCorrect += 1 }
            case .agent? where match?.sessionId != nil:
                report.agentMatched += 1
                if match?.sessionId == truth { report.agentMatchedCorrect += 1 }
            default:
                report.unmatched += 1
                if truth == nil { report.unmatchedCorrect += 1 }
            }
            if let match, match.sessionId != nil {
                if let attribution = attributions[callId], attribution.sessionId == match.sessionId {
                    report.matchedCallsWithAttribution += 1
                }
            }
            let final = attributions[callId].flatMap { $0.withdrawn ? nil : $0.sessionId }
            if final == truth, truth != nil { report.correctlyAttributed += 1 }
            if truth == nil, final == nil { report.correctlyAttributed += 1 }
            if let number = calledNumber[callId] {
                let lastHolder = leaseStarts[number]?.filter { $0.0 <= callWall }.max { $0.0 < $1.0 }?.1
                if lastHolder == truth { report.classicLastHolderCorrect += 1 }
            }
        }
        report.meanCandidates = candidateCounts.isEmpty ? 0
            : (Double(candidateCounts.reduce(0, +)) / Double(candidateCounts.count) * 100).rounded() / 100
        report.webhookToScreenMs = Percentiles(p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99))
        return report
    }

    static func empty(driver: ReplayDriver) -> ReplayReport {
        let human = driver.sessions.filter { !$0.isBot && !$0.pages.isEmpty }
        let reservation = 604_800.0
        return ReplayReport(
            requests: driver.requestCount, sessions: driver.sessions.filter { !$0.pages.isEmpty }.count,
            humanSessions: human.count, botSessions: driver.sessions.filter { $0.isBot && !$0.pages.isEmpty }.count,
            poolSize: driver.settings.numbers.count, leases: Leases(granted: 0, renewed: 0, recycled: 0, fallback: 0),
            calls: 0, callsSkipped: 0, callsWithinLookback: 0, trueSessionInCandidates: 0, meanCandidates: 0, autoMatched: 0,
            autoMatchedCorrect: 0, agentMatched: 0, agentMatchedCorrect: 0, unmatched: 0, unmatchedCorrect: 0,
            attributionsPublished: 0, matchedCallsWithAttribution: 0, correctlyAttributed: 0,
            classicLastHolderCorrect: 0,
            classicPoolNeeded: classicPool(human, reservationMs: Int64(reservation * 1000)),
            classicReservationSeconds: reservation, webhookToScreenMs: Percentiles(p50: 0, p99: 0), deadletters: 0,
            driverErrors: [:], speed: driver.settings.speed, seed: driver.settings.seed
        )
    }

    /// The most sessions whose numbers classic tracking would hold at once: each human session keeps its own
    /// number from its first page until `reservationMs` after its last, so that a call in that window is attributed.
    static func classicPool(_ sessions: [ReplaySession], reservationMs: Int64) -> Int {
        var edges: [(Int64, Int)] = []
        for session in sessions {
            edges.append((session.start, 1))
            edges.append((session.end + reservationMs, -1))
        }
        edges.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        var open = 0
        var peak = 0
        for edge in edges {
            open += edge.1
            peak = max(peak, open)
        }
        return peak
    }

    static func percentile(_ values: [Double], _ quantile: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let index = min(sorted.count - 1, Int((Double(sorted.count) * quantile).rounded(.up)) - 1)
        return sorted[max(0, index)]
    }

    static func poolLeases(driver: ReplayDriver) async throws -> Leases {
        let url = driver.options.numberPool + "/v1/pools/\(driver.settings.poolId)"
        let response = try await driver.client.send("GET", url, key: driver.settings.readKey)
        guard response.status == 200, let json = response.json() else {
            throw ReplayError("GET \(url) returned \(response.status)")
        }
        func value(_ name: String) -> Int { json[name] as? Int ?? 0 }
        return Leases(granted: value("granted"), renewed: value("renewed"), recycled: value("recycled"),
                      fallback: value("fallback"))
    }

    /// Consumes the output topics from the beginning in a group of its own until nothing new arrived for a few
    /// seconds and every placed call has its screen, or a minute passed.
    static func readTopics(expectedCalls: Int) async throws -> [KafkaMessage] {
        let configuration = try ServiceConfiguration(defaultPort: 0, arguments: [])
        let topics: [Topic] = [.numberLeases, .callScreens, .callMatches, .attributions, .deadletter]
        let consumer = try KafkaConsumer(
            brokers: configuration.kafkaBrokers,
            groupID: configuration.topicPrefix + "ringtrail.replay-report-\(UUID().uuidString.prefix(8))",
            topics: topics.map { $0.name(prefix: configuration.topicPrefix) },
            properties: configuration.kafkaProperties.merging(["enable.auto.commit": "false"]) { _, new in new },
            logger: Logger(label: "replay")
        )
        var messages: [KafkaMessage] = []
        var quietSince = ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let batch = await consumer.poll(maxCount: 5000, timeout: .milliseconds(200))
            if batch.isEmpty {
                let screens = messages.filter { $0.topic.hasSuffix("calls.screens") }.count
                if ContinuousClock.now - quietSince > .seconds(5), screens >= expectedCalls { break }
            } else {
                messages += batch
                quietSince = ContinuousClock.now
            }
        }
        await consumer.close()
        return messages
    }

    /// Prints the report and writes it as JSON to `directory`/report.json and .run/report.json.
    func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        try data.write(to: URL(fileURLWithPath: directory + "/report.json"))
        try FileManager.default.createDirectory(atPath: ".run", withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: ".run/report.json"))
        say(summary)
    }

    var summary: String {
        func share(_ part: Int, _ whole: Int) -> String {
            whole == 0 ? "-" : String(format: "%.1f%%", Double(part) / Double(whole) * 100)
        }
        return """

            Ringtrail replay report (speed \(speed), seed \(seed))
              traffic        \(requests) requests, \(sessions) sessions: \(humanSessions) human, \(botSessions) bots
              pool           \(poolSize) numbers; leases granted \(leases.granted), renewed \(leases.renewed), \
            recycled \(leases.recycled), fallback \(leases.fallback)
              classic DNI    would need \(classicPoolNeeded) numbers to hold each visitor's number for \
            \(Int(classicReservationSeconds / 86_400)) days after the visit
              calls          \(calls) placed (\(callsSkipped) skipped: no number shown), \(callsWithinLookback) within the lookback window; true session listed for \
            \(trueSessionInCandidates) (\(share(trueSessionInCandidates, callsWithinLookback))); \
            \(meanCandidates) candidates on average
              automatic      \(autoMatched) matched, \(autoMatchedCorrect) correct (\(share(autoMatchedCorrect, autoMatched)))
              agent          \(agentMatched) matched, \(agentMatchedCorrect) correct; \(unmatched) left unmatched \
            (\(unmatchedCorrect) of them callers who never visited)
              attributed     \(correctlyAttributed) of \(calls) calls correctly (\(share(correctlyAttributed, calls))); \
            the classic last-holder rule: \(classicLastHolderCorrect) (\(share(classicLastHolderCorrect, calls)))
              attributions   \(attributionsPublished) messages; \(matchedCallsWithAttribution) matched calls have one
              latency        webhook to screen p50 \(webhookToScreenMs.p50) ms, p99 \(webhookToScreenMs.p99) ms
              deadletters    \(deadletters); driver errors: \(driverErrors.isEmpty ? "none" : "\(driverErrors)")
              written to     .run/report.json

            """
    }
}
