import Foundation
import Model
import Testing

@Suite(.timeLimit(.minutes(1)))
struct RankingTests {
    /// The call time of every scenario, 2026-05-17T10:05:03Z in milliseconds.
    static let callTime: Int64 = 1_779_012_303_000
    static let caller = "+15555550142"
    static let settings = MatchingSettings()

    static func seconds(_ value: Int64) -> Int64 { value * 1000 }
    static func minutes(_ value: Int64) -> Int64 { value * 60_000 }
    static func days(_ value: Int64) -> Int64 { value * 86_400_000 }

    static func call(
        from number: String? = caller,
        location: Location? = nil,
        knownVisitors: Set<String> = []
    ) -> CallFacts {
        CallFacts(callTime: callTime, callerNumber: number, callerLocation: location,
                  visitorsKnownByNumber: knownVisitors)
    }

    /// Builds a session that held the number from `leaseFrom` to `leaseUntil`, both relative to the call.
    static func session(
        _ id: String,
        visitor: String? = nil,
        leaseFrom: Int64,
        leaseUntil: Int64,
        lastActive: Int64? = nil,
        phoneClicks: [Int64] = [],
        formPhones: Set<String> = [],
        location: Location? = nil
    ) -> CandidateFacts {
        CandidateFacts(
            sessionId: id,
            visitorId: visitor ?? "v-\(id)",
            leaseFrom: callTime + leaseFrom,
            leaseUntil: callTime + leaseUntil,
            lastActiveAt: lastActive.map { callTime + $0 },
            phoneClicks: phoneClicks.map { callTime + $0 },
            formPhones: formPhones,
            location: location
        )
    }

    static func rank(_ call: CallFacts, _ candidates: [CandidateFacts]) -> RankedCall {
        Ranking.rank(call: call, candidates: candidates, settings: settings, thresholds: AutoMatch())
    }

    /// Checks the invariants of every ranked list: probabilities in [0, 1] that sum to at most 1, best score first.
    static func expectWellFormed(_ ranked: RankedCall, sourceLocation: SourceLocation = #_sourceLocation) {
        let probabilities = ranked.candidates.map(\.probability)
        #expect(probabilities.allSatisfy { (0...1).contains($0) }, sourceLocation: sourceLocation)
        #expect(probabilities.reduce(0, +) <= 1 + 1e-12, sourceLocation: sourceLocation)
        for (higher, lower) in zip(ranked.candidates, ranked.candidates.dropFirst()) {
            #expect(higher.score >= lower.score, sourceLocation: sourceLocation)
            #expect(higher.probability >= lower.probability, sourceLocation: sourceLocation)
        }
    }

    // MARK: - Caller number

    @Test
    func callerNumberMatchesFormPhone() throws {
        let facts = Self.session("s-1", leaseFrom: -Self.minutes(75), leaseUntil: -Self.minutes(60),
                                 formPhones: [Self.caller])
        let signal = try #require(Ranking.callerNumber(facts, call: Self.call()))
        #expect(signal.reason == "caller number entered in a form")
        #expect(signal.weight > 0)
    }

    @Test
    func callerNumberMatchesVisitorKnownByNumber() throws {
        let facts = Self.session("s-1", visitor: "v-known", leaseFrom: -Self.minutes(75), leaseUntil: -Self.minutes(60))
        let signal = try #require(Ranking.callerNumber(facts, call: Self.call(knownVisitors: ["v-known"])))
        #expect(signal.reason == "caller number known for this visitor")
        #expect(signal.weight > 0)
    }

