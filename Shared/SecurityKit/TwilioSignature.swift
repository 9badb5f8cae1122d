/// Twilio's `X-Twilio-Signature` webhook signature: HMAC-SHA1 over the request URL and the form parameters.
///
/// Twilio builds the signed text from the full URL it requested, query string included, followed by every
/// POST parameter, sorted by name and then value, as its name and value with no separators. It signs that
/// text with HMAC-SHA1 under the account's auth token and sends the Base64 result. Requests with a JSON body
/// are signed differently (a `bodySHA256` query parameter) and are not covered here.
public enum TwilioSignature {
    /// The HTTP header that carries the signature.
    public static let header = "X-Twilio-Signature"

    /// Returns the Base64 signature Twilio sends for a request to `url` with the form `parameters`.
    ///
    /// - Parameters:
    ///   - url: the URL exactly as Twilio requested it, with scheme, host, any port, path and query string.
    ///   - parameters: the decoded form fields of a POST, in any order, repeated names included; empty for GET.
    ///     A name sent twice with the same value is signed once, as Twilio's helper libraries do.
    ///   - authToken: the account's auth token.
    public static func compute(url: String, parameters: [(String, String)], authToken: String) -> String {
        var text = Array(url.utf8)
        for (name, value) in sortedByNameThenValue(parameters) {
            text += name
            text += value
        }

        let mac = Digest.hmacSHA1(key: Array(authToken.utf8), message: text)
        return Base64.encode(mac)
    }

    /// Returns whether `signature` is Twilio's signature of the request, compared in constant time.
    ///
    /// Twilio's helper libraries accept a signature made over the URL with or without its port, because the URL
    /// Twilio signed and the URL the application reconstructs can differ in just that. This does the same: it
    /// also tries `url` without its port and, when `url` has none, with the scheme's default port (443 for
    /// https, 80 for http).
    public static func isValid(
        signature: String,
        url: String,
        parameters: [(String, String)],
        authToken: String
    ) -> Bool {
        let received = Array(signature.utf8)
        for candidate in [url] + urlsWithOtherPort(url) {
            let expected = compute(url: candidate, parameters: parameters, authToken: authToken)
            if constantTimeEquals(Array(expected.utf8), received) {
                return true
            }
        }
        return false
    }

    // MARK: - Helpers

    /// Sorts by the UTF-8 bytes of the name, then of the value, and drops repeated name-value pairs.
    ///
    /// Twilio's helper libraries sign a name sent twice with the same value only once; twilio-python's
    /// `test_compute_signature_duplicate_multi_dict` pins that down.
    private static func sortedByNameThenValue(_ parameters: [(String, String)]) -> [([UInt8], [UInt8])] {
        let sorted =
            parameters
            .map { (Array($0.0.utf8), Array($0.1.utf8)) }
            .sorted { left, right in
                if left.0 != right.0 {
                    return left.0.lexicographicallyPrecedes(right.0)
                }
                return left.1.lexicographicallyPrecedes(right.1)
            }

        var unique: [([UInt8], [UInt8])] = []
        for pair in sorted where unique.last.map({ $0 != pair }) ?? true {
            unique.append(pair)
        }
        return unique
    }

    /// Returns `url` without its port if it has one, or with the scheme's default port if it has none.
    ///
    /// Returns an empty array for URLs without `://` and for schemes other than http and https without a port.
    private static func urlsWithOtherPort(_ url: String) -> [String] {
        guard let parts = URLParts(url) else {
            return []
        }

        if parts.port != nil {
            return [parts.prefix + parts.host + parts.suffix]
        }
        switch parts.scheme.lowercased() {
        case "https": return [parts.prefix + parts.host + ":443" + parts.suffix]
        case "http": return [parts.prefix + parts.host + ":80" + parts.suffix]
        default: return []
        }
    }
}

/// A URL split around its host and port, keeping every other character exactly as written.
private struct URLParts {
    /// The scheme, `://` and any user information up to and including `@`.
    let prefix: String
    let scheme: String
    /// The host, with brackets for an IPv6 address.
    let host: String
    /// The digits after the host's `:`, or nil when the URL names no port.
    let port: String?
    /// The path, query and fragment.
    let suffix: String

    init?(_ url: String) {
        guard let separator = url.firstRange(of: "://") else {
            return nil
        }

        let authorityStart = separator.upperBound
        let rest = url[authorityStart...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        let authority = url[authorityStart..<authorityEnd]
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostAndPort = authority[hostStart...]

        // An IPv6 host contains colons, so its port can only follow the closing bracket.
        let searchStart = hostAndPort.lastIndex(of: "]") ?? hostAndPort.startIndex
        let colon = hostAndPort[searchStart...].lastIndex(of: ":")
        let portDigits = colon.map { hostAndPort[hostAndPort.index(after: $0)...] }
        if let portDigits, !portDigits.allSatisfy({ ("0"..."9").contains($0) }) {
            return nil
        }

        self.scheme = String(url[..<separator.lowerBound])
        self.prefix = String(url[..<hostStart])
        self.host = String(hostAndPort[..<(colon ?? hostAndPort.endIndex)])
        self.port = portDigits.map(String.init)
        self.suffix = String(url[authorityEnd...])
    }
}
