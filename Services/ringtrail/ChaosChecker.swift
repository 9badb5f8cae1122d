import Foundation
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Store

/// Reads topics from the beginning in a group of its own and keeps every message read so far.
final class TopicCatchUp {
    let consumer: KafkaConsumer
    private(set) var messages: [KafkaMessage] = []

    init(configuration: ServiceConfiguration, topics: [Topic]) throws {
        consumer = try KafkaConsumer(
            brokers: configuration.kafkaBrokers,
            groupID: configuration.topicPrefix + "ringtrail.chaos-check-\(UUID().uuidString.prefix(8))",
            topics: topics.map { $0.name(prefix: configuration.topicPrefix) },
            properties: configuration.kafkaProperties.merging(["enable.auto.commit": "false"]) { _, new in new },
            logger: Logger(label: "chaos-check")
        )
    }

    /// Polls until nothing new arrived for 3 seconds after the first message, or for 60 seconds in all.
    func catchUp() async {
        var quietSince: ContinuousClock.Instant? = messages.isEmpty ? nil : ContinuousClock.now
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let batch = await consumer.poll(maxCount: 5000, timeout: .milliseconds(200))
            messages += batch
            if !batch.isEmpty { quietSince = ContinuousClock.now }
            if let quietSince, ContinuousClock.now - quietSince > .seconds(3) { return }
        }
    }

    func close() async { await consumer.close() }
}

/// Compares the acknowledged traffic of a replay with the state in Redis and on the topics.
final class ChaosChecker {
    let settings: ReplaySettings
    let acknowledged: AcknowledgedTraffic
    let redis: RedisClient
    let keys: RedisKeys
    let reader: TopicCatchUp
    let topicPrefix: String
    /// Lines that explain the non-zero rows of the last evaluation, with session and call ids only.
    private(set) var details: [String] = []

    init(configuration: ServiceConfiguration, settings: ReplaySettings, acknowledged: AcknowledgedTraffic) throws {
        self.settings = settings
        self.acknowledged = acknowledged
        redis = try RedisClient(url: configuration.redisURL, connectionCount: 2, timeout: .seconds(10))
        keys = RedisKeys(prefix: configuration.keyPrefix)
        topicPrefix = configuration.topicPrefix
        reader = try TopicCatchUp(configuration: configuration, topics: [.numberLeases, .attributions, .deadletter])
    }

    private var advertiser: String { settings.advertiserId }

    func evaluate(faults: [String: Int]) async throws -> ChaosResult {
        details = []
        var result = ChaosResult(
            seed: settings.seed, faults: faults, sent: .init(), found: .init(), lost: 0, duplicateAttributions: 0,
            leaseViolations: 0, unexpectedDeadletters: 0
        )
        let attributions = latestAttributions()
        try await checkEvents(&result)
        try await checkCalls(&result, attributions: attributions)
        try await checkMatches(&result, attributions: attributions)
        try await checkOutcomes(&result, attributions: attributions)
        result.lost = (result.sent.events - result.found.events) + (result.sent.calls - result.found.calls)
            + (result.sent.matches - result.found.matches) + (result.sent.outcomes - result.found.outcomes)
        result.duplicateAttributions = try await duplicateAttributions()
        result.leaseViolations = try await leaseViolations()
        result.unexpectedDeadletters = unexpectedDeadletters()
        return result
    }

    /// Returns the last message on `attributions` per call. The topic is keyed by advertiser, so one partition
    /// contains a call's messages in order.
    private func latestAttributions() -> [String: Attribution] {
        var latest: [String: Attribution] = [:]
        for message in reader.messages where message.topic == Topic.attributions.name(prefix: topicPrefix) {
            if let event = try? CloudEvent<Attribution>.decode(message.value ?? []) {
                latest[event.data.callId] = event.data
            }
        }
        return latest
    }

    /// Runs one command per item in pipelines of 500 and returns the replies in order.
    private func replies(_ commands: [[String]]) async throws -> [RedisValue] {
        var all: [RedisValue] = []
        var start = 0
        while start < commands.count {
            let chunk = Array(commands[start..<min(start + 500, commands.count)])
            all += try await redis.pipelineOrThrow(chunk)
            start += chunk.count
        }
        return all
    }

    /// Counts events whose message id is in their session's de-duplication set, which the ingester's script
    /// fills in the same step that appends the event to the record.
    private func checkEvents(_ result: inout ChaosResult) async throws {
        let events = acknowledged.events
        result.sent.events = events.count
        let seen = try await replies(events.map {
            ["SISMEMBER", keys.sessionSeen(advertiser: advertiser, session: $0.sessionId), $0.messageId]
        })
        var missing: [String] = []
        for (event, reply) in zip(events, seen) {
            if reply.integer == 1 { result.found.events += 1 } else { missing.append(event.messageId) }
        }
        note("events not in their session record", missing)

        let sessions = Array(Set(events.map(\.sessionId))).sorted()
        let exists = try await replies(sessions.map { ["EXISTS", keys.session(advertiser: advertiser, session: $0)] })
        result.found.records = exists.filter { $0.integer == 1 }.count
    }