    /// A number typed in this very session is stronger evidence than an association with the visitor.
    @Test
    func callerNumberPrefersFormPhone() throws {
        let facts = Self.session("s-1", visitor: "v-known", leaseFrom: -Self.minutes(75), leaseUntil: -Self.minutes(60),
                                 formPhones: [Self.caller])
        let both = try #require(Ranking.callerNumber(facts, call: Self.call(knownVisitors: ["v-known"])))
        let visitorOnly = Self.session("s-2", visitor: "v-known", leaseFrom: 0, leaseUntil: 0)
        let known = try #require(Ranking.callerNumber(visitorOnly, call: Self.call(knownVisitors: ["v-known"])))
        #expect(both.reason == "caller number entered in a form")
        #expect(both.weight >= known.weight)
    }

    @Test
    func callerNumberIgnoresOtherNumbers() {
        let facts = Self.session("s-1", visitor: "v-1", leaseFrom: 0, leaseUntil: 0, formPhones: ["+15555550199"])
        #expect(Ranking.callerNumber(facts, call: Self.call(knownVisitors: ["v-2"])) == nil)

        var anonymous = facts
        anonymous.visitorId = nil
        #expect(Ranking.callerNumber(anonymous, call: Self.call(knownVisitors: ["v-1"])) == nil)
    }

    @Test
    func callerNumberAbsentWhenWithheld() {
        let facts = Self.session("s-1", visitor: "v-1", leaseFrom: 0, leaseUntil: 0, formPhones: [Self.caller])
        #expect(Ranking.callerNumber(facts, call: Self.call(from: nil, knownVisitors: ["v-1"])) == nil)
    }

    // MARK: - Phone link clicks

    static let window = MatchingSettings().phoneClickWindowSeconds

    @Test
    func phoneClickInsideWindowCounts() throws {
        let facts = Self.session("s-1", leaseFrom: -Self.minutes(5), leaseUntil: Self.minutes(10),
                                 phoneClicks: [-Self.seconds(20)])
        let signal = try #require(Ranking.phoneClick(facts, call: Self.call(), window: Self.window))
        #expect(signal.reason == "tapped the phone link 20 s before the call")
        #expect(signal.weight > 0)
    }

    @Test(arguments: [
        (Int64(0), true),
        (-1000, true),
        (-300_000, true),
        (-300_001, false),
        (-3_600_000, false),
        (1, false),
        (5000, false),
    ])
    func phoneClickCountsWithinWindowOnly(offset: Int64, counts: Bool) {
        let facts = Self.session("s-1", leaseFrom: -Self.minutes(30), leaseUntil: Self.minutes(10),
                                 phoneClicks: [offset])
        #expect((Ranking.phoneClick(facts, call: Self.call(), window: Self.window) != nil) == counts)
    }

    @Test
    func phoneClickReportsLatestClickBeforeCall() throws {
        let clicks = [-Self.seconds(200), -Self.seconds(30), Self.seconds(10), -Self.seconds(90)]
        let facts = Self.session("s-1", leaseFrom: -Self.minutes(30), leaseUntil: Self.minutes(10), phoneClicks: clicks)
        let signal = try #require(Ranking.phoneClick(facts, call: Self.call(), window: Self.window))
        #expect(signal.reason == "tapped the phone link 30 s before the call")
    }

    @Test
    func phoneClickAbsentWithoutClicks() {
        let facts = Self.session("s-1", leaseFrom: -Self.minutes(5), leaseUntil: Self.minutes(10))
        #expect(Ranking.phoneClick(facts, call: Self.call(), window: Self.window) == nil)
    }

    // MARK: - Lease

    @Test(arguments: [
        (Int64(-900_000), Int64(0), true),
        (0, 900_000, true),
        (-600_000, 300_000, true),
        (-900_000, -1, false),
        (1, 900_000, false),
        (-2_000_000, -1_100_000, false),
    ])
    func leaseActiveIncludesBothEnds(from: Int64, until: Int64, active: Bool) {
        let facts = Self.session("s-1", leaseFrom: from, leaseUntil: until)
        let signal = Ranking.leaseActive(facts, call: Self.call())
        #expect((signal != nil) == active)
        if let signal {
            #expect(signal.reason == "lease active at call time")
            #expect(signal.weight > 0)
        }
    }

