import Foundation

/// Reads campaign tags and ad click ids from a landing page URL.
public enum CampaignParser {
    /// Click id parameters of the ad platforms: Google (gclid, gbraid, wbraid, and dclid of Display & Video 360),
    /// Microsoft (msclkid), Meta (fbclid).
    public static let clickIdParameters = ["gclid", "gbraid", "wbraid", "dclid", "msclkid", "fbclid"]

    /// Returns the `utm_*` tags and the click ids of `url`, reading its query string once.
    public static func tags(fromURL url: String) -> (campaign: Campaign, clickIds: [String: String]) {
        let query = parameters(of: url, named: tagNames)
        guard !query.isEmpty else { return (Campaign(), [:]) }
        return (campaign(query), clickIds(query))
    }

    /// The parameter names `tags(fromURL:)` reads: the five `utm_*` tags and the click ids.
    static let tagNames: Set<String> = Set(["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]
        + clickIdParameters)

    /// The `utm_*` tags of `url`; nil fields when absent.
    public static func campaign(fromURL url: String) -> Campaign {
        campaign(parameters(of: url))
    }

    private static func campaign(_ query: [String: String]) -> Campaign {
        Campaign(
            source: query["utm_source"],
            medium: query["utm_medium"],
            name: query["utm_campaign"],
            term: query["utm_term"],
            content: query["utm_content"]
        )
    }

    /// The click ids present in `url`, keyed by parameter name.
    public static func clickIds(fromURL url: String) -> [String: String] {
        clickIds(parameters(of: url))
    }

    private static func clickIds(_ query: [String: String]) -> [String: String] {
        var ids: [String: String] = [:]
        for name in clickIdParameters {
            if let value = query[name], !value.isEmpty { ids[name] = value }
        }
        return ids
    }

    /// `explicit` with each missing field taken from `fromURL`: the event's own campaign takes precedence.
    public static func merge(_ explicit: Campaign?, _ fromURL: Campaign) -> Campaign {
        guard let explicit else { return fromURL }
        return Campaign(
            source: explicit.source ?? fromURL.source,
            medium: explicit.medium ?? fromURL.medium,
            name: explicit.name ?? fromURL.name,
            term: explicit.term ?? fromURL.term,
            content: explicit.content ?? fromURL.content
        )
    }

    /// The path of `url` (for page lists), or the URL itself when it cannot be parsed.
    public static func path(of url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        return components.path.isEmpty ? "/" : components.path
    }

    /// The query parameters of `url` by lower-cased name, first non-empty value of each. With `wanted`, only the
    /// parameters of those names are decoded and returned.
    ///
    /// Query strings are form-encoded, where "+" is a space and a literal plus arrives as "%2B". Parsed by hand
    /// because `URLComponents` cost more than the rest of an event's processing; a malformed percent escape is
    /// kept as it was sent.
    static func parameters(of url: String, named wanted: Set<String>? = nil) -> [String: String] {
        // The query is between the first `?` and the fragment; a `?` inside the fragment starts no query.
        var beforeFragment = url.utf8[...]
        if let fragment = beforeFragment.firstIndex(of: UInt8(ascii: "#")) {
            beforeFragment = beforeFragment[..<fragment]
        }
        guard let question = beforeFragment.firstIndex(of: UInt8(ascii: "?")) else { return [:] }
        let query = beforeFragment[beforeFragment.index(after: question)...]

        var result: [String: String] = [:]
        for pairBytes in query.split(separator: UInt8(ascii: "&")) {
            let pair = Substring(pairBytes)
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            var name = formDecoded(parts[0])
            if name.utf8.contains(where: { ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) || $0 >= 0x80 }) {
                name = name.lowercased()
            }
            guard result[name] == nil, parts.count == 2, wanted?.contains(name) ?? true else { continue }
            let value = formDecoded(parts[1])
            if !value.isEmpty { result[name] = value }
        }
        return result
    }

    private static func formDecoded(_ text: Substring) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else {
            return String(text)
        }
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}
