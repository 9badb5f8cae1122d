import Foundation
import Model
import SecurityKit
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TenantsTests {
    // MARK: - Fixtures

    static let webHash = "sha256:" + Digest.sha256Hex("rt_test_acme_web")
    static let readHash = "sha256:" + Digest.sha256Hex("rt_test_acme_read")
    static let agentHash = "sha256:" + Digest.sha256Hex("rt_test_cc_agent")

    /// A tenants file with every field set and real key hashes.
    static let fullFile = """
        {
          "advertisers": [{
            "id": "acme",
            "keys": [{"hash": "\(webHash)", "scopes": ["web", "read"]}],
            "pools": [{
              "id": "main",
              "numbers": ["+15555550100", "+15555550101"],
              "leaseSeconds": 600,
              "exhaustion": "fallback",
              "fallbackNumber": "+15555550199",
              "forwardTo": "+15555550111"
            }],
            "carriers": {"twilio": {"authToken": "twilio-token"}, "telnyx": {"publicKey": "dGVsbnl4"}},
            "callCenters": ["cc-east"],
            "lookbackSeconds": 86400,
            "autoMatch": {"minProbability": 0.95, "minMargin": 0.6}
          }],
          "callCenters": [{"id": "cc-east", "keys": [{"hash": "\(agentHash)", "scopes": ["agent"]}]}]
        }
        """

    static let minimalFile = """
        {"advertisers": [{"id": "acme", "pools": [{"id": "main", "numbers": ["+15555550100"]}]}]}
        """

    static func decode(_ text: String) throws -> TenantsFile {
        try JSONDecoder().decode(TenantsFile.self, from: Data(text.utf8))
    }

    static func advertiser(
        _ id: String = "acme",
        keys: [APIKeyEntry] = [APIKeyEntry(hash: webHash, scopes: [.web])],
        pools: [Pool] = [Pool(id: "main", numbers: ["+15555550100", "+15555550101"])],
        callCenters: [String] = []
    ) -> Advertiser {
        Advertiser(id: id, keys: keys, pools: pools, callCenters: callCenters)
    }

    /// Returns the reason `validate()` rejects `file` with, or nil when the file is valid.
    static func rejection(_ file: TenantsFile) -> String? {
        do {
            try file.validate()
            return nil
        } catch {
            return error.reason
        }
    }

    // MARK: - Decoding

    @Test
    func decodesFullFile() throws {
        let file = try Self.decode(Self.fullFile)
        #expect(Self.rejection(file) == nil)

        let acme = try #require(file.advertiser("acme"))
        #expect(acme.keys.map(\.hash) == [Self.webHash])
        #expect(acme.keys.first?.scopes == [.web, .read])
        #expect(acme.carriers.twilio?.authToken == "twilio-token")
        #expect(acme.carriers.telnyx?.publicKey == "dGVsbnl4")
        #expect(acme.callCenters == ["cc-east"])
        #expect(acme.lookbackSeconds == 86_400)
        #expect(acme.autoMatch.minProbability == 0.95)
        #expect(acme.autoMatch.minMargin == 0.6)

        let pool = try #require(acme.pool("main"))
        #expect(pool.numbers == ["+15555550100", "+15555550101"])
        #expect(pool.leaseSeconds == 600)
        #expect(pool.exhaustion == .fallback)
        #expect(pool.fallbackNumber == "+15555550199")
        #expect(pool.forwardTo == "+15555550111")
        #expect(acme.pool(owning: "+15555550101")?.id == "main")
        #expect(acme.pool(owning: "+15555550199") == nil)

        #expect(file.callCenters.map(\.id) == ["cc-east"])
        #expect(file.callCenters.first?.keys.first?.scopes == [.agent])
        #expect(file.advertiser("other") == nil)
    }

    @Test
    func decodeFillsDefaults() throws {
        let file = try Self.decode(Self.minimalFile)
        #expect(Self.rejection(file) == nil)
        #expect(file.callCenters.isEmpty)

        let acme = try #require(file.advertiser("acme"))
        #expect(acme.keys.isEmpty)
        #expect(acme.callCenters.isEmpty)
        #expect(acme.carriers.twilio == nil)
        #expect(acme.carriers.telnyx == nil)
        #expect(acme.lookbackSeconds == 604_800)
        #expect(acme.autoMatch.minProbability == 0.9)
        #expect(acme.autoMatch.minMargin == 0.5)
        #expect(acme.matching.phoneClickWindowSeconds == 300)
        #expect(acme.matching.recentActivitySeconds == 1800)
        #expect(acme.matching.maxCandidates == 500)
        #expect(acme.sessionTimeoutSeconds == 1800)
        #expect(acme.retentionDays == 400)

        let pool = try #require(acme.pool("main"))
        #expect(pool.leaseSeconds == 900)
        #expect(pool.exhaustion == .recycle)
        #expect(pool.fallbackNumber == nil)
        #expect(pool.forwardTo == nil)
    }

    @Test
    func decodeFillsMissingAutoMatchThreshold() throws {
        let text = """
            {"advertisers": [{"id": "acme", "pools": [], "autoMatch": {"minProbability": 0.95}}]}
            """
        let acme = try #require(try Self.decode(text).advertiser("acme"))
        #expect(acme.autoMatch.minProbability == 0.95)
        #expect(acme.autoMatch.minMargin == 0.5)

        let other = """
            {"advertisers": [{"id": "acme", "pools": [], "autoMatch": {"minMargin": 0.2}}]}
            """
        let margin = try #require(try Self.decode(other).advertiser("acme"))
        #expect(margin.autoMatch.minProbability == 0.9)
        #expect(margin.autoMatch.minMargin == 0.2)
    }

    @Test
    func decodeFillsMissingMatchingSettings() throws {
        let text = """
            {"advertisers": [{"id": "acme", "pools": [], "matching": {"phoneClickWindowSeconds": 60}}]}
            """
        let acme = try #require(try Self.decode(text).advertiser("acme"))
        #expect(acme.matching.phoneClickWindowSeconds == 60)
        #expect(acme.matching.recentActivitySeconds == 1800)
        #expect(acme.matching.maxCandidates == 500)
    }

    @Test
    func initMatchesDecodedDefaults() {
        let advertiser = Self.advertiser()
        #expect(advertiser.lookbackSeconds == 604_800)
        #expect(advertiser.autoMatch.minProbability == 0.9)
        #expect(advertiser.autoMatch.minMargin == 0.5)
        #expect(advertiser.sessionTimeoutSeconds == 1800)
        #expect(advertiser.retentionDays == 400)
        let pool = Pool(id: "main", numbers: [])
        #expect(pool.leaseSeconds == 900)
        #expect(pool.exhaustion == .recycle)
    }

    @Test
    func decodeRejectsUnknownScopeAndExhaustion() {
        let scope = Self.minimalFile.replacingOccurrences(
            of: #""pools""#, with: #""keys": [{"hash": "\#(Self.webHash)", "scopes": ["owner"]}], "pools""#)
        #expect(throws: DecodingError.self) { try Self.decode(scope) }

        let exhaustion = Self.minimalFile.replacingOccurrences(of: #""numbers""#, with: #""exhaustion": "wait", "numbers""#)
        #expect(throws: DecodingError.self) { try Self.decode(exhaustion) }
    }

    // MARK: - Validation

    @Test
    func validateRejectsDuplicateAdvertiser() {
        let file = TenantsFile(advertisers: [
            Self.advertiser(keys: [], pools: [Pool(id: "main", numbers: ["+15555550100"])]),
            Self.advertiser(keys: [], pools: [Pool(id: "main", numbers: ["+15555550200"])]),
        ])
        #expect(Self.rejection(file) == "advertiser acme appears twice")
    }

    @Test(arguments: ["ac me", "acme:eu", "", "acme/1", String(repeating: "a", count: 129)])
    func validateRejectsInvalidAdvertiserID(id: String) {
        let file = TenantsFile(advertisers: [Self.advertiser(id)])
        #expect(Self.rejection(file) == "advertiser id \"\(id)\" must be letters, digits, '-', '_' or '.'")
    }

    @Test(arguments: [
        String(TenantsTests.webHash.dropLast()),
        TenantsTests.webHash + "0",
        TenantsTests.webHash.uppercased(),
        "sha256:" + TenantsTests.webHash.dropFirst(7).uppercased(),
        String(TenantsTests.webHash.dropFirst(7)),
        "md5:" + TenantsTests.webHash.dropFirst(7),
        "sha256:" + String(repeating: "g", count: 64),
        "sha256:" + String(repeating: "\u{FF41}", count: 64),
        "sha256:" + String(repeating: "\u{FF10}", count: 64),
        "sha256: " + TenantsTests.webHash.dropFirst(8),
        "",
    ])
    func validateRejectsBadKeyHash(hash: String) {
        let file = TenantsFile(advertisers: [Self.advertiser(keys: [APIKeyEntry(hash: hash, scopes: [.web])])])
        #expect(Self.rejection(file) == "advertiser acme: key hash must be \"sha256:\" and 64 lower-case hex digits")
    }

    @Test
    func validateRejectsBadCallCenterKeyHash() {
        let file = TenantsFile(
            advertisers: [Self.advertiser(callCenters: ["cc-east"])],
            callCenters: [CallCenter(id: "cc-east", keys: [APIKeyEntry(hash: "sha256:abc", scopes: [.agent])])]
        )
        #expect(Self.rejection(file) == "call center cc-east: key hash must be \"sha256:\" and 64 lower-case hex digits")
    }

    @Test
    func validateRejectsKeyWithoutScopes() {
        let file = TenantsFile(advertisers: [Self.advertiser(keys: [APIKeyEntry(hash: Self.webHash, scopes: [])])])
        #expect(Self.rejection(file) == "advertiser acme: a key needs at least one scope")
    }

    /// The registry maps each hash to one principal, so a hash listed twice would silently act for the last owner.
    @Test
    func validateRejectsKeyHashListedTwice() {
        let twoAdvertisers = TenantsFile(advertisers: [
            Self.advertiser("acme", keys: [APIKeyEntry(hash: Self.webHash, scopes: [.web])]),
            Self.advertiser("beta", keys: [APIKeyEntry(hash: Self.webHash, scopes: [.read])],
                            pools: [Pool(id: "main", numbers: ["+15555550200"])]),
        ])
        #expect(Self.rejection(twoAdvertisers) == "advertiser beta: key hash is already listed for advertiser acme")

        let advertiserAndCenter = TenantsFile(
            advertisers: [Self.advertiser(callCenters: ["cc-east"])],
            callCenters: [CallCenter(id: "cc-east", keys: [APIKeyEntry(hash: Self.webHash, scopes: [.agent])])]
        )
        #expect(
            Self.rejection(advertiserAndCenter) == "call center cc-east: key hash is already listed for advertiser acme"
        )

        let sameOwner = TenantsFile(advertisers: [
            Self.advertiser(keys: [APIKeyEntry(hash: Self.webHash, scopes: [.web]),
                                   APIKeyEntry(hash: Self.webHash, scopes: [.admin])])
        ])
        #expect(Self.rejection(sameOwner) == "advertiser acme: key hash is already listed for advertiser acme")
    }

    @Test
    func validateRejectsNumberInTwoPools() {
        let sameAdvertiser = TenantsFile(advertisers: [
            Self.advertiser(pools: [
                Pool(id: "main", numbers: ["+15555550100", "+15555550101"]),
                Pool(id: "spanish", numbers: ["+15555550102", "+15555550101"]),
            ])
        ])
        #expect(Self.rejection(sameAdvertiser) == "number +15555550101 belongs to more than one pool")

        let twoAdvertisers = TenantsFile(advertisers: [
            Self.advertiser("acme", keys: [], pools: [Pool(id: "main", numbers: ["+15555550100"])]),
            Self.advertiser("beta", keys: [], pools: [Pool(id: "main", numbers: ["+15555550100"])]),
        ])
        #expect(Self.rejection(twoAdvertisers) == "number +15555550100 belongs to more than one pool")
    }

    @Test
    func validateRejectsDuplicatePool() {
        let file = TenantsFile(advertisers: [
            Self.advertiser(pools: [Pool(id: "main", numbers: ["+15555550100"]), Pool(id: "main", numbers: [])])
        ])
        #expect(Self.rejection(file) == "advertiser acme: pool main appears twice")
    }

    @Test
    func validateRejectsFallbackWithoutNumber() {
        let file = TenantsFile(advertisers: [
            Self.advertiser(pools: [Pool(id: "main", numbers: ["+15555550100"], exhaustion: .fallback)])
        ])
        #expect(Self.rejection(file) == "advertiser acme, pool main: exhaustion \"fallback\" needs a fallbackNumber")

        let withNumber = TenantsFile(advertisers: [
            Self.advertiser(pools: [
                Pool(id: "main", numbers: ["+15555550100"], exhaustion: .fallback, fallbackNumber: "+15555550199")
            ])
        ])
        #expect(Self.rejection(withNumber) == nil)
    }

    @Test
    func validateRejectsUnknownCallCenter() {
        let file = TenantsFile(
            advertisers: [Self.advertiser(callCenters: ["cc-east", "cc-west"])],
            callCenters: [CallCenter(id: "cc-east", keys: [APIKeyEntry(hash: Self.agentHash, scopes: [.agent])])]
        )
        #expect(Self.rejection(file) == "advertiser acme lists call center cc-west, which is not declared")
    }

    @Test
    func validateRejectsDuplicateCallCenter() {
        let file = TenantsFile(
            advertisers: [Self.advertiser(callCenters: ["cc-east"])],
            callCenters: [
                CallCenter(id: "cc-east", keys: [APIKeyEntry(hash: Self.agentHash, scopes: [.agent])]),
                CallCenter(id: "cc-east", keys: [APIKeyEntry(hash: Self.readHash, scopes: [.agent])]),
            ]
        )
        #expect(Self.rejection(file) == "call center cc-east appears twice")
    }

    @Test
    func validateRejectsInvalidCallCenterID() {
        let file = TenantsFile(advertisers: [], callCenters: [CallCenter(id: "cc east", keys: [])])
        #expect(Self.rejection(file) == "call center id \"cc east\" is invalid")
    }

    @Test(arguments: ["5555550100", "+1 555 555 0100", "+05555550100", "+1555", "15555550100", "+1555555010012345"])
    func validateRejectsNonE164PoolNumber(number: String) {
        let file = TenantsFile(advertisers: [Self.advertiser(pools: [Pool(id: "main", numbers: [number])])])
        #expect(Self.rejection(file) == "advertiser acme, pool main: \(number) is not an E.164 number")
    }

    @Test
    func validateRejectsNonE164FallbackAndForward() {
        let fallback = TenantsFile(advertisers: [
            Self.advertiser(pools: [Pool(id: "main", numbers: ["+15555550100"], fallbackNumber: "555-0199")])
        ])
        #expect(Self.rejection(fallback) == "advertiser acme, pool main: fallbackNumber is not an E.164 number")

        let forward = TenantsFile(advertisers: [
            Self.advertiser(pools: [Pool(id: "main", numbers: ["+15555550100"], forwardTo: "sip:desk@example.com")])
        ])
        #expect(Self.rejection(forward) == "advertiser acme, pool main: forwardTo is not an E.164 number")
    }

    @Test
    func validateRejectsNonPositiveDurations() {
        var lookback = Self.advertiser()
        lookback.lookbackSeconds = 0
        #expect(Self.rejection(TenantsFile(advertisers: [lookback])) == "advertiser acme: lookbackSeconds must be positive")

        var timeout = Self.advertiser()
        timeout.sessionTimeoutSeconds = -1
        #expect(
            Self.rejection(TenantsFile(advertisers: [timeout])) == "advertiser acme: sessionTimeoutSeconds must be positive"
        )

        let lease = Self.advertiser(pools: [Pool(id: "main", numbers: ["+15555550100"], leaseSeconds: 0)])
        #expect(Self.rejection(TenantsFile(advertisers: [lease])) == "advertiser acme, pool main: leaseSeconds must be positive")
    }

    @Test(arguments: [(1.5, 0.5), (0.9, -0.1), (-0.01, 0.5), (0.9, 1.01)])
    func validateRejectsThresholdsOutsideUnitRange(minProbability: Double, minMargin: Double) {
        var advertiser = Self.advertiser()
        advertiser.autoMatch = AutoMatch(minProbability: minProbability, minMargin: minMargin)
        #expect(
            Self.rejection(TenantsFile(advertisers: [advertiser]))
                == "advertiser acme: autoMatch thresholds must be between 0 and 1"
        )
    }

    @Test(arguments: ["main pool", "main:1", ""])
    func validateRejectsInvalidPoolID(id: String) {
        let file = TenantsFile(advertisers: [Self.advertiser(pools: [Pool(id: id, numbers: ["+15555550100"])])])
        #expect(Self.rejection(file) == "advertiser acme: pool id \"\(id)\" is invalid")
    }

    // MARK: - Loading a file

    static func withTemporaryFile<T>(_ text: String, _ body: (String) throws -> T) throws -> T {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("ringtrail-tenants-\(UUID().uuidString).json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    static func loadRejection(path: String) -> String? {
        do {
            _ = try TenantsFile.load(path: path)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test
    func loadReadsValidFile() throws {
        let file = try Self.withTemporaryFile(Self.fullFile) { path in try TenantsFile.load(path: path) }
        #expect(file.advertisers.map(\.id) == ["acme"])
    }

    @Test
    func loadNamesMissingFileAndVariable() {
        let path = "/nonexistent/ringtrail/tenants.json"
        #expect(Self.loadRejection(path: path) == "cannot read the tenants file \(path); set RINGTRAIL_TENANTS to its path")
    }

    @Test
    func loadNamesFileOfInvalidJSON() throws {
        let reason = try Self.withTemporaryFile("{\"advertisers\": [") { path in
            (path, Self.loadRejection(path: path))
        }
        #expect(reason.1 == "tenants file \(reason.0): not valid JSON")
    }

    @Test
    func loadNamesPathOfMissingField() throws {
        let reason = try Self.withTemporaryFile(#"{"advertisers": [{"pools": []}]}"#) { path in
            (path, Self.loadRejection(path: path))
        }
        #expect(reason.1 == "tenants file \(reason.0): missing field id in advertisers[0]")
    }

    @Test
    func loadNamesFileOfInvalidContent() throws {
        let text = Self.minimalFile.replacingOccurrences(of: "+15555550100", with: "555-0100")
        let reason = try Self.withTemporaryFile(text) { path in (path, Self.loadRejection(path: path)) }
        #expect(reason.1 == "tenants file \(reason.0): advertiser acme, pool main: 555-0100 is not an E.164 number")
    }
}
