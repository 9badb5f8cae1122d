import Foundation

/// The kind of traffic a session came from, grouped the way analytics tools group it.
public enum Channel: String, Codable, Sendable, CaseIterable {
    case paidSearch = "paid_search"
    case organicSearch = "organic_search"
    case social
    case email
    case referral
    case direct

    /// Classifies a session by its landing page, referrer, campaign tags and click ids.
    ///
    /// Campaign tags come first because the advertiser set them on purpose, then the referrer's host. In order:
    /// - a search ad click id or a paid `utm_medium` gives paid search;
    /// - an email or social `utm_medium` or `utm_source`, or Meta's `fbclid`, gives email or social;
    /// - a referrer from another site gives email for webmail, organic search for a search engine, social for a
    ///   social network, and referral for anything else;
    /// - no referrer, or one from the landing page's own site, gives direct, or referral when tags name a source.
    public static func classify(
        landingPage: String?,
        referrer: String?,
        campaign: Campaign?,
        clickIds: [String: String]
    ) -> Channel {
        if clickIds.keys.contains(where: searchAdClickIds.contains) { return .paidSearch }

        let medium = normalized(campaign?.medium)
        let source = normalized(campaign?.source)
        if let medium {
            if paidMedia.contains(medium) { return .paidSearch }
            if emailMedia.contains(medium) { return .email }
            if socialMedia.contains(medium) { return .social }
            if medium == "organic" { return .organicSearch }
        }
        if let source {
            if emailSources.contains(source) { return .email }
            if socialHosts.contains(where: { source == $0 || source == Self.siteName(of: $0) }) { return .social }
        }
        if clickIds["fbclid"] != nil { return .social }

        if let app = Self.androidApp(of: referrer) {
            return androidApps[app] ?? .referral
        }
        if let host = Self.host(of: referrer), host != Self.host(of: landingPage) {
            // Webmail first: mail.google.com is not a search.
            if Self.matches(host, webmailHosts) { return .email }
            if Self.matches(host, searchEngineHosts) { return .organicSearch }
            if Self.matches(host, socialHosts) { return .social }
            return .referral
        }
        return source == nil ? .direct : .referral
    }

    /// Click id parameters that only search ads add: Google's gclid, gbraid, wbraid and dclid, Microsoft's msclkid.
    static let searchAdClickIds: Set<String> = ["gclid", "gbraid", "wbraid", "dclid", "msclkid"]

    static let paidMedia: Set<String> = ["cpc", "ppc", "paid", "paidsearch", "paid-search", "paid_search", "sem"]
    static let emailMedia: Set<String> = ["email", "e-mail", "e_mail", "newsletter"]
    static let socialMedia: Set<String> = [
        "social", "social-media", "social_media", "socialmedia", "social-network", "social_network", "sm",
    ]
    static let emailSources: Set<String> = ["email", "newsletter", "mailchimp", "klaviyo", "sendgrid", "hubspot"]

    /// Hosts matched as themselves or as any subdomain; an entry ending in "." matches every top-level domain.
    static let searchEngineHosts = [
        "google.", "bing.com", "yahoo.", "duckduckgo.com", "baidu.com", "yandex.", "ecosia.org", "ask.com",
        "naver.com", "seznam.cz", "qwant.com", "startpage.com", "search.brave.com", "sogou.com", "so.com",
        "aol.com", "yahoo.co.jp",
    ]
    static let socialHosts = [
        "facebook.com", "fb.com", "fb.me", "instagram.com", "t.co", "twitter.com", "x.com", "linkedin.com",
        "lnkd.in", "reddit.com", "pinterest.", "youtube.com", "youtu.be", "tiktok.com", "snapchat.com",
        "whatsapp.com", "quora.com", "tumblr.com", "vk.com", "threads.net", "mastodon.social", "bsky.app",
        "news.ycombinator.com",
    ]
    /// Android apps that send an `android-app://<package>/` referrer from their own web view or links.
    static let androidApps: [String: Channel] = [
        "com.google.android.gm": .email, "com.microsoft.office.outlook": .email,
        "com.yahoo.mobile.client.android.mail": .email,
        "com.google.android.googlequicksearchbox": .organicSearch,
        "com.facebook.katana": .social, "com.facebook.orca": .social, "com.instagram.android": .social,
        "com.twitter.android": .social, "com.linkedin.android": .social, "com.reddit.frontpage": .social,
        "com.pinterest": .social, "com.zhiliaoapp.musically": .social, "com.whatsapp": .social,
    ]

