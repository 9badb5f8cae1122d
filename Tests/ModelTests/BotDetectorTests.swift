import Model
import Testing

@Suite(.timeLimit(.minutes(1)))
struct BotDetectorTests {
    // MARK: - User agents of real browsers

    static let chromeWindows =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    static let chromeMac =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        + "Safari/537.36"
    static let chromeAndroid =
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
    static let chromeIPhone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        + "CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1"
    static let safariMac =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
        + "Safari/605.1.15"
    static let safariIPhone =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        + "Version/17.4.1 Mobile/15E148 Safari/604.1"
    static let safariIPad =
        "Mozilla/5.0 (iPad; CPU OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 "
        + "Mobile/15E148 Safari/604.1"
    static let firefoxWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
    static let firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
    static let firefoxAndroid = "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0"
    static let firefoxAndroidTablet = "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0"
    static let edgeWindows =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
        + "Safari/537.36 Edg/124.0.2478.80"
    static let samsungPhone =
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
        + "Chrome/121.0.0.0 Mobile Safari/537.36"
    static let samsungTablet =
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 "
        + "Chrome/117.0.0.0 Safari/537.36"
    static let chromeGalaxyTab =
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    static let silkKindleFire =
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.4 "
        + "like Chrome/124.0.6367.179 Safari/537.36"

    /// In-app browsers of social apps, used by real visitors who follow a link inside the app.
    static let pinterestApp =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        + "Mobile/15E148 [Pinterest/iOS]"
    static let facebookApp =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        + "Mobile/15E148 [FBAN/FBIOS;FBAV/458.0.0.38.108;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBLC/en_US]"
    static let instagramApp =
        "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
        + "Version/4.0 Chrome/122.0.6261.105 Mobile Safari/537.36 Instagram 321.0.0.39.106 Android"

    /// A phone of the Cubot brand, whose model name contains "bot".
    static let cubotPhone =
        "Mozilla/5.0 (Linux; Android 11; CUBOT NOTE 20 PRO) AppleWebKit/537.36 (KHTML, like Gecko) "
        + "Chrome/124.0.0.0 Mobile Safari/537.36"

    // MARK: - Bots

    @Test(arguments: [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
            + "Chrome/126.0.6478.126 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "AdsBot-Google (+http://www.google.com/adsbot.html)",
        "Mediapartners-Google",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 "
            + "Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Twitterbot/1.0",
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)",
        "WhatsApp/2.23.20.0",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.31.0",
        "Python-urllib/3.11",
        "Go-http-client/1.1",
        "okhttp/4.12.0",
        "Java/17.0.2",
        "Apache-HttpClient/4.5.14 (Java/17.0.2)",
        "Scrapy/2.11.1 (+https://scrapy.org)",
        "Feedly/1.0 (+http://www.feedly.com/fetcher.html; 3 subscribers; like FeedFetcher-Google)",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 "
            + "Safari/537.36",
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) "
            + "Chrome/119.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        "",
        "-",
    ])
    func isBotRecognizesCrawlersAndScripts(userAgent: String) {
        #expect(BotDetector.isBot(userAgent: userAgent))
    }

    /// Google's newer crawlers and common HTTP libraries whose names contain none of the classic words.
    @Test(arguments: [
        "Mozilla/5.0 (compatible; Google-InspectionTool/1.0;)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GoogleOther) Chrome/124.0.6367.201 "
            + "Safari/537.36",
        "axios/1.6.8",
        "Python/3.11 aiohttp/3.9.3",
        "PostmanRuntime/7.37.3",
    ])
    func isBotRecognizesLessKnownClients(userAgent: String) {
        #expect(BotDetector.isBot(userAgent: userAgent))
    }

    @Test
    func isBotTreatsMissingUserAgentAsBot() {
        #expect(BotDetector.isBot(userAgent: nil))
    }

    // MARK: - Browsers

    static let browsers = [
        chromeWindows, chromeMac, chromeAndroid, chromeIPhone, safariMac, safariIPhone, safariIPad, firefoxWindows,
        firefoxLinux, firefoxAndroid, firefoxAndroidTablet, edgeWindows, samsungPhone, samsungTablet,
        chromeGalaxyTab, silkKindleFire,
    ]

    @Test(arguments: BotDetectorTests.browsers)
    func isBotAcceptsBrowsers(userAgent: String) {
        #expect(!BotDetector.isBot(userAgent: userAgent))
    }

    @Test(arguments: [BotDetectorTests.pinterestApp, BotDetectorTests.facebookApp, BotDetectorTests.instagramApp])
    func isBotAcceptsInAppBrowsers(userAgent: String) {
        #expect(!BotDetector.isBot(userAgent: userAgent))
    }

    @Test
    func isBotAcceptsCubotPhone() {
        #expect(!BotDetector.isBot(userAgent: Self.cubotPhone))
    }

    // MARK: - Device classes

    @Test(arguments: [
        (BotDetectorTests.chromeAndroid, "mobile"),
        (BotDetectorTests.chromeIPhone, "mobile"),
        (BotDetectorTests.safariIPhone, "mobile"),
        (BotDetectorTests.firefoxAndroid, "mobile"),
        (BotDetectorTests.samsungPhone, "mobile"),
        (BotDetectorTests.instagramApp, "mobile"),
        (BotDetectorTests.safariIPad, "tablet"),
        (BotDetectorTests.firefoxAndroidTablet, "tablet"),
        (BotDetectorTests.chromeWindows, "desktop"),
        (BotDetectorTests.chromeMac, "desktop"),
        (BotDetectorTests.safariMac, "desktop"),
        (BotDetectorTests.firefoxWindows, "desktop"),
        (BotDetectorTests.firefoxLinux, "desktop"),
        (BotDetectorTests.edgeWindows, "desktop"),
    ])
    func deviceClassifiesBrowsers(userAgent: String, expected: String) {
        #expect(BotDetector.device(userAgent: userAgent) == expected)
    }

    /// Android tablets send "Android" without "Mobile", while phones send both.
    @Test(arguments: [BotDetectorTests.samsungTablet, BotDetectorTests.chromeGalaxyTab, BotDetectorTests.silkKindleFire])
    func deviceClassifiesAndroidTablets(userAgent: String) {
        #expect(BotDetector.device(userAgent: userAgent) == "tablet")
    }

    @Test
    func deviceUnknownWithoutUserAgent() {
        #expect(BotDetector.device(userAgent: nil) == nil)
        #expect(BotDetector.device(userAgent: "") == nil)
        #expect(BotDetector.device(userAgent: " \t") == nil)
        #expect(BotDetector.device(userAgent: "-") == nil)
    }

    @Test(arguments: [(nil, true), ("", true), (" ", true), ("\t ", true), ("-", false), ("Mozilla/5.0", false)])
    func absentUserAgent(userAgent: String?, absent: Bool) {
        #expect(BotDetector.isAbsent(userAgent) == absent)
    }

    @Test(arguments: ["-", " - ", "\t-", " ", " curl/8.5.0 "])
    func blankOrPaddedBotUserAgents(userAgent: String) {
        #expect(BotDetector.isBot(userAgent: userAgent))
    }
}
