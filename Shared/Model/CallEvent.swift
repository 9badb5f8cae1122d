/// A carrier's report about a call, normalized, published on `calls.events` keyed by the call id.
public struct CallEvent: Codable, Sendable, Equatable, Validating {
    public enum Status: String, Codable, Sendable, CaseIterable {
        case started, ringing, answered, completed, failed
    }

    public var callId: String
    public var carrier: String
    public var to: String
    /// E.164, or nil when the caller's number is withheld.
    public var from: String?
    public var callerLocation: Location?
    public var status: Status
    public var durationSeconds: Int?
    /// When the carrier says the event happened (RFC 3339).
    public var occurredAt: String

    public init(callId: String, carrier: String, to: String, from: String?, callerLocation: Location?,
                status: Status, durationSeconds: Int?, occurredAt: String) {
        self.callId = callId
        self.carrier = carrier
        self.to = to
        self.from = from
        self.callerLocation = callerLocation
        self.status = status
        self.durationSeconds = durationSeconds
        self.occurredAt = occurredAt
    }

    public var cloudEventType: String { "ringtrail.call.\(status.rawValue)" }

    enum CodingKeys: String, CodingKey {
        case callId, carrier, to, from, callerLocation, status, durationSeconds, occurredAt
    }

    /// Writes `from` as null when the caller withheld their number, so consumers see it was absent.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(callId, forKey: .callId)
        try container.encode(carrier, forKey: .carrier)
        try container.encode(to, forKey: .to)
        try container.encode(from, forKey: .from)
        try container.encodeIfPresent(callerLocation, forKey: .callerLocation)
        try container.encode(status, forKey: .status)
        try container.encodeIfPresent(durationSeconds, forKey: .durationSeconds)
        try container.encode(occurredAt, forKey: .occurredAt)
    }

    public func validate() throws(ValidationError) {
        guard Identifier.isValid(callId) else { throw ValidationError("callId must be 1 to 128 id characters") }
        guard E164.isValid(to) else { throw ValidationError("to must be an E.164 number") }
        if let from, !E164.isValid(from) { throw ValidationError("from must be an E.164 number or null") }
        if let durationSeconds, durationSeconds < 0 { throw ValidationError("durationSeconds must not be negative") }
        guard !carrier.isEmpty, carrier.utf8.count <= 64 else { throw ValidationError("carrier must be 1 to 64 bytes") }
        if let location = callerLocation {
            for (field, value) in [("country", location.country), ("region", location.region), ("city", location.city),
                                   ("postalCode", location.postalCode)] {
                if let value, value.utf8.count > 128 {
                    throw ValidationError("callerLocation.\(field) is longer than 128 bytes")
                }
            }
        }
        guard Timestamp.parseMilliseconds(occurredAt) != nil else {
            throw ValidationError("occurredAt is not an RFC 3339 timestamp")
        }
    }
}

/// The syntax of an E.164 number; whether it exists is libphonenumber's question.
public enum E164 {
    /// True for `+` followed by 8 to 15 digits, the first not 0.
    public static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count >= 9, bytes.count <= 16, bytes[0] == UInt8(ascii: "+"), bytes[1] != UInt8(ascii: "0")
        else { return false }
        return bytes.dropFirst().allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}
