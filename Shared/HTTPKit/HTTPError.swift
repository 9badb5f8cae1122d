/// An error that a handler throws to send a specific HTTP error response.
///
/// `HTTPServer` turns it into `status` with the body `{"error": code, "message": message}` and adds `headers`.
/// Clients see the message, so it should state what was wrong and how to fix it, and must not contain secrets.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public let status: Int
    /// A stable machine-readable code such as `invalid_request`, for clients to branch on.
    public let code: String
    public let message: String
    public var headers: [(String, String)]

    public init(status: Int, code: String, message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public var description: String { "HTTPError(\(status) \(code)): \(message)" }

    /// The error response this error stands for.
    public var response: HTTPResponse {
        .error(status: status, code: code, message: message, headers: headers)
    }

    /// 400, for a request the handler cannot accept as sent.
    public static func badRequest(_ message: String, code: String = "invalid_request") -> HTTPError {
        HTTPError(status: 400, code: code, message: message)
    }

    /// 401, for a missing or unknown API key.
    public static func unauthorized(
        _ message: String = "Missing or unknown API key; send it as `Authorization: Bearer KEY`"
    ) -> HTTPError {
        HTTPError(status: 401, code: "unauthorized", message: message)
    }

    /// 403, for a key that lacks the scope the endpoint needs.
    public static func forbidden(_ message: String = "The API key lacks the scope this endpoint needs") -> HTTPError {
        HTTPError(status: 403, code: "forbidden", message: message)
    }

    /// 404, for a resource that does not exist or belongs to another tenant.
    public static func notFound(_ message: String = "Not found") -> HTTPError {
        HTTPError(status: 404, code: "not_found", message: message)
    }

    /// 503 with a `Retry-After` header, for a dependency that is down or a server that is shutting down.
    public static func unavailable(_ message: String, retryAfterSeconds: Int) -> HTTPError {
        HTTPError(
            status: 503,
            code: "unavailable",
            message: message,
            headers: [("Retry-After", String(max(0, retryAfterSeconds)))]
        )
    }

    /// 413, for a request body larger than the server accepts.
    public static func payloadTooLarge(maxBodyBytes: Int) -> HTTPError {
        HTTPError(
            status: 413,
            code: "payload_too_large",
            message: "The request body is larger than the limit of \(maxBodyBytes) bytes"
        )
    }

    /// 415, for a body whose `Content-Type` is not the one the endpoint reads.
    public static func unsupportedMediaType(_ contentType: String, expected: String) -> HTTPError {
        HTTPError(
            status: 415,
            code: "unsupported_media_type",
            message: "Content-Type \(contentType.prefix(100)) is not supported; send \(expected)"
        )
    }
}