    /// Returns the package of an `android-app://` referrer, lower-cased, or nil for any other referrer.
    static func androidApp(of referrer: String?) -> String? {
        let scheme = "android-app://".utf8
        // The scheme is compared without case, as URL schemes are.
        guard let referrer, referrer.utf8.count > scheme.count,
              zip(referrer.utf8, scheme).allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0) == $1 })
        else { return nil }
        let package = referrer.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return package.isEmpty ? nil : package.lowercased()
    }

    static let webmailHosts = [
        "mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com", "mail.yahoo.com",
        "mail.aol.com", "mail.proton.me", "mail.yandex.ru",
    ]

    private static func normalized(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespaces).lowercased(), !value.isEmpty else { return nil }
        return value
    }

    /// Returns the host of an http(s) URL, lower-cased and without a leading `www.`, or nil for anything else.
    static func host(of url: String?) -> String? {
        guard let url else { return nil }
        if let host = asciiHost(of: url) { return host.isEmpty ? nil : host }
        let lowered = url.lowercased()
        let rest: Substring
        if lowered.hasPrefix("https://") {
            rest = lowered.dropFirst(8)
        } else if lowered.hasPrefix("http://") {
            rest = lowered.dropFirst(7)
        } else {
            return nil
        }
        // The authority ends at the path, query or fragment; user information and port are not part of the host.
        var host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = host.lastIndex(of: "@") { host = host[host.index(after: at)...] }
        if let colon = host.firstIndex(of: ":") { host = host[..<colon] }
        // A fully qualified name ends in a dot (`shop.example.`), which names the same host.
        if host.hasSuffix(".") { host = host.dropLast() }
        guard !host.isEmpty else { return nil }
        return host.hasPrefix("www.") ? String(host.dropFirst(4)) : String(host)
    }

    /// Returns what `host(of:)` returns, read byte by byte, for URLs whose scheme and authority are ASCII: nearly
    /// all, and every page event needs two hosts. Nil when the URL needs the general path above; an empty string
    /// means no host.
    private static func asciiHost(of url: String) -> String? {
        var bytes = url.utf8[...]
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte }
        func dropScheme(_ scheme: StaticString) -> Bool {
            let count = scheme.utf8CodeUnitCount
            guard bytes.count >= count else { return false }
            for (offset, byte) in bytes.prefix(count).enumerated() where lower(byte) != scheme.utf8Start[offset] {
                return false
            }
            bytes = bytes.dropFirst(count)
            return true
        }
        guard dropScheme("https://") || dropScheme("http://") else {
            // Only a non-ASCII scheme could still lower-case to http(s).
            return url.utf8.prefix(8).allSatisfy { $0 < 0x80 } ? "" : nil
        }
        var authority = bytes.prefix { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
        guard authority.allSatisfy({ $0 < 0x80 }) else { return nil }
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) { authority = authority[authority.index(after: at)...] }
        if let colon = authority.firstIndex(of: UInt8(ascii: ":")) { authority = authority[..<colon] }
        var host = authority.map(lower)
        if host.last == UInt8(ascii: ".") { host.removeLast() }
        if host.starts(with: "www.".utf8) { host.removeFirst(4) }
        return String(decoding: host, as: UTF8.self)
    }

    /// Checks whether `host` is one of `entries` or a subdomain of one. An entry ending in "." stands for that name
    /// under any top-level domain, so `google.` matches `google.com`, `google.co.uk` and `news.google.de`.
    static func matches(_ host: String, _ entries: [String]) -> Bool {
        let ascii = host.utf8.allSatisfy { $0 < 0x80 }
        var labels: [Substring]?
        return entries.contains { entry in
            if entry.hasSuffix(".") {
                let name = entry.dropLast()
                let split = labels ?? host.split(separator: ".")
                labels = split
                // The name is a label followed only by a public suffix of one or two labels.
                guard let index = split.lastIndex(where: { $0 == name }) else { return false }
                let rest = split.count - index - 1
                return rest == 1 || (rest == 2 && split[split.count - 2].count <= 3)
            }
            guard ascii else { return host == entry || host.hasSuffix("." + entry) }
            let hostBytes = host.utf8
            let entryBytes = entry.utf8
            if hostBytes.count == entryBytes.count { return hostBytes.elementsEqual(entryBytes) }
            guard hostBytes.count > entryBytes.count, hostBytes.suffix(entryBytes.count).elementsEqual(entryBytes)
            else { return false }
            return hostBytes[hostBytes.index(hostBytes.endIndex, offsetBy: -entryBytes.count - 1)] == UInt8(ascii: ".")
        }
    }

    /// `facebook` for `facebook.com`: the name advertisers put in `utm_source`.
    private static func siteName(of host: String) -> String {
        String(host.split(separator: ".").first ?? Substring(host))
    }
}
