import Foundation

/// The details of a candidate session shown to an agent, enough to ask the caller the right question.
public struct SessionDetails: Codable, Sendable, Equatable {
    public var landingPage: String?
    public var referrer: String?
    public var campaign: Campaign?
    public var clickIds: [String: String]?
    public var pages: [String]
    public var lastActiveAt: String?
    public var location: Location?
    public var device: String?

    public init(landingPage: String?, referrer: String?, campaign: Campaign?, clickIds: [String: String]?,
                pages: [String], lastActiveAt: String?, location: Location?, device: String?) {
        self.landingPage = landingPage
        self.referrer = referrer
        self.campaign = campaign
        self.clickIds = clickIds
        self.pages = pages
        self.lastActiveAt = lastActiveAt
        self.location = location
        self.device = device
    }
}

/// One session that may have placed a call, with its probability and the reasons behind it.
public struct Candidate: Codable, Sendable, Equatable {
    public var sessionId: String
    public var visitorId: String?
    public var probability: Double
    public var score: Double
    public var reasons: [String]
    public var session: SessionDetails?

    public init(sessionId: String, visitorId: String?, probability: Double, score: Double, reasons: [String],
                session: SessionDetails?) {
        self.sessionId = sessionId
        self.visitorId = visitorId
        self.probability = probability
        self.score = score
        self.reasons = reasons
        self.session = session
    }
}

/// The ranked candidate list for a call, published on `calls.screens` keyed by the call id.
public struct CallScreen: Codable, Sendable, Equatable {
    public var callId: String
    public var to: String
    public var from: String?
    public var startedAt: String
    public var candidates: [Candidate]
    /// Candidates left out of `candidates` because of the list's size limit.
    public var omittedCandidates: Int

    public init(callId: String, to: String, from: String?, startedAt: String, candidates: [Candidate],
                omittedCandidates: Int) {
        self.callId = callId
        self.to = to
        self.from = from
        self.startedAt = startedAt
        self.candidates = candidates
        self.omittedCandidates = omittedCandidates
    }

    enum CodingKeys: String, CodingKey { case callId, to, from, startedAt, candidates, omittedCandidates }

    /// Writes `from` as null when the caller withheld their number.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(callId, forKey: .callId)
        try container.encode(to, forKey: .to)
        try container.encode(from, forKey: .from)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(candidates, forKey: .candidates)
        try container.encode(omittedCandidates, forKey: .omittedCandidates)
    }
}

/// The decision of which session a caller is, or none, published on `calls.matches` keyed by the call id.
public struct CallMatch: Codable, Sendable, Equatable, Validating {
    public enum Method: String, Codable, Sendable { case auto, agent, ani }

    public var callId: String
    public var sessionId: String?
    public var visitorId: String?
    public var method: Method
    public var probability: Double?
    public var agentId: String?
    /// When the decision was made; a later decision replaces an earlier one.
    public var decidedAt: String

    public init(callId: String, sessionId: String?, visitorId: String?, method: Method, probability: Double?,
                agentId: String?, decidedAt: String) {
        self.callId = callId
        self.sessionId = sessionId
        self.visitorId = visitorId
        self.method = method
        self.probability = probability
        self.agentId = agentId
        self.decidedAt = decidedAt
    }

    enum CodingKeys: String, CodingKey { case callId, sessionId, visitorId, method, probability, agentId, decidedAt }

    /// Writes `sessionId` as null for "none of these", so the decision is explicit.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(callId, forKey: .callId)
        try container.encode(sessionId, forKey: .sessionId)
        try container.encodeIfPresent(visitorId, forKey: .visitorId)
        try container.encode(method, forKey: .method)
        try container.encodeIfPresent(probability, forKey: .probability)
        try container.encodeIfPresent(agentId, forKey: .agentId)
        try container.encode(decidedAt, forKey: .decidedAt)
    }

    public func validate() throws(ValidationError) {
        guard Identifier.isValid(callId) else { throw ValidationError("callId must be 1 to 128 id characters") }
        if let sessionId, !Identifier.isValidSession(sessionId) {
            throw ValidationError("sessionId must be 1 to 128 id characters or null")
        }
        if let probability, !(0...1).contains(probability) {
            throw ValidationError("probability must be between 0 and 1")
        }
        guard Timestamp.parseMilliseconds(decidedAt) != nil else {
            throw ValidationError("decidedAt is not an RFC 3339 timestamp")
        }
    }
}

/// The result of a call, recorded by the agent and published on `calls.outcomes` keyed by the call id.
public struct CallOutcome: Codable, Sendable, Equatable, Validating {
    public static let dispositions: Set<String> = [
        "sale", "lead", "appointment", "no-sale", "support", "spam", "wrong-number", "voicemail",
    ]

    public var callId: String
    public var disposition: String
    public var revenue: Double?
    public var currency: String?
    public var notes: String?
    public var agentId: String?
    public var recordedAt: String

