import Model
import Testing

@Suite(.timeLimit(.minutes(1)))
struct ChannelTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var landing: String
        var referrer: String?
        var campaign: Campaign?
        var expected: Channel

        var testDescription: String { "\(landing) from \(referrer ?? "nothing") → \(expected.rawValue)" }
    }

    /// Landing pages and referrers as web tiers send them, each with the channel analytics tools would give it.
    static let cases: [Case] = [
        // Paid search: search ad click ids, or a paid medium.
        Case(landing: "https://shop.example.com/?gclid=Cj0KCQiA", referrer: "https://www.google.com/",
             expected: .paidSearch),
        Case(landing: "https://shop.example.com/?msclkid=4f2a9c", referrer: "https://www.bing.com/",
             expected: .paidSearch),
        Case(landing: "https://shop.example.com/?gbraid=0AAAAAo", referrer: nil, expected: .paidSearch),
        Case(landing: "https://shop.example.com/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
             referrer: "https://www.google.com/", expected: .paidSearch),
        Case(landing: "https://shop.example.com/?utm_source=bing&utm_medium=PPC", referrer: nil, expected: .paidSearch),
        Case(landing: "https://shop.example.com/", referrer: nil, campaign: Campaign(source: "google", medium: "paid"),
             expected: .paidSearch),
        // Organic search: a search engine referrer without paid tags.
        Case(landing: "https://shop.example.com/boilers", referrer: "https://www.google.com/", expected: .organicSearch),
        Case(landing: "https://shop.example.com/boilers", referrer: "https://www.google.co.uk/", expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "https://duckduckgo.com/", expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "https://search.yahoo.com/search?p=boiler",
             expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "https://yandex.ru/search/?text=boiler",
             expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "https://www.ecosia.org/search?q=boiler",
             expected: .organicSearch),
        // Android apps name themselves in an android-app:// referrer.
        Case(landing: "https://shop.example.com/", referrer: "android-app://com.google.android.gm/",
             expected: .email),
        Case(landing: "https://shop.example.com/", referrer: "android-app://com.google.android.googlequicksearchbox/",
             expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "ANDROID-APP://com.facebook.katana", expected: .social),
        Case(landing: "https://shop.example.com/", referrer: "android-app://com.example.newsreader/",
             expected: .referral),
        // A fully qualified host with its trailing dot is the same site.
        Case(landing: "https://shop.example.com./p", referrer: "https://shop.example.com/", expected: .direct),
        Case(landing: "https://shop.example.com/", referrer: "https://www.google.com./", expected: .organicSearch),
        // Hosts are read without case, user information, port or a leading www.
        Case(landing: "https://shop.example.com/", referrer: "HTTPS://WWW.Google.COM/search", expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "https://user:secret@news.google.de:443/x",
             expected: .organicSearch),
        Case(landing: "https://shop.example.com/", referrer: "https://notgoogle.example/?q=a", expected: .referral),
        Case(landing: "https://shop.example.com/", referrer: "https://xbing.com/", expected: .referral),
        Case(landing: "https://shop.example.com/", referrer: "https://bücher.example/", expected: .referral),
        Case(landing: "https://Shop.Example.com/", referrer: "https://shop.example.com/cart", expected: .direct),
        Case(landing: "https://shop.example.com/", referrer: "ftp://files.google.com/", expected: .direct),
        // Social: networks as referrers, fbclid, or social tags.
        Case(landing: "https://shop.example.com/", referrer: "https://l.facebook.com/", expected: .social),
        Case(landing: "https://shop.example.com/?fbclid=IwAR2x", referrer: nil, expected: .social),
        Case(landing: "https://shop.example.com/", referrer: "https://t.co/AbC123", expected: .social),
        Case(landing: "https://shop.example.com/", referrer: "https://www.linkedin.com/feed/", expected: .social),
        Case(landing: "https://shop.example.com/", referrer: "https://old.reddit.com/r/diy/", expected: .social),
        Case(landing: "https://shop.example.com/?utm_source=facebook&utm_medium=social", referrer: nil,
             expected: .social),
        Case(landing: "https://shop.example.com/?utm_source=instagram", referrer: nil, expected: .social),
        // Email: an email medium or source, or a webmail referrer.
        Case(landing: "https://shop.example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=june",
             referrer: nil, expected: .email),
        Case(landing: "https://shop.example.com/?utm_source=mailchimp", referrer: nil, expected: .email),
        Case(landing: "https://shop.example.com/", referrer: "https://mail.google.com/", expected: .email),
        Case(landing: "https://shop.example.com/", referrer: "https://outlook.live.com/mail/0/", expected: .email),
        // Referral: any other site.
        Case(landing: "https://shop.example.com/", referrer: "https://en.wikipedia.org/wiki/Boiler",
             expected: .referral),
        Case(landing: "https://shop.example.com/", referrer: "https://blog.partner.net/best-boilers",
             expected: .referral),
        Case(landing: "https://shop.example.com/?utm_source=partner-site", referrer: nil, expected: .referral),
        Case(landing: "https://shop.example.com/", referrer: "https://googleblog.example.org/", expected: .referral),
        // Direct: no referrer, or the site's own pages.
        Case(landing: "https://shop.example.com/", referrer: nil, expected: .direct),
        Case(landing: "https://shop.example.com/", referrer: "", expected: .direct),
        Case(landing: "https://shop.example.com/checkout", referrer: "https://shop.example.com/cart",
             expected: .direct),
        Case(landing: "https://www.shop.example.com/", referrer: "https://shop.example.com/", expected: .direct),
    ]

    @Test(arguments: cases)
    func channelOfRealTraffic(_ example: Case) {
        let campaign = CampaignParser.merge(example.campaign, CampaignParser.campaign(fromURL: example.landing))
        let channel = Channel.classify(
            landingPage: example.landing,
            referrer: example.referrer,
            campaign: campaign.isEmpty ? nil : campaign,
            clickIds: CampaignParser.clickIds(fromURL: example.landing)
        )
        #expect(channel == example.expected)
    }

    @Test
    func explicitCampaignOverridesURLTags() {
        let landing = "https://shop.example.com/?utm_source=newsletter&utm_medium=email"
        let campaign = CampaignParser.merge(Campaign(source: "google", medium: "cpc"),
                                            CampaignParser.campaign(fromURL: landing))
        let channel = Channel.classify(landingPage: landing, referrer: nil, campaign: campaign, clickIds: [:])
        #expect(channel == .paidSearch)
    }

    @Test
    func channelRawValuesAreStable() {
        #expect(Channel.allCases.map(\.rawValue)
            == ["paid_search", "organic_search", "social", "email", "referral", "direct"])
    }
}

@Suite(.timeLimit(.minutes(1)))
struct SessionIdentifierTests {
    @Test(arguments: ["s-1", "s-1~2", "s.1~17", "a:b_c~3"])
    func validSessionIds(_ id: String) {
        #expect(Identifier.isValidSession(id))
    }

    @Test(arguments: ["s-1~", "s-1~1", "s-1~0", "s-1~02", "~2", "s~2~3", "s-1~x", "s 1~2"])
    func invalidSessionIds(_ id: String) {
        #expect(!Identifier.isValidSession(id))
    }

    @Test
    func webEventLimitsFieldLengths() {
        var event = WebEvent(type: .page, messageId: "m-1", anonymousId: "v-1", sessionId: "s-1", timestamp: nil,
                             properties: ["url": .string("https://shop.example.com/" + String(repeating: "a", count: 9000))])
        #expect(throws: ValidationError("properties.url is longer than 8192 bytes")) { try event.validate() }
        event.properties = ["url": .string("https://shop.example.com/"), "title": .string(String(repeating: "t", count: 1025))]
        #expect(throws: ValidationError("properties.title is longer than 1024 bytes")) { try event.validate() }
    }
}
