import Model
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CampaignParserTests {
    // MARK: - UTM tags

    @Test
    func campaignReadsAllUTMTags() {
        let url = "https://example.com/pricing?utm_source=google&utm_medium=cpc&utm_campaign=spring"
            + "&utm_term=plumber&utm_content=ad-1"
        let campaign = CampaignParser.campaign(fromURL: url)
        #expect(campaign == Campaign(source: "google", medium: "cpc", name: "spring", term: "plumber", content: "ad-1"))
    }

    @Test
    func fragmentStartsNoQuery() {
        let tags = CampaignParser.tags(fromURL: "https://a.example/#frag?gclid=notreally&utm_source=fake")
        #expect(tags.clickIds.isEmpty)
        #expect(tags.campaign.isEmpty)
        let both = CampaignParser.tags(fromURL: "https://a.example/?gclid=real#frag?gclid=notreally")
        #expect(both.clickIds == ["gclid": "real"])
    }

    @Test
    func campaignLeavesMissingTagsNil() {
        let campaign = CampaignParser.campaign(fromURL: "https://example.com/?utm_source=newsletter&page=2")
        #expect(campaign.source == "newsletter")
        #expect(campaign.medium == nil)
        #expect(campaign.name == nil)
        #expect(campaign.term == nil)
        #expect(campaign.content == nil)
        #expect(!campaign.isEmpty)
    }

    @Test(arguments: [
        "https://example.com/pricing",
        "https://example.com",
        "https://example.com/?",
        "https://example.com/?page=2&sort=price",
        "https://example.com/#utm_source=google",
        "https://example.com/?utm_source=",
        "/pricing",
        "",
    ])
    func campaignIsEmptyWithoutTags(url: String) {
        #expect(CampaignParser.campaign(fromURL: url).isEmpty)
        #expect(CampaignParser.clickIds(fromURL: url).isEmpty)
    }

    @Test
    func campaignIgnoresFragment() {
        let campaign = CampaignParser.campaign(fromURL: "https://example.com/?utm_source=google#utm_medium=cpc")
        #expect(campaign == Campaign(source: "google"))
    }

    @Test
    func campaignReadsTagNamesInAnyCase() {
        let campaign = CampaignParser.campaign(fromURL: "https://example.com/?UTM_Source=google&Utm_Medium=cpc")
        #expect(campaign == Campaign(source: "google", medium: "cpc"))
    }

    @Test
    func campaignTakesFirstNonEmptyValue() {
        let first = CampaignParser.campaign(fromURL: "https://example.com/?utm_source=google&utm_source=bing")
        #expect(first.source == "google")

        let afterEmpty = CampaignParser.campaign(fromURL: "https://example.com/?utm_source=&utm_source=bing")
        #expect(afterEmpty.source == "bing")
    }

    @Test(arguments: [
        ("spring%20sale", "spring sale"),
        ("caf%C3%A9", "café"),
        ("50%25%20off", "50% off"),
        ("a%26b", "a&b"),
        ("a%3Db", "a=b"),
        ("a%2Bb", "a+b"),
        ("%E2%9C%93", "✓"),
    ])
    func campaignDecodesPercentEncoding(encoded: String, expected: String) {
        let campaign = CampaignParser.campaign(fromURL: "https://example.com/?utm_campaign=\(encoded)&utm_source=x")
        #expect(campaign.name == expected)
        #expect(campaign.source == "x")
    }

    /// Query strings are `application/x-www-form-urlencoded`, where `+` is a space and a literal plus arrives as `%2B`.
    @Test
    func campaignDecodesPlusAsSpace() {
        let campaign = CampaignParser.campaign(fromURL: "https://example.com/?utm_campaign=spring+sale&utm_term=a%2Bb")
        #expect(campaign.name == "spring sale")
        #expect(campaign.term == "a+b")
    }

    // MARK: - Click ids

    @Test(arguments: ["gclid", "gbraid", "wbraid", "msclkid", "fbclid"])
    func clickIdsReadsEachPlatform(parameter: String) {
        let ids = CampaignParser.clickIds(fromURL: "https://example.com/landing?\(parameter)=Abc-123_x&page=2")
        #expect(ids == [parameter: "Abc-123_x"])
    }

    @Test
    func clickIdsReadsSeveralAtOnce() {
        let url = "https://example.com/?utm_source=google&gclid=Cj0KCQ&gbraid=0AAAA&wbraid=Cj8&msclkid=7f3&fbclid=IwAR"
        #expect(CampaignParser.clickIds(fromURL: url) == [
            "gclid": "Cj0KCQ", "gbraid": "0AAAA", "wbraid": "Cj8", "msclkid": "7f3", "fbclid": "IwAR",
        ])
    }

    @Test
    func clickIdsIgnoresEmptyAndUnknownParameters() {
        let ids = CampaignParser.clickIds(fromURL: "https://example.com/?gclid=&ttclid=y&li_fat_id=z&utm_source=google")
        #expect(ids.isEmpty)
    }

    @Test
    func clickIdsDecodesPercentEncoding() {
        let ids = CampaignParser.clickIds(fromURL: "https://example.com/?gclid=abc%2Ddef%3D%3D")
        #expect(ids == ["gclid": "abc-def=="])
    }

    // MARK: - Merging with the event's campaign

    @Test
    func mergeWithoutExplicitCampaignUsesURL() {
        let fromURL = Campaign(source: "google", medium: "cpc", name: "spring")
        #expect(CampaignParser.merge(nil, fromURL) == fromURL)
    }

    @Test
    func mergePrefersExplicitFieldByField() {
        let explicit = Campaign(source: "newsletter", name: "may")
        let fromURL = Campaign(source: "google", medium: "cpc", name: "spring", term: "plumber", content: "ad-1")
        let merged = CampaignParser.merge(explicit, fromURL)
        #expect(merged.source == "newsletter")
        #expect(merged.medium == "cpc")
        #expect(merged.name == "may")
        #expect(merged.term == "plumber")
        #expect(merged.content == "ad-1")
    }

    @Test
    func mergeKeepsExplicitFieldsMissingFromURL() {
        let explicit = Campaign(source: "google", medium: "cpc", name: "spring", term: "t", content: "c")
        #expect(CampaignParser.merge(explicit, Campaign()) == explicit)
        #expect(CampaignParser.merge(Campaign(), Campaign()).isEmpty)
    }

    // MARK: - Paths

    @Test(arguments: [
        ("https://example.com/pricing?utm_source=google", "/pricing"),
        ("https://example.com/pricing/plans/", "/pricing/plans/"),
        ("https://example.com/contact#form", "/contact"),
        ("https://example.com", "/"),
        ("https://example.com/", "/"),
        ("https://example.com?utm_source=google", "/"),
        ("http://example.com:8080/a/b?x=1", "/a/b"),
        ("/pricing?x=1", "/pricing"),
    ])
    func pathExtractsPathOfURL(url: String, expected: String) {
        #expect(CampaignParser.path(of: url) == expected)
    }

    @Test
    func pathReturnsUnparsableTextUnchanged() {
        #expect(CampaignParser.path(of: "http://exa mple.com/a b") == "http://exa mple.com/a b")
    }
}
