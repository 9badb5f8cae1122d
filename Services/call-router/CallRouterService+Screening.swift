import Foundation
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Store

extension CallRouterService {
    /// Consumes `calls.events`: records each event on its call and, the first time a call is seen, ranks its
    /// candidates, publishes the screen and, above the advertiser's thresholds, the automatic match.
    ///
    /// Every step is idempotent: events are de-duplicated by id, the screen and the automatic match carry ids
    /// derived from the call id, and a call is screened again only if the previous attempt did not finish.
    func runScreening() async {
        let consumer: KafkaConsumer
        do {
            consumer = try context.makeConsumer(purpose: "call-router", topics: [.callEvents])
        } catch {
            context.logger.critical("Consumer not started", metadata: ["error": "\(error)"])
            context.shutdown.request()
            return
        }
        await consumer.run(shutdown: context.shutdown, maxBatch: 100) { batch in
            try await withThrowingTaskGroup(of: Void.self) { group in
                // Calls are independent; the events of one call stay in order within its own task.
                for callBatch in Dictionary(grouping: batch, by: { $0.keyString ?? "" }).values {
                    group.addTask {
                        for message in callBatch.sorted(by: { $0.offset < $1.offset }) { try await handle(message) }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    private func handle(_ message: KafkaMessage) async throws {
        let event: CloudEvent<CallEvent>
        do {
            event = try CloudEvent<CallEvent>.decode(message.value ?? [], expectedTypes: EventType.callEventTypes)
        } catch {
            try await context.publisher.deadLetter(message, reason: error.reason, service: context.name)
            return
        }
        guard let advertiser = context.tenants.advertiser(event.advertiserid) else {
            try await context.publisher.deadLetter(message, reason: "unknown advertiser \"\(event.advertiserid.prefix(64))\"",
                                                   service: context.name)
            return
        }
        let call = event.data
        let occurred = Timestamp.parseMilliseconds(call.occurredAt) ?? 0
        let startedAt = call.status == .completed ? occurred - Int64(call.durationSeconds ?? 0) * 1000 : occurred
        let state = try await calls.apply(call, eventID: event.id, advertiser: advertiser, startedAt: startedAt)
        guard !state.isScreened, call.status != .failed || state.isNew else { return }

        try await screen(call, advertiser: advertiser, at: startedAt, receivedAt: message.timestampMilliseconds)
    }

    /// Ranks the sessions that held the called number around `time` and publishes the screen.
    private func screen(_ call: CallEvent, advertiser: Advertiser, at time: Int64, receivedAt: Int64?) async throws {
        let facts = try await candidateFacts(for: call, advertiser: advertiser, at: time)
        var knownVisitors: Set<String> = []
        if let from = call.from { knownVisitors = try await sessions.visitors(advertiser: advertiser.id, phone: from) }
        let ranked = Ranking.rank(
            call: CallFacts(callTime: time, callerNumber: call.from, callerLocation: call.callerLocation,
                            visitorsKnownByNumber: knownVisitors),
            candidates: facts,
            settings: advertiser.matching,
            thresholds: advertiser.autoMatch
        )
        let shown = Array(ranked.candidates.prefix(advertiser.matching.maxCandidates))
        // The screen shows the last 20 pages; reading the most recent events is enough for them.
        let details = try await sessions.records(
            advertiser: advertiser.id,
            sessions: shown.prefix(Self.detailedCandidates).map(\.facts.sessionId),
            recentEvents: 60
        )
        let candidates = shown.map { candidate in
            Candidate(
                sessionId: candidate.facts.sessionId,
                visitorId: candidate.facts.visitorId,
                probability: (candidate.probability * 10_000).rounded() / 10_000,
                score: (candidate.score * 1000).rounded() / 1000,
                reasons: candidate.reasons,
                session: details[candidate.facts.sessionId].map(Self.details)
            )
        }
        let screen = CallScreen(callId: call.callId, to: call.to, from: call.from,
                                startedAt: Timestamp.format(milliseconds: time), candidates: candidates,
                                omittedCandidates: ranked.candidates.count - shown.count)
        // Encoded once: the same bytes go to calls.screens and into the call's record.
        let screenEvent = context.publisher.event(type: EventType.callScreen, advertiserID: advertiser.id,
                                                  subject: call.callId, data: screen, id: "screen:\(call.callId)")
        let screenBytes = screenEvent.encoded()
        try await context.publisher.publish(encoded: screenBytes, on: .callScreens, key: call.callId)
        if let receivedAt {
            let latency = Double(Int64(Date().timeIntervalSince1970 * 1000) - receivedAt) / 1000
            Metrics.shared.observe("ringtrail_call_screen_latency_seconds", latency)
        }

        var automatic: CallMatch?
        if let (top, method) = ranked.automaticMatch {
            automatic = CallMatch(callId: call.callId, sessionId: top.facts.sessionId, visitorId: top.facts.visitorId,
                                  method: method, probability: (top.probability * 10_000).rounded() / 10_000,
                                  agentId: nil, decidedAt: Timestamp.format(milliseconds: time))
        }
        if let automatic {
            try await context.publisher.publish(.callMatches, key: call.callId, type: EventType.callMatched,
                                                advertiserID: advertiser.id, subject: call.callId, data: automatic,
                                                id: "match:auto:\(call.callId)")
            Metrics.shared.increment("ringtrail_call_matches_total", labels: ["method": automatic.method.rawValue])
            // A confident match teaches the caller-number index too, as an agent's confirmation does.
            if let from = call.from, let visitor = automatic.visitorId {
                try await sessions.rememberCaller(advertiser: advertiser, phone: from, visitor: visitor)
            }
        }
        try await calls.storeScreen(advertiser: advertiser.id, callId: call.callId, screenEvent: screenBytes,
                                    automaticMatch: automatic)
        context.logger.debug("Call screened", metadata: [
            "call": call.callId, "candidates": "\(candidates.count)",
            "automatic": automatic?.method.rawValue ?? "none",
        ])
    }

    /// The sessions whose lease on the called number overlapped the lookback window before `time`.
    private func candidateFacts(for call: CallEvent, advertiser: Advertiser, at time: Int64) async throws
        -> [CandidateFacts]
    {
        guard let pool = advertiser.pool(owning: call.to) else { return [] }

        let since = time - Int64(advertiser.lookbackSeconds * 1000)
        let leases = try await leases.history(advertiser: advertiser.id, pool: pool.id, number: call.to, since: since)
            .filter { $0.from <= time }
        // A session may have held the number more than once; rank it once, with its latest lease.
        var latest: [String: LeaseRecord] = [:]
        for lease in leases where (latest[lease.sessionId]?.from ?? .min) < lease.from {
            latest[lease.sessionId] = lease
        }
        return try await sessions.candidateFacts(advertiser: advertiser.id, leases: Array(latest.values), at: time)
            .map { facts in
                var facts = facts
                facts.phoneClicks = facts.phoneClicks.filter { $0 <= time }
                if let last = facts.lastActiveAt, last > time { facts.lastActiveAt = time }
                return facts
            }
    }

    static func details(_ record: SessionRecord) -> SessionDetails {
        SessionDetails(
            landingPage: record.landingPage,
            referrer: record.referrer,
            campaign: record.campaign,
            clickIds: record.clickIds.isEmpty ? nil : record.clickIds,
            pages: Array(record.pages.suffix(20)),
            lastActiveAt: record.lastActiveAt,
            location: record.location,
            device: record.device
        )
    }
}
