import Foundation

/// The tenants file: advertisers with their pools, keys and carrier secrets, and the call centers that answer
/// for them. API keys appear only as `sha256:` and the hex SHA-256 of the key.
public struct TenantsFile: Codable, Sendable {
    public var advertisers: [Advertiser]
    public var callCenters: [CallCenter]

    public init(advertisers: [Advertiser], callCenters: [CallCenter] = []) {
        self.advertisers = advertisers
        self.callCenters = callCenters
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        advertisers = try container.decode([Advertiser].self, forKey: .advertisers)
        callCenters = try container.decodeIfPresent([CallCenter].self, forKey: .callCenters) ?? []
    }

    /// Reads and validates the file at `path`.
    ///
    /// - Throws: `ValidationError` naming the file and what is wrong in it.
    public static func load(path: String) throws(ValidationError) -> TenantsFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the tenants file \(path); set RINGTRAIL_TENANTS to its path")
        }
        let file: TenantsFile
        do {
            file = try JSONDecoder().decode(TenantsFile.self, from: data)
        } catch let error as DecodingError {
            throw ValidationError("tenants file \(path): \(ValidationError(describing: error).reason)")
        } catch {
            throw ValidationError("tenants file \(path) is not valid JSON")
        }
        do {
            try file.validate()
        } catch {
            throw ValidationError("tenants file \(path): \(error.reason)")
        }
        return file
    }

    /// Checks ids, numbers and keys across the whole file.
    public func validate() throws(ValidationError) {
        var advertiserIDs = Set<String>()
        var numbers = Set<String>()
        let centerIDs = Set(callCenters.map(\.id))
        // Each hash authenticates exactly one owner, so a hash listed twice would silently act for the last one.
        var keyOwners: [String: String] = [:]
        func claim(_ keys: [APIKeyEntry], for owner: String) throws(ValidationError) {
            for key in keys {
                if let previous = keyOwners.updateValue(owner, forKey: key.hash) {
                    throw ValidationError("\(owner): key hash is already listed for \(previous)")
                }
            }
        }
        for advertiser in advertisers {
            guard Identifier.isValid(advertiser.id), !advertiser.id.contains(":") else {
                throw ValidationError("advertiser id \"\(advertiser.id)\" must be letters, digits, '-', '_' or '.'")
            }
            guard advertiserIDs.insert(advertiser.id).inserted else {
                throw ValidationError("advertiser \(advertiser.id) appears twice")
            }
            try advertiser.validate()
            try claim(advertiser.keys, for: "advertiser \(advertiser.id)")
            for pool in advertiser.pools {
                for number in pool.numbers where !numbers.insert(number).inserted {
                    throw ValidationError("number \(number) belongs to more than one pool")
                }
            }
            for center in advertiser.callCenters where !centerIDs.contains(center) {
                throw ValidationError("advertiser \(advertiser.id) lists call center \(center), which is not declared")
            }
        }
        var seenCenterIDs = Set<String>()
        for center in callCenters {
            guard Identifier.isValid(center.id) else {
                throw ValidationError("call center id \"\(center.id)\" is invalid")
            }
            guard seenCenterIDs.insert(center.id).inserted else {
                throw ValidationError("call center \(center.id) appears twice")
            }
            for key in center.keys { try key.validate(owner: "call center \(center.id)") }
            try claim(center.keys, for: "call center \(center.id)")
        }
    }

    public func advertiser(_ id: String) -> Advertiser? { advertisers.first { $0.id == id } }
}

public struct Advertiser: Codable, Sendable {
    public var id: String
    public var keys: [APIKeyEntry]
    public var pools: [Pool]
    public var carriers: Carriers
    public var callCenters: [String]
    /// How far back a call looks for sessions that held its number. Default: 7 days.
    public var lookbackSeconds: Double
    public var autoMatch: AutoMatch
    public var matching: MatchingSettings
    /// Inactivity after which a visitor's next event starts a new session. Default: 30 minutes.
    public var sessionTimeoutSeconds: Double
    /// How long session, call and complete records are kept. Default: 400 days.
    public var retentionDays: Double
    /// Settings of the Google Ads offline click conversion export.
    public var googleAds: GoogleAdsExport

    enum CodingKeys: String, CodingKey {
        case id, keys, pools, carriers, callCenters, lookbackSeconds, autoMatch, matching, sessionTimeoutSeconds
        case retentionDays, googleAds
    }