    /// Counts calls that the call-router screened and the attribution-worker lists.
    private func checkCalls(_ result: inout ChaosResult, attributions: [String: Attribution]) async throws {
        let calls = Array(Set(acknowledged.calls)).sorted()
        result.sent.calls = calls.count
        let screened = try await replies(calls.map { ["HGET", keys.call(advertiser: advertiser, call: $0), "screened"] })
        let listed = try await replies(calls.map { ["ZSCORE", keys.advertiserCalls(advertiser: advertiser), $0] })
        var missing: [String] = []
        for (index, call) in calls.enumerated() {
            if screened[index].string == "1", !listed[index].isNull {
                result.found.calls += 1
            } else {
                missing.append(call)
            }
            if attributions[call] != nil { result.found.attributions += 1 }
        }
        note("calls not screened or not joined", missing)
    }

    /// Counts agent decisions that both the latest attribution on the topic and the attribution-worker's state
    /// in Redis reflect: the confirmed session, or withdrawn for "none of these".
    private func checkMatches(_ result: inout ChaosResult, attributions: [String: Attribution]) async throws {
        var latest: [String: AcknowledgedTraffic.Match] = [:]
        for match in acknowledged.matches { latest[match.callId] = match }
        let matches = latest.values.sorted { $0.callId < $1.callId }
        result.sent.matches = matches.count
        let stored = try await replies(matches.map {
            ["HGET", keys.attribution(advertiser: advertiser, call: $0.callId), "sessionId"]
        })
        var missing: [String] = []
        for (match, reply) in zip(matches, stored) {
            let attribution = attributions[match.callId]
            let onTopic = attribution != nil && attribution?.sessionId == match.sessionId
                && attribution?.withdrawn == (match.sessionId == nil)
            let inRedis = reply.string == (match.sessionId ?? "")
            if onTopic, inRedis { result.found.matches += 1 } else { missing.append(match.callId) }
        }
        note("agent matches not reflected in the attribution", missing)
    }

    /// Counts outcomes that the attribution-worker's join state contains and, for a matched call, whose
    /// disposition the latest attribution on the topic carries.
    private func checkOutcomes(_ result: inout ChaosResult, attributions: [String: Attribution]) async throws {
        var latest: [String: AcknowledgedTraffic.Outcome] = [:]
        for outcome in acknowledged.outcomes { latest[outcome.callId] = outcome }
        let outcomes = latest.values.sorted { $0.callId < $1.callId }
        result.sent.outcomes = outcomes.count
        let stored = try await replies(outcomes.map {
            ["HMGET", keys.attribution(advertiser: advertiser, call: $0.callId), "outcome", "match"]
        })
        var missing: [String] = []
        for (outcome, reply) in zip(outcomes, stored) {
            let fields = reply.array ?? []
            let joined = fields.first?.string.flatMap {
                try? JSONDecoder().decode(CallOutcome.self, from: Data($0.utf8))
            }
            let isMatched = fields.count > 1 && !fields[1].isNull
            let published = !isMatched || attributions[outcome.callId]?.disposition == outcome.disposition
            if joined?.disposition == outcome.disposition, published {
                result.found.outcomes += 1
            } else {
                missing.append(outcome.callId)
            }
        }
        note("outcomes not joined or not published", missing)
    }

    /// Counts calls with more than one current attribution: listed under several sessions, or under a session
    /// other than the one the attribution-worker last published.
    private func duplicateAttributions() async throws -> Int {
        var sessionsByCall: [String: Set<String>] = [:]
        let pattern = keys.sessionCalls(advertiser: advertiser, session: "*")
        var cursor = "0"
        var listKeys: [String] = []
        repeat {
            let reply = try await redis.command("SCAN", cursor, "MATCH", pattern, "COUNT", "1000").array ?? []
            cursor = reply.first?.string ?? "0"
            listKeys += (reply.count > 1 ? reply[1].array ?? [] : []).compactMap(\.string)
        } while cursor != "0"
        let members = try await replies(listKeys.map { ["ZRANGE", $0, "0", "-1"] })
        let base = keys.sessionCalls(advertiser: advertiser, session: "")
        let sessionStart = base.firstIndex(of: "}").map { base.distance(from: base.startIndex, to: $0) } ?? 0
        for (key, reply) in zip(listKeys, members) {
            // The key is `<prefix>{<advertiser>:s:<session>}:calls`; the session sits where the empty one did.
            let session = String(key.dropFirst(sessionStart).dropLast(base.count - sessionStart))
            for call in (reply.array ?? []).compactMap(\.string) { sessionsByCall[call, default: []].insert(session) }
        }
        let calls = sessionsByCall.keys.sorted()
        let current = try await replies(calls.map {
            ["HGET", keys.attribution(advertiser: advertiser, call: $0), "sessionId"]
        })
        var duplicated: [String] = []
        for (call, reply) in zip(calls, current) {
            var sessions = sessionsByCall[call] ?? []
            if let session = reply.string, !session.isEmpty { sessions.insert(session) }
            if sessions.count > 1 { duplicated.append(call) }
        }
        note("calls with more than one current attribution", duplicated)
        return duplicated.count
    }

