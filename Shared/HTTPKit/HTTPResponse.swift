import Foundation
import Model
import ServiceKit

/// A complete response: status, headers in the order they are sent, and the body.
///
/// `HTTPServer` sets `Content-Length` itself and ignores `Content-Length`, `Transfer-Encoding` and `Connection`
/// entries in `headers`. When `headers` has no `Content-Type`, the server sends `application/octet-stream`.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int = 200, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Returns the first value of the header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.0.lowercased() == lowered }?.1
    }

    /// Encodes `value` as JSON with `Content-Type: application/json`.
    ///
    /// Slashes are not escaped, so URLs read as sent. If `value` cannot be encoded (for example a floating-point
    /// infinity), the result is a 500 `internal_error` response, because that is a bug in the handler.
    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else {
            // A handler bug, so it is logged where it happens; the type name carries no request data.
            Logger(label: "http").error("Response not encodable as JSON", metadata: ["type": "\(T.self)"])
            return .error(
                status: 500,
                code: "internal_error",
                message: "The server could not encode its response; please report this error"
            )
        }
        return HTTPResponse(
            status: status,
            headers: [("Content-Type", "application/json")],
            body: Array(data)
        )
    }

    /// A JSON object of string fields, written in the given order without a `JSONEncoder`, for hot endpoints.
    /// A nil value leaves its field out. Give the fields in sorted order to match `json(_:status:)` byte for byte.
    public static func jsonObject(_ fields: KeyValuePairs<String, String?>, status: Int = 200) -> HTTPResponse {
        var writer = JSONWriter()
        writer.beginObject()
        for (name, value) in fields { writer.field(name, value) }
        writer.endObject()
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: writer.bytes)
    }

    public static func text(
        _ text: String,
        status: Int = 200,
        contentType: String = "text/plain; charset=utf-8"
    ) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }

    /// Makes a JSON error response with the body `{"error": code, "message": message}`.
    public static func error(
        status: Int,
        code: String,
        message: String,
        headers: [(String, String)] = []
    ) -> HTTPResponse {
        let body = "{\"error\":" + JSONText.quote(code) + ",\"message\":" + JSONText.quote(message) + "}"
        return HTTPResponse(
            status: status,
            headers: [("Content-Type", "application/json")] + headers,
            body: Array(body.utf8)
        )
    }
}