    public init(id: String, keys: [APIKeyEntry], pools: [Pool], carriers: Carriers = Carriers(),
                callCenters: [String] = []) {
        self.id = id
        self.keys = keys
        self.pools = pools
        self.carriers = carriers
        self.callCenters = callCenters
        self.lookbackSeconds = 604_800
        self.autoMatch = AutoMatch()
        self.matching = MatchingSettings()
        self.sessionTimeoutSeconds = 1800
        self.retentionDays = 400
        self.googleAds = GoogleAdsExport()
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        keys = try container.decodeIfPresent([APIKeyEntry].self, forKey: .keys) ?? []
        pools = try container.decodeIfPresent([Pool].self, forKey: .pools) ?? []
        carriers = try container.decodeIfPresent(Carriers.self, forKey: .carriers) ?? Carriers()
        callCenters = try container.decodeIfPresent([String].self, forKey: .callCenters) ?? []
        lookbackSeconds = try container.decodeIfPresent(Double.self, forKey: .lookbackSeconds) ?? 604_800
        autoMatch = try container.decodeIfPresent(AutoMatch.self, forKey: .autoMatch) ?? AutoMatch()
        matching = try container.decodeIfPresent(MatchingSettings.self, forKey: .matching) ?? MatchingSettings()
        sessionTimeoutSeconds = try container.decodeIfPresent(Double.self, forKey: .sessionTimeoutSeconds) ?? 1800
        retentionDays = try container.decodeIfPresent(Double.self, forKey: .retentionDays) ?? 400
        googleAds = try container.decodeIfPresent(GoogleAdsExport.self, forKey: .googleAds) ?? GoogleAdsExport()
    }

    func validate() throws(ValidationError) {
        for key in keys { try key.validate(owner: "advertiser \(id)") }
        guard lookbackSeconds > 0 else { throw ValidationError("advertiser \(id): lookbackSeconds must be positive") }
        guard sessionTimeoutSeconds > 0 else {
            throw ValidationError("advertiser \(id): sessionTimeoutSeconds must be positive")
        }
        guard (0...1).contains(autoMatch.minProbability), (0...1).contains(autoMatch.minMargin) else {
            throw ValidationError("advertiser \(id): autoMatch thresholds must be between 0 and 1")
        }
        var poolIDs = Set<String>()
        for pool in pools {
            guard Identifier.isValid(pool.id), !pool.id.contains(":") else {
                throw ValidationError("advertiser \(id): pool id \"\(pool.id)\" is invalid")
            }
            guard poolIDs.insert(pool.id).inserted else {
                throw ValidationError("advertiser \(id): pool \(pool.id) appears twice")
            }
            try pool.validate(advertiser: id)
        }
    }

    public func pool(_ id: String) -> Pool? { pools.first { $0.id == id } }

    /// The pool that owns `number`, if any.
    public func pool(owning number: String) -> Pool? { pools.first { $0.numbers.contains(number) } }
}

public struct APIKeyEntry: Codable, Sendable {
    /// `sha256:` followed by the lower-case hex SHA-256 of the key.
    public var hash: String
    public var scopes: [Scope]

    public init(hash: String, scopes: [Scope]) {
        self.hash = hash
        self.scopes = scopes
    }

    func validate(owner: String) throws(ValidationError) {
        // ASCII only: `Character.isHexDigit` also accepts full-width digits and letters, which no SHA-256 hex has.
        let hex = hash.utf8.dropFirst("sha256:".utf8.count)
        let isLowerHex = { (byte: UInt8) in (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) }
        guard hash.hasPrefix("sha256:"), hex.count == 64, hex.allSatisfy(isLowerHex) else {
            throw ValidationError("\(owner): key hash must be \"sha256:\" and 64 lower-case hex digits")
        }
        guard !scopes.isEmpty else { throw ValidationError("\(owner): a key needs at least one scope") }
    }
}

/// What a key may do: `web` (lease, collect), `read` (records, reports, exports), `agent` (calls, matches,
/// outcomes), `admin` (erasure, operations; it does not imply the others) and `carrier` (call events from a
/// carrier without a signature scheme of its own, through the generic webhook).
public enum Scope: String, Codable, Sendable, CaseIterable {
    case web, read, agent, admin, carrier
}

public struct Pool: Codable, Sendable {
    public enum Exhaustion: String, Codable, Sendable { case recycle, fallback }

    public var id: String
    public var numbers: [String]
    /// How long a lease lasts without activity. Default: 900 seconds.
    public var leaseSeconds: Double
    public var exhaustion: Exhaustion
    public var fallbackNumber: String?
    public var forwardTo: String?

    public init(id: String, numbers: [String], leaseSeconds: Double = 900, exhaustion: Exhaustion = .recycle,
                fallbackNumber: String? = nil, forwardTo: String? = nil) {
        self.id = id
        self.numbers = numbers
        self.leaseSeconds = leaseSeconds
        self.exhaustion = exhaustion
        self.fallbackNumber = fallbackNumber
        self.forwardTo = forwardTo
    }

