/// One event of the web tier, with Segment's field names plus Ringtrail's `sessionId`.
///
/// Published on `web.activity` (key: session id) as the `data` of a `ringtrail.web.page`, `.track` or `.identify`
/// event, and accepted in batches by the collect endpoint.
public struct WebEvent: Codable, Sendable, Equatable, Validating, TypedPayload {
    public enum Kind: String, Codable, Sendable { case page, track, identify }

    public var type: Kind
    public var messageId: String
    public var anonymousId: String?
    public var userId: String?
    public var sessionId: String
    public var timestamp: String?
    public var sentAt: String?
    /// Set by Ringtrail when the event arrived; used to correct the client's clock.
    public var receivedAt: String?
    /// The action of a `track` event, such as `Phone Link Clicked`.
    public var event: String?
    public var name: String?
    public var properties: [String: JSONValue]?
    public var traits: [String: JSONValue]?
    public var context: WebContext?

    public init(
        type: Kind,
        messageId: String,
        anonymousId: String?,
        sessionId: String,
        timestamp: String?,
        event: String? = nil,
        properties: [String: JSONValue]? = nil,
        traits: [String: JSONValue]? = nil,
        context: WebContext? = nil
    ) {
        self.type = type
        self.messageId = messageId
        self.anonymousId = anonymousId
        self.sessionId = sessionId
        self.timestamp = timestamp
        self.event = event
        self.properties = properties
        self.traits = traits
        self.context = context
    }

    public func validate() throws(ValidationError) {
        guard !messageId.isEmpty, messageId.utf8.count <= 200 else {
            throw ValidationError("messageId must be 1 to 200 bytes")
        }
        // The collect endpoint replaces an unpaired surrogate with U+FFFD, so two different ids could become equal
        // and one event would be dropped as a duplicate.
        guard !messageId.unicodeScalars.contains(where: { Self.isControl($0) || $0 == "\u{FFFD}" }) else {
            throw ValidationError("messageId must not contain control characters or U+FFFD")
        }
        guard Identifier.isValid(sessionId) else {
            throw ValidationError("sessionId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
        }
        if let anonymousId, !Identifier.isValid(anonymousId) {
            throw ValidationError("anonymousId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
        }
        for (field, value) in [("timestamp", timestamp), ("sentAt", sentAt), ("receivedAt", receivedAt)] {
            if let value, Timestamp.parseMilliseconds(value) == nil {
                throw ValidationError("\(field) is not an RFC 3339 timestamp: \"\(value.prefix(64))\"")
            }
        }
        for (field, value, limit) in [
            ("properties.url", pageURL, 8192), ("properties.referrer", referrer, 8192),
            ("properties.title", properties?["title"]?.text, 1024), ("event", event, 256),
            ("context.userAgent", context?.userAgent, 2048),
        ] {
            if let value, value.utf8.count > limit {
                throw ValidationError("\(field) is longer than \(limit) bytes")
            }
        }
        if type == .track, (event ?? "").isEmpty {
            throw ValidationError("a track event needs an event name in \"event\"")
        }
        let urlField = properties?["url"]?.text != nil ? "properties.url" : "context.page.url"
        let referrerField = properties?["referrer"]?.text != nil ? "properties.referrer" : "context.page.referrer"
        for (field, value) in [(urlField, pageURL), (referrerField, referrer)] {
            if let value, value.unicodeScalars.contains(where: Self.isControl) {
                throw ValidationError("\(field) must not contain control characters")
            }
        }
        // Channel.host reads the scheme without case, as URLs do, and gives nil for anything but http(s) with a host.
        if type == .page, let url = pageURL, Channel.host(of: url) == nil {
            throw ValidationError("\(urlField) must be an http or https URL with a host")
        }
        if type == .page, let url = pageURL, let problem = Self.authorityProblem(url) {
            throw ValidationError("\(urlField) has \(problem)")
        }
    }

    /// Describes what is wrong with the host or port of an http(s) URL, or returns nil. Hosts may be
    /// internationalized (UTF-8) or IPv6 literals in brackets; ASCII is limited to what RFC 3986 allows in a
    /// registered name, and a port is at most 65535.
    static func authorityProblem(_ url: String) -> String? {
        guard var authority = Self.authority(of: url) else { return nil }
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[authority.index(after: at)...] }

        var port: Substring.UTF8View.SubSequence?
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else { return "an unclosed IPv6 host" }
            let rest = authority[authority.index(after: close)...]
            guard rest.isEmpty || rest.first == UInt8(ascii: ":") else { return "text after its IPv6 host" }
            port = rest.isEmpty ? nil : rest.dropFirst()
        } else {
            let host = authority.prefix { $0 != UInt8(ascii: ":") }
            let allowed = { (byte: UInt8) in
                byte >= 0x80 || (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
                    || "-._~!$&'()*+,;=%".utf8.contains(byte)
            }
            guard host.allSatisfy(allowed) else { return "a character that is not allowed in a host" }
            if host.count < authority.count { port = authority[authority.index(host.endIndex, offsetBy: 1)...] }
        }
        if let port, !port.isEmpty {
            guard port.count <= 5, port.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let number = Int(String(decoding: port, as: UTF8.self)), (1...65535).contains(number)
            else { return "an invalid port; use 1 to 65535" }
        }
        return nil
    }

    /// True for C0 and C1 control characters and DEL.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// The page URL: `properties.url`, else `context.page.url`.
    public var pageURL: String? { properties?["url"]?.text ?? context?.page?.url }

    public var referrer: String? { properties?["referrer"]?.text ?? context?.page?.referrer }

    /// The CloudEvents type this event is published under.
    public var cloudEventType: String { "ringtrail.web.\(type.rawValue)" }

    public var payloadType: String { type.rawValue }

    /// True for a `tel:` link or call button tap.
    public var isPhoneClick: Bool {
        guard type == .track, let event = event?.lowercased() else { return false }
        return event.contains("phone") || event.contains("call") || event.hasPrefix("tel")
    }
}

/// The `context` object of a web event.
public struct WebContext: Codable, Sendable, Equatable {
    public var ip: String?
    public var userAgent: String?
    public var campaign: Campaign?
    public var location: Location?
    public var page: PageContext?
    public var locale: String?

