import Foundation

/// Facts about the caller that the call itself carries.
public struct CallFacts: Sendable {
    public var callTime: Int64
    /// E.164, or nil when withheld.
    public var callerNumber: String?
    public var callerLocation: Location?
    /// Visitors the caller number is known for: from form fills and earlier confirmed calls.
    public var visitorsKnownByNumber: Set<String>

    public init(callTime: Int64, callerNumber: String?, callerLocation: Location?,
                visitorsKnownByNumber: Set<String> = []) {
        self.callTime = callTime
        self.callerNumber = callerNumber
        self.callerLocation = callerLocation
        self.visitorsKnownByNumber = visitorsKnownByNumber
    }
}

/// Stored facts about one session that held the called number. Times are milliseconds since the epoch.
public struct CandidateFacts: Sendable {
    public var sessionId: String
    public var visitorId: String?
    public var leaseFrom: Int64
    public var leaseUntil: Int64
    public var lastActiveAt: Int64?
    public var phoneClicks: [Int64]
    /// Phone numbers (E.164) the visitor entered in forms during this session.
    public var formPhones: Set<String>
    public var location: Location?
    public var device: String?

    public init(sessionId: String, visitorId: String?, leaseFrom: Int64, leaseUntil: Int64, lastActiveAt: Int64?,
                phoneClicks: [Int64] = [], formPhones: Set<String> = [], location: Location? = nil,
                device: String? = nil) {
        self.sessionId = sessionId
        self.visitorId = visitorId
        self.leaseFrom = leaseFrom
        self.leaseUntil = leaseUntil
        self.lastActiveAt = lastActiveAt
        self.phoneClicks = phoneClicks
        self.formPhones = formPhones
        self.location = location
        self.device = device
    }
}

/// One piece of evidence for or against a candidate: a log-odds weight and the reason an agent reads.
public struct Signal: Sendable, Equatable {
    public var weight: Double
    public var reason: String

    public init(_ weight: Double, _ reason: String) {
        self.weight = weight
        self.reason = reason
    }
}

/// A candidate with its combined score, probability and reasons, best first in `RankedCall.candidates`.
public struct RankedCandidate: Sendable {
    public var facts: CandidateFacts
    public var score: Double
    public var probability: Double
    public var reasons: [String]
    /// True when the caller number alone points at this candidate's visitor.
    public var identifiedByNumber: Bool
}

public struct RankedCall: Sendable {
    public var candidates: [RankedCandidate]
    /// The automatic decision, when the top candidate clears the advertiser's thresholds.
    public var automaticMatch: (candidate: RankedCandidate, method: CallMatch.Method)?
}

/// Ranks the sessions that held a called number, from independent signals that each explain themselves.
///
/// Each signal adds a log-odds weight; the scores become probabilities with a softmax that also includes one
/// "someone else" outcome of score 0, so a list with no evidence never looks certain.
public enum Ranking {
    /// Weight of the lease being held by the session when the call came in.
    static let leaseActiveWeight = 2.0
    /// Largest weight of recent activity, at zero delay; it decays exponentially over the recent-activity window.
    static let recencyWeight = 2.5
    static let phoneClickWeight = 5.0
    static let formPhoneWeight = 8.0
    static let knownVisitorWeight = 6.0
    static let areaAgreesWeight = 1.0
    static let areaDiffersWeight = -1.0

    /// Ranks `candidates` for `call` and decides whether to match automatically.
    public static func rank(
        call: CallFacts,
        candidates: [CandidateFacts],
        settings: MatchingSettings,
        thresholds: AutoMatch
    ) -> RankedCall {
        var ranked = candidates.map { facts -> RankedCandidate in
            let signals = signals(for: facts, call: call, settings: settings)
            let numberSignal = callerNumber(facts, call: call)
            return RankedCandidate(
                facts: facts,
                score: signals.reduce(0) { $0 + $1.weight },
                probability: 0,
                reasons: signals.map(\.reason),
                identifiedByNumber: numberSignal != nil
            )
        }
        let maxScore = ranked.map(\.score).max() ?? 0
        let shift = max(maxScore, 0)
        let noneMass = exp(-shift)
        let total = ranked.reduce(noneMass) { $0 + exp($1.score - shift) }
        for index in ranked.indices {
            ranked[index].probability = exp(ranked[index].score - shift) / total
        }
        ranked.sort { lhs, rhs in
            lhs.score != rhs.score ? lhs.score > rhs.score : lhs.facts.leaseFrom > rhs.facts.leaseFrom
        }
        return RankedCall(candidates: ranked, automaticMatch: decide(ranked, thresholds: thresholds))
    }

