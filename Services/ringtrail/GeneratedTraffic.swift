import Foundation

/// A seeded generator of access-log requests, for replays without a log of the user's own.
struct GeneratedTraffic {
    struct Parameters: Sendable {
        var seed: UInt64
        var visitors = 1200
        var days = 3.0
        var botShare = 0.15
        var returningShare = 0.2

        var description: String {
            """
            \(visitors) visitors over \(days) days with a daily cycle (busiest at 15:00 UTC), \
            \(Int(botShare * 100))% crawlers, \(Int(returningShare * 100))% of human visitors return for a second \
            visit; 1 to 8 pages a visit, 10 s to 4 min apart; referrers: 45% search, 15% other sites, 40% direct
            """
        }
    }

    static let browsers = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    ]
    static let crawlers = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    ]
    static let pages = ["/", "/pricing", "/contact", "/services", "/services/repair", "/services/installation",
                        "/about", "/blog/winter-checklist", "/blog/choosing-a-plan", "/locations", "/faq"]
    static let searchReferrers = ["https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"]
    static let siteReferrers = ["https://www.yelp.com/biz/example", "https://news.ycombinator.com/",
                                "https://www.reddit.com/r/homeimprovement/"]

    static func make(_ parameters: Parameters, start: Int64) -> [LogRequest] {
        var random = SeededRandom(seed: parameters.seed ^ 0x5EED)
        var requests: [LogRequest] = []
        let span = parameters.days * 86_400
        for visitor in 0..<parameters.visitors {
            let isBot = random.chance(parameters.botShare)
            let client = "10.\(visitor / 65536 % 256).\(visitor / 256 % 256).\(visitor % 256)"
            let agent = isBot ? random.pick(crawlers) : random.pick(browsers)
            let visits = !isBot && random.chance(parameters.returningShare) ? 2 : 1
            for _ in 0..<visits {
                var time = start + Int64(dailyCycleOffset(&random, span: span) * 1000)
                let referrerDraw = random.unit()
                var referrer: String? = referrerDraw < 0.45 ? random.pick(searchReferrers)
                    : referrerDraw < 0.6 ? random.pick(siteReferrers) : nil
                for _ in 0..<(isBot ? 12 : 1 + Int(random.next() % 8)) {
                    requests.append(LogRequest(client: client, time: time, method: "GET", path: random.pick(pages),
                                               status: 200, referrer: referrer, userAgent: agent))
                    referrer = "https://www.example.com/"
                    time += Int64(random.between(10, 240) * 1000)
                }
            }
        }
        return requests.sorted { $0.time < $1.time }
    }

    /// A time offset within `span` seconds, drawn so that afternoons (UTC) are busier than nights.
    private static func dailyCycleOffset(_ random: inout SeededRandom, span: Double) -> Double {
        while true {
            let offset = random.between(0, span)
            let hour = (offset / 3600).truncatingRemainder(dividingBy: 24)
            let weight = 0.55 + 0.45 * cos((hour - 15) / 24 * 2 * .pi)
            if random.unit() < weight { return offset }
        }
    }
}