    struct Lease: Hashable {
        var number: String
        var session: String
        var from: Int64
    }

    /// Counts lease pairs of one number where the later lease began while the earlier one was live and was not
    /// `recycled`, from the `number.leases` topic and from each number's history in Redis.
    private func leaseViolations() async throws -> Int {
        var topicLeases: [Lease: (until: Int64, recycled: Bool)] = [:]
        for message in reader.messages where message.topic == Topic.numberLeases.name(prefix: topicPrefix) {
            guard let event = try? CloudEvent<LeaseEvent>.decode(message.value ?? []),
                let from = Timestamp.parseMilliseconds(event.data.from),
                let until = event.data.until.flatMap(Timestamp.parseMilliseconds)
            else { continue }
            let lease = Lease(number: event.data.number, session: event.data.sessionId, from: from)
            let known = topicLeases[lease]
            topicLeases[lease] = (max(known?.until ?? 0, until),
                                  (known?.recycled ?? false) || event.data.status == .recycled)
        }

        var historyLeases: [Lease: (until: Int64, recycled: Bool)] = [:]
        let histories = try await replies(settings.numbers.map {
            ["ZRANGE", keys.history(advertiser: advertiser, pool: settings.poolId, number: $0), "0", "-1", "WITHSCORES"]
        })
        for (number, reply) in zip(settings.numbers, histories) {
            let values = reply.array ?? []
            var index = 0
            while index + 1 < values.count {
                let parts = (values[index].string ?? "").split(separator: "|", omittingEmptySubsequences: false)
                // The grant script marks a recycled lease `|r` in the same step that writes it, so the history says
                // so even when the lease's event never reached the topic (the service died before publishing it).
                if parts.count == 3 || parts.count == 4, let from = Int64(parts[2]),
                    let until = values[index + 1].double
                {
                    let lease = Lease(number: number, session: String(parts[0]), from: from)
                    let marked = parts.count == 4 && parts[3] == "r"
                    historyLeases[lease] = (Int64(until), marked || (topicLeases[lease]?.recycled ?? false))
                }
                index += 2
            }
        }
        let found = Set(Self.violations(topicLeases)).union(Self.violations(historyLeases)).sorted()
        note("lease pairs that overlapped without recycling", found)
        return found.count
    }

    static func violations(_ leases: [Lease: (until: Int64, recycled: Bool)]) -> [String] {
        var found: [String] = []
        for (number, group) in Dictionary(grouping: leases.keys, by: \.number) {
            let ordered = group.sorted { $0.from < $1.from }
            for (index, later) in ordered.enumerated() where !(leases[later]?.recycled ?? false) {
                for earlier in ordered[..<index] where earlier.session != later.session {
                    if let until = leases[earlier]?.until, until > later.from {
                        found.append("\(number): \(later.session) from \(later.from) while \(earlier.session) "
                                     + "held it until \(until)")
                    }
                }
            }
        }
        return found
    }

    private func unexpectedDeadletters() -> Int {
        // Grouped by service and original topic; the reasons may quote message content, so they stay on the topic.
        var sources: [String: Int] = [:]
        for message in reader.messages where message.topic == Topic.deadletter.name(prefix: topicPrefix) {
            let letter = try? CloudEvent<DeadLetter>.decode(message.value ?? [])
            sources["from \(letter?.data.service ?? "?") on \(letter?.data.topic ?? "?")", default: 0] += 1
        }
        for (source, count) in sources.sorted(by: { $0.key < $1.key }) {
            details.append("\(count) deadletters \(source)")
        }
        return sources.values.reduce(0, +)
    }

    private func note(_ what: String, _ ids: [String]) {
        guard !ids.isEmpty else { return }

        details.append("\(ids.count) \(what), for example \(ids.prefix(5).joined(separator: ", "))")
    }
}
