import Foundation

/// A CloudEvents 1.0 event in structured JSON mode, with Ringtrail's extension attribute `advertiserid`.
///
/// `id` is unique per event and is what consumers de-duplicate on; `time` is RFC 3339 UTC with milliseconds.
public struct CloudEvent<Payload: Codable & Sendable>: Codable, Sendable {
    public var specversion: String = "1.0"
    public var id: String
    public var source: String
    public var type: String
    public var time: String
    public var subject: String?
    public var datacontenttype: String = "application/json"
    public var advertiserid: String
    public var data: Payload

    public init(
        id: String = UUID().uuidString.lowercased(),
        source: String,
        type: String,
        time: Date = Date(),
        subject: String?,
        advertiserID: String,
        data: Payload
    ) {
        self.id = id
        self.source = source
        self.type = type
        self.time = Timestamp.format(time)
        self.subject = subject
        self.advertiserid = advertiserID
        self.data = data
    }

    /// Decodes the attributes. A missing `datacontenttype` reads as `application/json`, because CloudEvents 1.0 makes
    /// the attribute optional and its JSON event format treats such data as JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        specversion = try container.decode(String.self, forKey: .specversion)
        id = try container.decode(String.self, forKey: .id)
        source = try container.decode(String.self, forKey: .source)
        type = try container.decode(String.self, forKey: .type)
        time = try container.decode(String.self, forKey: .time)
        subject = try container.decodeIfPresent(String.self, forKey: .subject)
        datacontenttype = try container.decodeIfPresent(String.self, forKey: .datacontenttype) ?? "application/json"
        advertiserid = try container.decode(String.self, forKey: .advertiserid)
        data = try container.decode(Payload.self, forKey: .data)
    }

    /// Encodes the event as compact JSON with sorted keys, so equal events give equal bytes.
    public func encoded() -> [UInt8] {
        if let writable = data as? any JSONWritable {
            var writer = JSONWriter(capacity: 512)
            writer.beginObject()
            writer.field("advertiserid", advertiserid)
            writer.key("data")
            writable.write(to: &writer)
            writer.field("datacontenttype", datacontenttype)
            writer.field("id", id)
            writer.field("source", source)
            writer.field("specversion", specversion)
            writer.field("subject", subject)
            writer.field("time", time)
            writer.field("type", type)
            writer.endObject()
            return writer.bytes
        }
        // JSONEncoder fails only on a non-finite Double (NaN or infinity), and the result is then empty.
        return (try? CloudEvent.encoder.encode(self)).map(Array.init) ?? []
    }

    /// Decodes and validates an event of the expected `Payload`.
    ///
    /// - Throws: `ValidationError` saying what is wrong: not JSON, a missing or invalid envelope attribute, a
    ///   data field of the wrong type (with its path), or a payload that fails its own validation.
    public static func decode(_ bytes: [UInt8], expectedTypes: Set<String>? = nil) throws(ValidationError) -> Self {
        // Text that is not JSON is rejected here, with where and why: JSONDecoder would report an unpaired surrogate
        // or a huge number as a value of the wrong type, and deep nesting would cost it seconds per message.
        let tree: JSONValue?
        switch JSONValue.read(bytes) {
        case .success(let value): tree = value
        case .failure(.invalid(let reason)): throw ValidationError("not valid JSON: \(reason)")
        case .failure(.deferred): tree = nil
        }
        let event: Self
        do {
            if let tree, let fast = Self.read(tree) {
                event = fast
            } else {
                event = try CloudEvent.decoder.decode(Self.self, from: Data(bytes))
            }
        } catch let error as DecodingError {
            throw ValidationError(describing: error)
        } catch {
            throw ValidationError("not valid JSON")
        }
        try event.validateEnvelope(expectedTypes: expectedTypes)
        if let validating = event.data as? any Validating {
            try validating.validate()
        }
        return event
    }

    /// Reads the event without `JSONDecoder`, for payloads that are `JSONValueReadable`; nil when the bytes need
    /// `JSONDecoder`, to decode them or to explain what is wrong. It does not validate.
    public static func readWithoutDecoder(_ bytes: [UInt8]) -> Self? {
        JSONValue.parse(bytes).flatMap(read)
    }

    private static func read(_ tree: JSONValue) -> Self? {
        guard let readable = Payload.self as? any JSONValueReadable.Type, let fields = JSONFields(tree),
              let specversion = fields.string("specversion"), let id = fields.string("id"),
              let source = fields.string("source"), let type = fields.string("type"), let time = fields.string("time"),
              let subject = fields.optionalString("subject"),
              let datacontenttype = fields.optionalString("datacontenttype"),
              let advertiserid = fields.string("advertiserid"),
              let dataValue = fields.fields["data"], let data = readable.init(json: dataValue) as? Payload
        else { return nil }
        var event = CloudEvent(id: id, source: source, type: type, subject: subject, advertiserID: advertiserid,
                               data: data)
        event.specversion = specversion
        event.time = time
        event.datacontenttype = datacontenttype ?? "application/json"
        return event
    }

    /// The maximum id length in bytes. Collect publishes web events with the id `<advertiser id>:<messageId>`,
    /// which is up to 128 + 1 + 200 bytes long.
    public static var maxIdBytes: Int { 512 }

    private func validateEnvelope(expectedTypes: Set<String>?) throws(ValidationError) {
        guard specversion == "1.0" else { throw ValidationError("specversion must be \"1.0\", got \"\(specversion)\"") }
        guard !id.isEmpty, id.utf8.count <= Self.maxIdBytes else {
            throw ValidationError("id must be 1 to \(Self.maxIdBytes) bytes")
        }
        guard !source.isEmpty else { throw ValidationError("source must not be empty") }
        guard !advertiserid.isEmpty else { throw ValidationError("advertiserid must not be empty") }
        guard Timestamp.parseMilliseconds(time) != nil else {
            throw ValidationError("time is not an RFC 3339 timestamp: \"\(time.prefix(64))\"")
        }
        if let expectedTypes, !expectedTypes.contains(type) {
            throw ValidationError("type \"\(type.prefix(64))\" is not one of \(expectedTypes.sorted().joined(separator: ", "))")
        }
        if let typed = data as? any TypedPayload, typed.cloudEventType != type {
            throw ValidationError("type \(type) does not match the event's type \(typed.payloadType)")
        }
    }

    static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static var decoder: JSONDecoder { JSONDecoder() }
}