    // MARK: - Recency

    static let recentWindow = MatchingSettings().recentActivitySeconds

    static func recencyWeight(activeAgo milliseconds: Int64?) -> Double? {
        let facts = session("s-1", leaseFrom: -minutes(60), leaseUntil: -minutes(45),
                            lastActive: milliseconds.map { -$0 })
        return Ranking.recency(facts, call: call(), window: recentWindow)?.weight
    }

    @Test
    func recencyDecaysWithGap() throws {
        let now = try #require(Self.recencyWeight(activeAgo: 0))
        let fiveMinutes = try #require(Self.recencyWeight(activeAgo: Self.minutes(5)))
        let halfHour = try #require(Self.recencyWeight(activeAgo: Self.minutes(30)))
        #expect(now > fiveMinutes)
        #expect(fiveMinutes > halfHour)
        #expect(halfHour > 0)
    }

    /// The weight fades exponentially with the window as its time constant.
    @Test
    func recencyFadesExponentiallyOverWindow() throws {
        let now = try #require(Self.recencyWeight(activeAgo: 0))
        let oneWindow = try #require(Self.recencyWeight(activeAgo: Self.seconds(Int64(Self.recentWindow))))
        #expect(abs(oneWindow / now - exp(-1)) < 1e-9)
    }

    @Test(arguments: [Int64(10_800_000), 86_400_000, 259_200_000])
    func recencyCutsOffOldActivity(gap: Int64) {
        #expect(Self.recencyWeight(activeAgo: gap) == nil)
    }

    @Test
    func recencyAbsentWithoutActivityOrWindow() {
        #expect(Self.recencyWeight(activeAgo: nil) == nil)
        let facts = Self.session("s-1", leaseFrom: 0, leaseUntil: 0, lastActive: 0)
        #expect(Ranking.recency(facts, call: Self.call(), window: 0) == nil)
    }

    @Test
    func recencyCountsLaterActivityAsCurrent() throws {
        let facts = Self.session("s-1", leaseFrom: 0, leaseUntil: 0, lastActive: Self.seconds(30))
        let signal = try #require(Ranking.recency(facts, call: Self.call(), window: Self.recentWindow))
        #expect(signal.weight == Self.recencyWeight(activeAgo: 0))
        #expect(signal.reason == "active 0 s before the call")
    }

    @Test
    func recencyReasonNamesGap() throws {
        let facts = Self.session("s-1", leaseFrom: 0, leaseUntil: 0, lastActive: -Self.minutes(10))
        let signal = try #require(Ranking.recency(facts, call: Self.call(), window: Self.recentWindow))
        #expect(signal.reason == "active 10 min before the call")
    }

    // MARK: - Area

    static func areaSignal(caller: Location?, session: Location?) -> Signal? {
        let facts = Self.session("s-1", leaseFrom: 0, leaseUntil: 0, location: session)
        return Ranking.area(facts, call: Self.call(location: caller))
    }

