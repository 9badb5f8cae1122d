import Foundation

/// The request target of the request line, split into path and query, both as received and decoded.
struct RequestTarget: Sendable {
    /// The path as received, still percent-encoded, without the query.
    let rawPath: String
    /// The query as received, without the `?`; `nil` when the target has no `?`.
    let rawQuery: String?
    /// `rawPath` with every `%XX` decoded.
    let path: String
    /// The query parameters in order, decoded, with `+` read as a space.
    let queryItems: [(String, String)]

    /// Parses an origin-form target (`/path?query`) or an absolute-form one (`http://host/path?query`).
    ///
    /// - Throws: `HTTPError` 400 `invalid_request` when the path or the query has invalid percent-encoding or the
    ///   target is not one of those forms.
    init(_ target: String) throws(HTTPError) {
        var rest = Substring(target)
        if let fragment = rest.firstIndex(of: "#") {
            rest = rest[..<fragment]
        }
        if !rest.hasPrefix("/") {
            rest = try Self.stripSchemeAndAuthority(rest)
        }

        let question = rest.firstIndex(of: "?")
        let rawPath = question.map { rest[..<$0] } ?? rest
        let rawQuery = question.map { rest[rest.index(after: $0)...] }
        guard let path = PercentEncoding.decode(rawPath) else {
            throw HTTPError.badRequest("The request path has invalid percent-encoding; encode bytes as %XX")
        }

        guard let queryItems = PercentEncoding.decodeForm(rawQuery ?? "") else {
            throw HTTPError.badRequest("The query string has invalid percent-encoding; encode bytes as %XX")
        }

        self.rawPath = String(rawPath)
        self.rawQuery = rawQuery.map(String.init)
        self.path = path
        self.queryItems = queryItems
    }

    /// The path segments as received, without the empty one before the leading `/`.
    var rawSegments: [Substring] {
        rawPath.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    private static func stripSchemeAndAuthority(_ target: Substring) throws(HTTPError) -> Substring {
        let lowered = target.prefix(8).lowercased()
        guard lowered.hasPrefix("http://") || lowered.hasPrefix("https://"),
            let schemeEnd = target.range(of: "://")?.upperBound
        else {
            throw HTTPError.badRequest("The request target must be a path starting with /")
        }

        let afterAuthority = target[schemeEnd...]
        guard let slash = afterAuthority.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }

        let remainder = afterAuthority[slash...]
        return remainder.hasPrefix("/") ? remainder : Substring("/" + remainder)
    }
}
