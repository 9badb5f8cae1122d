/// A complete request with its body, as a handler receives it.
public struct HTTPRequest: Sendable {
    /// The method as sent, for example `GET` or `POST`.
    public let method: String
    /// The percent-decoded path without the query, for example `/v1/numbers/+15555550101/history`.
    public let path: String
    /// The path as received, still percent-encoded, without the query.
    public let rawPath: String
    /// The query as received, still percent-encoded, without the `?`; `nil` when the target had no `?`.
    public let rawQuery: String?
    /// The decoded query parameters; when a name repeats, the last value wins.
    public let query: [String: String]
    /// Every decoded query parameter, in the order received.
    public let queryItems: [(String, String)]
    /// The request headers keyed by lower-cased name; repeated headers are joined with `", "`.
    public let headers: [String: String]
    public let body: [UInt8]
    /// The values of the route's `:name` segments, percent-decoded (`%2B` becomes `+`).
    public var pathParameters: [String: String]

    /// Creates a request from a request target as it appears on the request line, for example `/v1/leases?x=1`.
    ///
    /// Handler tests use it to call handlers without a server. Header names may have any case.
    /// - Throws: `HTTPError` 400 `invalid_request` when the target has invalid percent-encoding.
    public init(
        method: String,
        target: String,
        headers: [String: String] = [:],
        body: [UInt8] = [],
        pathParameters: [String: String] = [:]
    ) throws(HTTPError) {
        var lowered: [String: String] = [:]
        for (name, value) in headers { lowered[name.lowercased()] = value }
        self.init(
            method: method,
            target: try RequestTarget(target),
            headers: lowered,
            body: body,
            pathParameters: pathParameters
        )
    }

    init(
        method: String,
        target: RequestTarget,
        headers: [String: String],
        body: [UInt8],
        pathParameters: [String: String]
    ) {
        self.method = method
        self.path = target.path
        self.rawPath = target.rawPath
        self.rawQuery = target.rawQuery
        self.queryItems = target.queryItems
        var query: [String: String] = [:]
        for (name, value) in target.queryItems { query[name] = value }
        self.query = query
        self.headers = headers
        self.body = body
        self.pathParameters = pathParameters
    }

    /// The request target as received: `rawPath`, then `?` and `rawQuery` when the request had a query.
    ///
    /// Webhook signatures are computed over this text, so it is not re-encoded.
    public var rawTarget: String {
        guard let rawQuery else { return rawPath }
        return rawPath + "?" + rawQuery
    }

    /// Returns the value of the header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers[name.lowercased()]
    }
}