    @Test
    func areaAgrees() throws {
        let signal = try #require(Self.areaSignal(caller: Location(country: "US", region: "CA", city: "San Jose"),
                                                  session: Location(country: "US", region: "CA", city: "Fresno")))
        #expect(signal.weight > 0)
        #expect(signal.reason == "caller's area (CA) matches the visitor's location")
    }

    @Test
    func areaComparesRegionsIgnoringCase() throws {
        let signal = try #require(Self.areaSignal(caller: Location(region: "ca"), session: Location(country: "US", region: "CA")))
        #expect(signal.weight > 0)
    }

    @Test
    func areaDiffersByRegion() throws {
        let signal = try #require(Self.areaSignal(caller: Location(country: "US", region: "NY"),
                                                  session: Location(country: "US", region: "CA")))
        #expect(signal.weight < 0)
        #expect(signal.reason == "caller's area (NY) differs from the visitor's (CA)")
    }

    @Test
    func areaDiffersByCountry() throws {
        let signal = try #require(Self.areaSignal(caller: Location(country: "US"), session: Location(country: "GB")))
        #expect(signal.weight < 0)
        #expect(signal.reason == "caller's country (US) differs from the visitor's (GB)")
    }

    /// Washington (US) and Western Australia share the code WA; the countries decide.
    @Test
    func areaSameCodeOtherCountryDiffers() throws {
        let signal = try #require(Self.areaSignal(caller: Location(country: "US", region: "WA"),
                                                  session: Location(country: "AU", region: "WA")))
        #expect(signal.weight < 0)
        #expect(signal.reason == "caller's country (US) differs from the visitor's (AU)")
    }

    @Test
    func areaUnknownGivesNoSignal() {
        #expect(Self.areaSignal(caller: nil, session: Location(country: "US", region: "CA")) == nil)
        #expect(Self.areaSignal(caller: Location(country: "US", region: "CA"), session: nil) == nil)
        #expect(Self.areaSignal(caller: Location(country: "US"), session: Location(region: "CA")) == nil)
        #expect(Self.areaSignal(caller: Location(), session: Location()) == nil)
    }

    // MARK: - Ranking scenarios

    @Test
    func rankEmptyListMatchesNothing() {
        let ranked = Self.rank(Self.call(), [])
        #expect(ranked.candidates.isEmpty)
        #expect(ranked.automaticMatch == nil)
    }

    /// With no evidence at all, the lone candidate competes with "someone else" and is not certain.
    @Test
    func rankWithoutEvidenceIsNotAutomatic() throws {
        let ranked = Self.rank(Self.call(), [Self.session("s-1", leaseFrom: -Self.days(2), leaseUntil: -Self.days(2))])
        let only = try #require(ranked.candidates.first)
        #expect(only.reasons.isEmpty)
        #expect(only.probability < AutoMatch().minProbability)
        #expect(ranked.automaticMatch == nil)
        Self.expectWellFormed(ranked)
    }

    @Test(arguments: [Location(country: "US", region: "NY"), nil])
    func rankPrefersSessionInCallersArea(otherLocation: Location?) throws {
        let inArea = Self.session("s-area", leaseFrom: -Self.minutes(20), leaseUntil: Self.minutes(5),
                                  lastActive: -Self.minutes(10), location: Location(country: "US", region: "CA"))
        let other = Self.session("s-other", leaseFrom: -Self.minutes(8), leaseUntil: Self.minutes(7),
                                 lastActive: -Self.minutes(8), location: otherLocation)
        let ranked = Self.rank(Self.call(location: Location(country: "US", region: "CA", city: "San Jose")),
                               [other, inArea])

        let top = try #require(ranked.candidates.first)
        #expect(top.facts.sessionId == "s-area")
        #expect(top.reasons.contains("caller's area (CA) matches the visitor's location"))
        #expect(top.reasons.contains("lease active at call time"))
        #expect(ranked.automaticMatch == nil)
        #expect(ranked.candidates.count == 2)
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankMatchesFormPhoneByANI() throws {
        let filledForm = Self.session("s-form", leaseFrom: -Self.minutes(75), leaseUntil: -Self.minutes(60),
                                      lastActive: -Self.minutes(60), formPhones: [Self.caller])
        let between = Self.session("s-between", leaseFrom: -Self.minutes(50), leaseUntil: -Self.minutes(35),
                                   lastActive: -Self.minutes(36))
        let current = Self.session("s-current", leaseFrom: -Self.minutes(12), leaseUntil: Self.minutes(3),
                                   lastActive: -Self.minutes(12))
        let ranked = Self.rank(Self.call(), [current, between, filledForm])

        let top = try #require(ranked.candidates.first)
        #expect(top.facts.sessionId == "s-form")
        #expect(top.identifiedByNumber)
        #expect(top.reasons.first == "caller number entered in a form")
        let match = try #require(ranked.automaticMatch)
        #expect(match.candidate.facts.sessionId == "s-form")
        #expect(match.method == .ani)
        #expect(match.candidate.probability >= AutoMatch().minProbability)
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankMatchesRecentPhoneTap() throws {
        let tapped = Self.session("s-tap", leaseFrom: -Self.minutes(6), leaseUntil: Self.minutes(9),
                                  lastActive: -Self.seconds(20), phoneClicks: [-Self.seconds(20)])
        let previous = Self.session("s-previous", leaseFrom: -Self.minutes(30), leaseUntil: -Self.minutes(15),
                                    lastActive: -Self.minutes(16))
        let ranked = Self.rank(Self.call(), [previous, tapped])

        let top = try #require(ranked.candidates.first)
        #expect(top.facts.sessionId == "s-tap")
        #expect(top.reasons == [
            "tapped the phone link 20 s before the call",
            "lease active at call time",
            "active 20 s before the call",
        ])
        #expect(!top.identifiedByNumber)
        let match = try #require(ranked.automaticMatch)
        #expect(match.candidate.facts.sessionId == "s-tap")
        #expect(match.method == .auto)
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankIgnoresNumberOfWithheldCaller() throws {
        let session = Self.session("s-1", visitor: "v-1", leaseFrom: -Self.minutes(5), leaseUntil: Self.minutes(10),
                                   lastActive: -Self.minutes(1), formPhones: [Self.caller])
        let withheld = Self.rank(Self.call(from: nil, knownVisitors: ["v-1"]), [session])

        let top = try #require(withheld.candidates.first)
        #expect(!top.identifiedByNumber)
        #expect(!top.reasons.contains { $0.contains("caller number") })
        #expect(withheld.automaticMatch?.method != .ani)
        Self.expectWellFormed(withheld)

        let shown = Self.rank(Self.call(), [session])
        let identified = try #require(shown.candidates.first)
        #expect(identified.identifiedByNumber)
        #expect(identified.score > top.score)
        #expect(shown.automaticMatch?.method == .ani)
    }

    /// Three days after the true session, three other sessions have held the number; the current holder is active.
    static func threeDaysLater(trueSession: CandidateFacts) -> [CandidateFacts] {
        [
            trueSession,
            session("s-1", leaseFrom: -days(2), leaseUntil: -days(2) + minutes(15), lastActive: -days(2) + minutes(5)),
            session("s-2", leaseFrom: -days(1), leaseUntil: -days(1) + minutes(15), lastActive: -days(1) + minutes(5)),
            session("s-3", leaseFrom: -minutes(10), leaseUntil: minutes(5), lastActive: -minutes(10)),
        ]
    }

    @Test
    func rankCannotFindOldSessionWithoutSignal() throws {
        let old = Self.session("s-true", leaseFrom: -Self.days(3), leaseUntil: -Self.days(3) + Self.minutes(15),
                               lastActive: -Self.days(3) + Self.minutes(10))
        let ranked = Self.rank(Self.call(), Self.threeDaysLater(trueSession: old))

        #expect(ranked.candidates.count == 4)
        #expect(ranked.candidates.first?.facts.sessionId != "s-true")
        let trueCandidate = try #require(ranked.candidates.first { $0.facts.sessionId == "s-true" })
        #expect(trueCandidate.reasons.isEmpty)
        #expect(ranked.automaticMatch?.candidate.facts.sessionId != "s-true")
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankFindsOldSessionByFormPhone() throws {
        let old = Self.session("s-true", leaseFrom: -Self.days(3), leaseUntil: -Self.days(3) + Self.minutes(15),
                               lastActive: -Self.days(3) + Self.minutes(10), formPhones: [Self.caller])
        let ranked = Self.rank(Self.call(), Self.threeDaysLater(trueSession: old))

        let top = try #require(ranked.candidates.first)
        #expect(top.facts.sessionId == "s-true")
        #expect(top.reasons == ["caller number entered in a form"])
        let match = try #require(ranked.automaticMatch)
        #expect(match.candidate.facts.sessionId == "s-true")
        #expect(match.method == .ani)
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankFindsOldSessionOfKnownVisitor() throws {
        let old = Self.session("s-true", visitor: "v-returning", leaseFrom: -Self.days(3),
                               leaseUntil: -Self.days(3) + Self.minutes(15), lastActive: -Self.days(3) + Self.minutes(10))
        let ranked = Self.rank(Self.call(knownVisitors: ["v-returning"]), Self.threeDaysLater(trueSession: old))

        let top = try #require(ranked.candidates.first)
        #expect(top.facts.sessionId == "s-true")
        #expect(top.reasons == ["caller number known for this visitor"])
        #expect(ranked.automaticMatch?.candidate.facts.sessionId != "s-3")
        Self.expectWellFormed(ranked)
    }

    /// ANI names the method only when the caller number points at the top candidate alone.
    @Test
    func rankUsesAutoForSharedNumber() throws {
        let strong = Self.session("s-now", visitor: "v-1", leaseFrom: -Self.minutes(5), leaseUntil: Self.minutes(10),
                                  lastActive: -Self.seconds(15), phoneClicks: [-Self.seconds(15)], formPhones: [Self.caller])
        let earlier = Self.session("s-earlier", visitor: "v-1", leaseFrom: -Self.days(2),
                                   leaseUntil: -Self.days(2) + Self.minutes(15))
        let ranked = Self.rank(Self.call(knownVisitors: ["v-1"]), [earlier, strong])

        #expect(ranked.candidates.map(\.identifiedByNumber) == [true, true])
        let match = try #require(ranked.automaticMatch)
        #expect(match.candidate.facts.sessionId == "s-now")
        #expect(match.method == .auto)
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankBreaksTiesByNewerLease() {
        let older = Self.session("s-older", leaseFrom: -Self.minutes(40), leaseUntil: Self.minutes(5),
                                 lastActive: -Self.minutes(2))
        let newer = Self.session("s-newer", leaseFrom: -Self.minutes(10), leaseUntil: Self.minutes(5),
                                 lastActive: -Self.minutes(2))
        let ranked = Self.rank(Self.call(), [older, newer])

        #expect(ranked.candidates.map(\.facts.sessionId) == ["s-newer", "s-older"])
        #expect(ranked.candidates[0].probability == ranked.candidates[1].probability)
        #expect(ranked.automaticMatch == nil)
        Self.expectWellFormed(ranked)
    }

    @Test
    func rankKeepsManyProbabilitiesBelowOne() {
        let candidates = (0..<200).map { index in
            Self.session("s-\(index)", leaseFrom: -Self.minutes(Int64(15 + index)), leaseUntil: -Self.minutes(Int64(index)),
                         lastActive: -Self.minutes(Int64(index)),
                         location: index.isMultiple(of: 2) ? Location(country: "US", region: "CA") : nil)
        }
        let ranked = Self.rank(Self.call(location: Location(country: "US", region: "CA")), candidates)
        #expect(ranked.candidates.count == 200)
        #expect(ranked.candidates.map(\.probability).reduce(0, +) < 1)
        #expect(ranked.automaticMatch == nil)
        Self.expectWellFormed(ranked)
    }

    // MARK: - Durations in reasons

    static let durations: [(Int64, String)] = [
        (0, "0 s"),
        (20_000, "20 s"),
        (119_999, "119 s"),
        (120_000, "2 min"),
        (180_000, "3 min"),
        (7_199_000, "119 min"),
        (18_000_000, "5 h"),
        (172_800_000, "2 d"),
    ]

    @Test(arguments: RankingTests.durations)
    func describeShortensDurations(milliseconds: Int64, expected: String) {
        #expect(Ranking.describe(milliseconds) == expected)
    }
}
