import Foundation

extension HTTPRequest {
    /// Decodes the body as JSON into `type`.
    ///
    /// - Throws: `HTTPError` 415 `unsupported_media_type` when a `Content-Type` header is present and names
    ///   neither `application/json` nor a `+json` type; 400 `invalid_json` when the body is empty, is not UTF-8,
    ///   is not JSON, or does not fit `type`, with a message naming the offending field (for example
    ///   `items[2].number`).
    public func decodeJSON<T: Decodable>(
        _ type: T.Type,
        decoder: JSONDecoder = JSONDecoder()
    ) throws(HTTPError) -> T {
        if let contentType = header("content-type"), !Self.isJSON(contentType) {
            throw HTTPError.unsupportedMediaType(contentType, expected: "application/json")
        }
        guard !body.isEmpty else {
            throw HTTPError.badRequest("The request body is empty; send a JSON document", code: "invalid_json")
        }
        // JSON text must be UTF-8 (RFC 8259). JSONDecoder checks only the strings it decodes and skips the values
        // of unknown fields unchecked, so the whole body is checked here.
        guard String(validating: body, as: UTF8.self) != nil else {
            throw HTTPError.badRequest(
                "The request body is not valid UTF-8; send JSON text in UTF-8",
                code: "invalid_json"
            )
        }

        do {
            return try decoder.decode(type, from: Data(body))
        } catch let error as DecodingError {
            throw HTTPError.badRequest(Self.describe(error), code: "invalid_json")
        } catch {
            throw HTTPError.badRequest("The request body is not valid JSON", code: "invalid_json")
        }
    }

    /// Decodes an `application/x-www-form-urlencoded` body into its fields, in order, with `+` read as a space.
    ///
    /// An empty body has no fields.
    /// - Throws: `HTTPError` 415 `unsupported_media_type` when a `Content-Type` header is present and is not
    ///   `application/x-www-form-urlencoded`; 400 `invalid_form` when a field has invalid percent-encoding or
    ///   the decoded text is not UTF-8.
    public func formParameters() throws(HTTPError) -> [(String, String)] {
        if let contentType = header("content-type"),
            Self.mediaType(contentType) != "application/x-www-form-urlencoded"
        {
            throw HTTPError.unsupportedMediaType(contentType, expected: "application/x-www-form-urlencoded")
        }
        guard let text = String(validating: body, as: UTF8.self),
            let fields = PercentEncoding.decodeForm(Substring(text))
        else {
            throw HTTPError.badRequest(
                "The form body has invalid percent-encoding or is not UTF-8; encode bytes as %XX",
                code: "invalid_form"
            )
        }
        return fields
    }

    /// True when the request has no `Content-Type` or a JSON one, as `decodeJSON` requires.
    public var hasJSONContentType: Bool {
        header("content-type").map(Self.isJSON) ?? true
    }

    /// Returns the media type of a `Content-Type` value, lower-cased and without parameters such as `charset`.
    static func mediaType(_ contentType: String) -> String {
        let type = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return type.trimmingHeaderWhitespace().lowercased()
    }

    static func isJSON(_ contentType: String) -> Bool {
        let type = mediaType(contentType)
        return type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json"))
    }

    /// Builds a message that names the field a `DecodingError` is about and what was wrong with it.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "\(subject(context.codingPath + [key])) is missing"
        case .valueNotFound(let type, let context):
            return "\(subject(context.codingPath)) is null; expected \(typeName(type))"
        case .typeMismatch(let type, let context):
            return "\(subject(context.codingPath)) has the wrong type; expected \(typeName(type))"
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "The request body is not valid JSON: \(underlyingReason(context))"
        case .dataCorrupted(let context):
            return "\(subject(context.codingPath)) is invalid: \(context.debugDescription)"
        @unknown default:
            return "The request body does not match the expected JSON document"
        }
    }

    /// Names the subject of a decoding message: the field as `items[2].number`, or the whole document.
    static func subject(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text.isEmpty ? "The JSON document" : "The field `\(text)`"
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type, is UInt32.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: "\(type)"
        }
    }

    private static func underlyingReason(_ context: DecodingError.Context) -> String {
        if let underlying = context.underlyingError as? NSError,
            let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String
        {
            return detail
        }
        return context.debugDescription
    }
}

extension Substring {
    /// Removes the spaces and tabs that HTTP allows around a header value or its parts (RFC 9110 `OWS`), without
    /// Foundation's `CharacterSet`, which costs more than the rest of a lease request's header handling.
    public func trimmingHeaderWhitespace() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