    enum CodingKeys: String, CodingKey { case id, numbers, leaseSeconds, exhaustion, fallbackNumber, forwardTo }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        numbers = try container.decode([String].self, forKey: .numbers)
        leaseSeconds = try container.decodeIfPresent(Double.self, forKey: .leaseSeconds) ?? 900
        exhaustion = try container.decodeIfPresent(Exhaustion.self, forKey: .exhaustion) ?? .recycle
        fallbackNumber = try container.decodeIfPresent(String.self, forKey: .fallbackNumber)
        forwardTo = try container.decodeIfPresent(String.self, forKey: .forwardTo)
    }

    func validate(advertiser: String) throws(ValidationError) {
        let owner = "advertiser \(advertiser), pool \(id)"
        for number in numbers where !E164.isValid(number) {
            throw ValidationError("\(owner): \(number) is not an E.164 number")
        }
        guard leaseSeconds > 0 else { throw ValidationError("\(owner): leaseSeconds must be positive") }
        if let fallbackNumber, !E164.isValid(fallbackNumber) {
            throw ValidationError("\(owner): fallbackNumber is not an E.164 number")
        }
        if let forwardTo, !E164.isValid(forwardTo) {
            throw ValidationError("\(owner): forwardTo is not an E.164 number")
        }
        if exhaustion == .fallback, fallbackNumber == nil {
            throw ValidationError("\(owner): exhaustion \"fallback\" needs a fallbackNumber")
        }
    }
}

public struct Carriers: Codable, Sendable {
    public struct Twilio: Codable, Sendable {
        public var authToken: String
        public init(authToken: String) { self.authToken = authToken }
    }

    public struct Telnyx: Codable, Sendable {
        /// The account's Ed25519 public key, base64.
        public var publicKey: String
        public init(publicKey: String) { self.publicKey = publicKey }
    }

    public var twilio: Twilio?
    public var telnyx: Telnyx?

    public init(twilio: Twilio? = nil, telnyx: Telnyx? = nil) {
        self.twilio = twilio
        self.telnyx = telnyx
    }
}

/// Thresholds for matching a call without an agent.
public struct AutoMatch: Codable, Sendable {
    /// The top candidate's probability must reach this. Default: 0.9.
    public var minProbability: Double = 0.9
    /// The top candidate must lead the second by this much probability. Default: 0.5.
    public var minMargin: Double = 0.5

    public init(minProbability: Double = 0.9, minMargin: Double = 0.5) {
        self.minProbability = minProbability
        self.minMargin = minMargin
    }

    enum CodingKeys: String, CodingKey { case minProbability, minMargin }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        minProbability = try container.decodeIfPresent(Double.self, forKey: .minProbability) ?? 0.9
        minMargin = try container.decodeIfPresent(Double.self, forKey: .minMargin) ?? 0.5
    }
}

/// Time windows and limits of candidate ranking. Replays that compress time scale these with the rest.
public struct MatchingSettings: Codable, Sendable {
    /// A phone-link click at most this long before the call counts as a signal. Default: 300 seconds.
    public var phoneClickWindowSeconds: Double = 300
    /// Activity within this time before the call counts as recent; the signal fades over it. Default: 1800.
    public var recentActivitySeconds: Double = 1800
    /// At most this many candidates are shown; the rest are counted as omitted. Default: 500.
    public var maxCandidates: Int = 500

    public init() {}

    enum CodingKeys: String, CodingKey { case phoneClickWindowSeconds, recentActivitySeconds, maxCandidates }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        phoneClickWindowSeconds = try container.decodeIfPresent(Double.self, forKey: .phoneClickWindowSeconds) ?? 300
        recentActivitySeconds = try container.decodeIfPresent(Double.self, forKey: .recentActivitySeconds) ?? 1800
        maxCandidates = try container.decodeIfPresent(Int.self, forKey: .maxCandidates) ?? 500
    }
}

public struct CallCenter: Codable, Sendable {
    public var id: String
    public var keys: [APIKeyEntry]

    public init(id: String, keys: [APIKeyEntry]) {
        self.id = id
        self.keys = keys
    }
}

/// Which calls the Google Ads export reports, and under which conversion name.
public struct GoogleAdsExport: Codable, Sendable {
    /// The conversion action's name in Google Ads. Default: `Phone call`.
    public var conversionName: String = "Phone call"
    /// Dispositions that count as conversions. Default: sale, lead and appointment.
    public var dispositions: [String] = ["sale", "lead", "appointment"]

    public init() {}

    enum CodingKeys: String, CodingKey { case conversionName, dispositions }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        conversionName = try container.decodeIfPresent(String.self, forKey: .conversionName) ?? "Phone call"
        dispositions = try container.decodeIfPresent([String].self, forKey: .dispositions)
            ?? ["sale", "lead", "appointment"]
    }
}