    public init(
        ip: String? = nil,
        userAgent: String? = nil,
        campaign: Campaign? = nil,
        location: Location? = nil,
        page: PageContext? = nil
    ) {
        self.ip = ip
        self.userAgent = userAgent
        self.campaign = campaign
        self.location = location
        self.page = page
    }
}

public struct PageContext: Codable, Sendable, Equatable {
    public var url: String?
    public var referrer: String?
    public var path: String?
    public var title: String?
}

/// UTM campaign fields; absent fields are left out of JSON.
public struct Campaign: Codable, Sendable, Equatable, Hashable {
    public var source: String?
    public var medium: String?
    public var name: String?
    public var term: String?
    public var content: String?

    public init(source: String? = nil, medium: String? = nil, name: String? = nil, term: String? = nil,
                content: String? = nil) {
        self.source = source
        self.medium = medium
        self.name = name
        self.term = term
        self.content = content
    }

    public var isEmpty: Bool { [source, medium, name, term, content].allSatisfy { $0 == nil } }
}

public struct Location: Codable, Sendable, Equatable, Hashable {
    public var country: String?
    public var region: String?
    public var city: String?
    public var postalCode: String?

    public init(country: String? = nil, region: String? = nil, city: String? = nil, postalCode: String? = nil) {
        self.country = country
        self.region = region
        self.city = city
        self.postalCode = postalCode
    }
}

extension Campaign: JSONWritable {
    /// Writes the tags in sorted order, as `JSONEncoder` writes them with `.sortedKeys`. Every session record
    /// with tags stores this JSON.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("content", content)
        writer.field("medium", medium)
        writer.field("name", name)
        writer.field("source", source)
        writer.field("term", term)
        writer.endObject()
    }
}

extension Location: JSONWritable {
    /// Writes the fields in sorted order, as `JSONEncoder` writes them with `.sortedKeys`.
    public func write(to writer: inout JSONWriter) {
        writer.beginObject()
        writer.field("city", city)
        writer.field("country", country)
        writer.field("postalCode", postalCode)
        writer.field("region", region)
        writer.endObject()
    }
}

extension JSONWriter {
    /// Returns the JSON text of `value`, the same as `JSONEncoder` gives with `.sortedKeys` and
    /// `.withoutEscapingSlashes`.
    public static func text(of value: some JSONWritable) -> String {
        var writer = JSONWriter()
        value.write(to: &writer)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    /// Returns the JSON text of a string dictionary with its keys sorted, as `JSONEncoder` writes it.
    public static func text(of dictionary: [String: String]) -> String {
        var writer = JSONWriter()
        writer.beginObject()
        for key in dictionary.keys.sorted() { writer.field(key, dictionary[key]) }
        writer.endObject()
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}

/// Rules for ids that end up in Redis keys and URLs.
public enum Identifier {
    /// True for a session id: a valid id, or one followed by `~` and a visit number of 2 or more, which the
    /// activity-ingester gives a session that continued an id after inactivity. Client ids cannot contain `~`, so
    /// the two never clash.
    public static func isValidSession(_ value: String) -> Bool {
        guard let tilde = value.lastIndex(of: "~") else { return isValid(value) }
        let visit = value[value.index(after: tilde)...]
        guard let number = Int(visit), number >= 2, visit.first != "0" else { return false }
        return isValid(String(value[..<tilde]))
    }

    /// True for 1 to 128 characters of letters, digits, `-`, `_`, `.` and `:`.
    public static func isValid(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= 128 else { return false }
        return value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x2d || byte == 0x5f || byte == 0x2e || byte == 0x3a
        }
    }
}
