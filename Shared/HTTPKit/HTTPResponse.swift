import Foundation
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
        var body: [UInt8] = [UInt8(ascii: "{")]
        body.reserveCapacity(256)
        for (name, value) in fields {
            guard let value else { continue }
            if body.count > 1 { body.append(UInt8(ascii: ",")) }
            appendJSONString(name, to: &body)
            body.append(UInt8(ascii: ":"))
            appendJSONString(value, to: &body)
        }
        body.append(UInt8(ascii: "}"))
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    static func appendJSONString(_ text: String, to body: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        body.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                body.append(UInt8(ascii: "\\"))
                body.append(byte)
            case 0x0A: body.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: body.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: body.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                body.append(contentsOf: Array("\\u00".utf8))
                body.append(hex[Int(byte >> 4)])
                body.append(hex[Int(byte & 0x0F)])
            default:
                body.append(byte)
            }
        }
        body.append(UInt8(ascii: "\""))
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