    static func decide(_ ranked: [RankedCandidate], thresholds: AutoMatch) -> (RankedCandidate, CallMatch.Method)? {
        guard let top = ranked.first else { return nil }

        let second = ranked.count > 1 ? ranked[1].probability : 0
        guard top.probability >= thresholds.minProbability, top.probability - second >= thresholds.minMargin
        else { return nil }

        let otherKnownByNumber = ranked.dropFirst().contains { $0.identifiedByNumber }
        return (top, top.identifiedByNumber && !otherKnownByNumber ? .ani : .auto)
    }

    /// Returns every signal that applies to `facts`, strongest evidence first.
    public static func signals(for facts: CandidateFacts, call: CallFacts, settings: MatchingSettings) -> [Signal] {
        [
            callerNumber(facts, call: call),
            phoneClick(facts, call: call, window: settings.phoneClickWindowSeconds),
            leaseActive(facts, call: call),
            recency(facts, call: call, window: settings.recentActivitySeconds),
            area(facts, call: call),
        ].compactMap { $0 }
    }

    /// The caller number was entered in a form in this session, or is known for its visitor.
    public static func callerNumber(_ facts: CandidateFacts, call: CallFacts) -> Signal? {
        guard let number = call.callerNumber else { return nil }

        if facts.formPhones.contains(number) {
            return Signal(formPhoneWeight, "caller number entered in a form")
        }
        if let visitor = facts.visitorId, call.visitorsKnownByNumber.contains(visitor) {
            return Signal(knownVisitorWeight, "caller number known for this visitor")
        }
        return nil
    }

    /// The visitor tapped a phone link shortly before the call.
    public static func phoneClick(_ facts: CandidateFacts, call: CallFacts, window: Double) -> Signal? {
        let windowMs = Int64(window * 1000)
        let recent = facts.phoneClicks.filter { $0 <= call.callTime && call.callTime - $0 <= windowMs }
        guard let latest = recent.max() else { return nil }

        return Signal(phoneClickWeight, "tapped the phone link \(Ranking.describe(call.callTime - latest)) before the call")
    }

    /// The session held the number at the moment of the call.
    public static func leaseActive(_ facts: CandidateFacts, call: CallFacts) -> Signal? {
        guard facts.leaseFrom <= call.callTime, facts.leaseUntil >= call.callTime else { return nil }
        return Signal(leaseActiveWeight, "lease active at call time")
    }

    /// How recently the session was active; the weight fades exponentially over `window` seconds.
    public static func recency(_ facts: CandidateFacts, call: CallFacts, window: Double) -> Signal? {
        guard let last = facts.lastActiveAt, window > 0 else { return nil }

        let gap = max(0, call.callTime - last)
        let weight = recencyWeight * exp(-Double(gap) / (window * 1000))
        guard weight >= 0.05 else { return nil }

        return Signal(weight, "active \(Ranking.describe(gap)) before the call")
    }

    /// The caller's area (region, else country) agrees or disagrees with the session's location.
    public static func area(_ facts: CandidateFacts, call: CallFacts) -> Signal? {
        guard let caller = call.callerLocation, let session = facts.location else { return nil }

        if let callerRegion = caller.region, let sessionRegion = session.region,
            caller.country == nil || session.country == nil || caller.country == session.country
        {
            return callerRegion.caseInsensitiveCompare(sessionRegion) == .orderedSame
                ? Signal(areaAgreesWeight, "caller's area (\(callerRegion)) matches the visitor's location")
                : Signal(areaDiffersWeight, "caller's area (\(callerRegion)) differs from the visitor's (\(sessionRegion))")
        }
        if let callerCountry = caller.country, let sessionCountry = session.country, callerCountry != sessionCountry {
            return Signal(areaDiffersWeight, "caller's country (\(callerCountry)) differs from the visitor's (\(sessionCountry))")
        }
        return nil
    }

    /// Formats a duration in milliseconds for people: "20 s", "3 min", "5 h", "2 d".
    public static func describe(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        switch seconds {
        case ..<120: return "\(seconds) s"
        case ..<7200: return "\(seconds / 60) min"
        case ..<172_800: return "\(seconds / 3600) h"
        default: return "\(seconds / 86_400) d"
        }
    }
}