/// The envelope attributes alone, for routing a message before its payload type is known.
public struct CloudEventHeader: Decodable, Sendable {
    public var id: String
    public var type: String
    public var advertiserid: String
    public var time: String

    public static func decode(_ bytes: [UInt8]) throws(ValidationError) -> CloudEventHeader {
        do {
            return try JSONDecoder().decode(CloudEventHeader.self, from: Data(bytes))
        } catch {
            // JSONValue.read names where the text stops being JSON; it runs only for a rejected message.
            if case .failure(.invalid(let reason)) = JSONValue.read(bytes) {
                throw ValidationError("not valid JSON: \(reason)")
            }
            if let error = error as? DecodingError { throw ValidationError(describing: error) }
            throw ValidationError("not valid JSON")
        }
    }
}

/// A payload that names its own CloudEvents type, which the envelope's `type` must match.
public protocol TypedPayload {
    var cloudEventType: String { get }
    /// The payload's own name for its type, for messages.
    var payloadType: String { get }
}

/// A payload that checks its own fields after decoding.
public protocol Validating {
    /// - Throws: `ValidationError` naming the first invalid field.
    func validate() throws(ValidationError)
}

/// Why a message or request body was rejected, in words that name the field and the fix.
public struct ValidationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }

    /// Turns a `DecodingError` into a reason with the JSON path of the offending field.
    public init(describing error: DecodingError) {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "the document" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.isEmpty ? "" : " in \(path(context.codingPath))"
            self.init("missing field \(key.stringValue)\(parent)")
        case .typeMismatch(let type, let context):
            self.init("\(path(context.codingPath)) has the wrong type, expected \(Self.name(of: type))")
        case .valueNotFound(let type, let context):
            self.init("\(path(context.codingPath)) is null, expected \(Self.name(of: type))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                self.init("not valid JSON")
            } else {
                // The decoder's own text names Swift types, so the reason names only the field.
                self.init("\(path(context.codingPath)) has an invalid value")
            }
        @unknown default:
            self.init("invalid document")
        }
    }

    private static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is any BinaryInteger.Type, is any BinaryFloatingPoint.Type: "a number"
        case is Bool.Type: "a boolean"
        default: "\(type)".contains("Array") ? "an array" : "an object"
        }
    }
}