    public init(callId: String, disposition: String, revenue: Double?, currency: String?, notes: String?,
                agentId: String?, recordedAt: String) {
        self.callId = callId
        self.disposition = disposition
        self.revenue = revenue
        self.currency = currency
        self.notes = notes
        self.agentId = agentId
        self.recordedAt = recordedAt
    }

    public func validate() throws(ValidationError) {
        guard Identifier.isValid(callId) else { throw ValidationError("callId must be 1 to 128 id characters") }
        guard CallOutcome.dispositions.contains(disposition) else {
            throw ValidationError(
                "disposition must be one of \(CallOutcome.dispositions.sorted().joined(separator: ", "))"
            )
        }
        // The cap keeps sums over many calls finite, so reports can always be written as JSON.
        if let revenue, !revenue.isFinite || revenue < 0 || revenue > 1e12 {
            throw ValidationError("revenue must be a number from 0 to 1000000000000")
        }
        if let currency, currency.utf8.count != 3 || !currency.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5a }) {
            throw ValidationError("currency must be a three-letter ISO 4217 code such as USD")
        }
        if revenue != nil, currency == nil { throw ValidationError("currency is required with revenue") }
        if let notes, notes.utf8.count > 4000 { throw ValidationError("notes must be at most 4000 bytes") }
        guard Timestamp.parseMilliseconds(recordedAt) != nil else {
            throw ValidationError("recordedAt is not an RFC 3339 timestamp")
        }
    }
}

/// One attributed call for dashboards, published on `attributions` keyed by the advertiser id. The latest
/// message of a `callId` replaces the earlier ones.
public struct Attribution: Codable, Sendable, Equatable {
    public var callId: String
    public var sessionId: String?
    public var visitorId: String?
    public var to: String?
    public var channel: Channel?
    public var campaign: Campaign?
    public var clickIds: [String: String]
    public var landingPage: String?
    public var referrer: String?
    public var method: CallMatch.Method?
    public var probability: Double?
    public var agentId: String?
    public var startedAt: String?
    public var durationSeconds: Int?
    public var disposition: String?
    public var revenue: Double?
    public var currency: String?
    /// True when the call's match was withdrawn ("none of these"): the call is no longer attributed.
    public var withdrawn: Bool

    public init(callId: String) {
        self.callId = callId
        self.clickIds = [:]
        self.withdrawn = false
    }
}

/// A message that failed validation, published on `deadletter` keyed by the original key.
public struct DeadLetter: Codable, Sendable, Equatable {
    /// The maximum number of bytes of the original message that a dead letter keeps.
    ///
    /// A rejected message near the broker's size limit (1,000,000 bytes by default) grows past it once wrapped in
    /// the envelope or encoded as base64. Without this cap its dead letter fails, and the consumer retries it for ever.
    public static let maxMessageBytes = 64 * 1024

    public var topic: String
    public var partition: Int32?
    public var offset: Int64?
    public var reason: String
    /// The original message as UTF-8 text, or base64 when it was not valid UTF-8 (see `encoding`); at most its first
    /// `maxMessageBytes` bytes (see `truncated`).
    public var message: String
    public var encoding: String
    public var service: String
    /// The size of the original message in bytes; nil in dead letters written before it was recorded.
    public var originalBytes: Int?
    /// Whether `message` holds only the start of the original message.
    public var truncated: Bool

    public init(topic: String, partition: Int32?, offset: Int64?, reason: String, original: [UInt8], service: String) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.reason = reason
        self.service = service
        self.originalBytes = original.count
        self.truncated = original.count > Self.maxMessageBytes
        if let text = String(validating: original, as: UTF8.self) {
            self.message = truncated ? Self.prefix(of: text, maxBytes: Self.maxMessageBytes) : text
            self.encoding = "utf-8"
        } else {
            self.message = Data(original.prefix(Self.maxMessageBytes)).base64EncodedString()
            self.encoding = "base64"
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        topic = try container.decode(String.self, forKey: .topic)
        partition = try container.decodeIfPresent(Int32.self, forKey: .partition)
        offset = try container.decodeIfPresent(Int64.self, forKey: .offset)
        reason = try container.decode(String.self, forKey: .reason)
        message = try container.decode(String.self, forKey: .message)
        encoding = try container.decode(String.self, forKey: .encoding)
        service = try container.decode(String.self, forKey: .service)
        originalBytes = try container.decodeIfPresent(Int.self, forKey: .originalBytes)
        truncated = try container.decodeIfPresent(Bool.self, forKey: .truncated) ?? false
    }

    /// The longest prefix of `text` that fits in `maxBytes` of UTF-8 without splitting a character.
    static func prefix(of text: String, maxBytes: Int) -> String {
        var count = 0
        var end = text.startIndex
        for character in text {
            count += character.utf8.count
            guard count <= maxBytes else { break }

            end = text.index(after: end)
        }
        return String(text[..<end])
    }
}
