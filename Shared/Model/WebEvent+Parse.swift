/// A type that can be read from a parsed `JSONValue` the way its `Decodable` conformance reads it.
///
/// `init?(json:)` gives nil whenever the value does not decode cleanly (a missing field, a value of another type,
/// an unknown enum case). The caller then decodes with `JSONDecoder`, which gives the error its exact wording.
public protocol JSONValueReadable {
    init?(json: JSONValue)
}

/// Field readers that mirror the decoding of `Codable`'s synthesized conformances.
struct JSONFields {
    let fields: [String: JSONValue]

    init?(_ value: JSONValue) {
        guard case .object(let fields) = value else { return nil }
        self.fields = fields
    }

    /// Reads a required string; nil when it is absent, null or of another type.
    func string(_ key: String) -> String? {
        guard case .string(let text)? = fields[key] else { return nil }
        return text
    }

    /// Reads an optional field as `decodeIfPresent` does: `.some(nil)` for absent or null, nil when the value is
    /// there but cannot be read.
    func optional<T>(_ key: String, _ read: (JSONValue) -> T?) -> T?? {
        guard let value = fields[key], value != .null else { return .some(nil) }
        guard let read = read(value) else { return nil }
        return .some(read)
    }

    func optionalString(_ key: String) -> String?? {
        optional(key) { value in
            guard case .string(let text) = value else { return nil }
            return text
        }
    }

    func optionalObject(_ key: String) -> [String: JSONValue]?? {
        optional(key) { value in
            guard case .object(let object) = value else { return nil }
            return object
        }
    }
}

extension WebEvent: JSONValueReadable {
    public init?(json: JSONValue) {
        guard let fields = JSONFields(json),
              let kind = fields.string("type").flatMap(Kind.init(rawValue:)),
              let messageId = fields.string("messageId"),
              let sessionId = fields.string("sessionId"),
              let anonymousId = fields.optionalString("anonymousId"),
              let userId = fields.optionalString("userId"),
              let timestamp = fields.optionalString("timestamp"),
              let sentAt = fields.optionalString("sentAt"),
              let receivedAt = fields.optionalString("receivedAt"),
              let event = fields.optionalString("event"),
              let name = fields.optionalString("name"),
              let properties = fields.optionalObject("properties"),
              let traits = fields.optionalObject("traits"),
              let context = fields.optional("context", WebContext.init(json:))
        else { return nil }
        self.init(type: kind, messageId: messageId, anonymousId: anonymousId, sessionId: sessionId,
                  timestamp: timestamp, event: event, properties: properties, traits: traits, context: context)
        self.userId = userId
        self.sentAt = sentAt
        self.receivedAt = receivedAt
        self.name = name
    }
}

extension WebContext: JSONValueReadable {
    public init?(json: JSONValue) {
        guard let fields = JSONFields(json),
              let ip = fields.optionalString("ip"),
              let userAgent = fields.optionalString("userAgent"),
              let campaign = fields.optional("campaign", Campaign.init(json:)),
              let location = fields.optional("location", Location.init(json:)),
              let page = fields.optional("page", PageContext.init(json:)),
              let locale = fields.optionalString("locale")
        else { return nil }
        self.init(ip: ip, userAgent: userAgent, campaign: campaign, location: location, page: page)
        self.locale = locale
    }
}

extension PageContext: JSONValueReadable {
    public init?(json: JSONValue) {
        guard let fields = JSONFields(json),
              let url = fields.optionalString("url"),
              let referrer = fields.optionalString("referrer"),
              let path = fields.optionalString("path"),
              let title = fields.optionalString("title")
        else { return nil }
        self.init(url: url, referrer: referrer, path: path, title: title)
    }
}

extension Campaign: JSONValueReadable {
    public init?(json: JSONValue) {
        guard let fields = JSONFields(json),
              let source = fields.optionalString("source"),
              let medium = fields.optionalString("medium"),
              let name = fields.optionalString("name"),
              let term = fields.optionalString("term"),
              let content = fields.optionalString("content")
        else { return nil }
        self.init(source: source, medium: medium, name: name, term: term, content: content)
    }
}

extension Location: JSONValueReadable {
    public init?(json: JSONValue) {
        guard let fields = JSONFields(json),
              let country = fields.optionalString("country"),
              let region = fields.optionalString("region"),
              let city = fields.optionalString("city"),
              let postalCode = fields.optionalString("postalCode")
        else { return nil }
        self.init(country: country, region: region, city: city, postalCode: postalCode)
    }
}

extension WebEvent {
    /// Removes user names and passwords (`https://user:secret@host/`) from the page and referrer URLs, because
    /// credentials must not be stored or published.
    public mutating func removeURLCredentials() {
        for key in ["url", "referrer"] {
            if case .string(let url)? = properties?[key], let clean = Self.withoutCredentials(url) {
                properties?[key] = .string(clean)
            }
        }
        if let url = context?.page?.url, let clean = Self.withoutCredentials(url) { context?.page?.url = clean }
        if let url = context?.page?.referrer, let clean = Self.withoutCredentials(url) {
            context?.page?.referrer = clean
        }
    }

    /// Returns `url` without the user information of its authority, or nil when it has none.
    static func withoutCredentials(_ url: String) -> String? {
        guard url.utf8.contains(UInt8(ascii: "@")), let authority = authority(of: url),
              let at = authority.lastIndex(of: UInt8(ascii: "@"))
        else { return nil }
        return String(url[..<authority.startIndex]) + String(url[url.utf8.index(after: at)...])
    }

    /// Returns the authority of a URL with `scheme://`, user information included: the bytes up to the path,
    /// query or fragment. Nil for a URL without `//` after its scheme.
    static func authority(of url: String) -> Substring.UTF8View? {
        let bytes = url.utf8
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let afterScheme = bytes[bytes.index(after: colon)...]
        guard afterScheme.starts(with: "//".utf8) else { return nil }
        return Substring(url)[bytes.index(afterScheme.startIndex, offsetBy: 2)...].utf8.prefix {
            $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#")
        }
    }
}
