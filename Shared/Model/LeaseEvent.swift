/// A change of a number's lease, published on `number.leases` keyed by the tracking number.
public struct LeaseEvent: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        case granted, renewed, recycled, fallback
    }

    public var pool: String
    public var number: String
    public var sessionId: String
    public var visitorId: String?
    public var status: Status
    public var from: String
    public var until: String?

    public init(pool: String, number: String, sessionId: String, visitorId: String?, status: Status, from: String,
                until: String?) {
        self.pool = pool
        self.number = number
        self.sessionId = sessionId
        self.visitorId = visitorId
        self.status = status
        self.from = from
        self.until = until
    }

    public var cloudEventType: String { "ringtrail.lease.\(status.rawValue)" }
}

extension LeaseEvent: JSONWritable {
    /// The fields in sorted order, as `JSONEncoder` writes them with `.sortedKeys`; `number.leases` carries one
    /// event per page view, so this skips `JSONEncoder`.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("from", from)
        writer.field("number", number)
        writer.field("pool", pool)
        writer.field("sessionId", sessionId)
        writer.field("status", status.rawValue)
        writer.field("until", until)
        writer.field("visitorId", visitorId)
        writer.endObject()
    }
}
