import Foundation
import Model

extension BenchCallsCommand {
    /// A desktop browser's user agent, so that the number-pool does not treat the bench's sessions as bots.
    static let browserUserAgent =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

    /// Caller and visitor locations, used in turn so that the area signal sometimes matches and sometimes not.
    static let locations: [(region: String, city: String, zip: String)] = [
        ("CA", "San Jose", "95112"), ("NY", "New York", "10001"), ("TX", "Austin", "78701"),
        ("IL", "Chicago", "60601"), ("WA", "Seattle", "98101"),
    ]

    static func sessionID(_ index: Int) -> String { "bench-s-\(index)" }

    /// Leases the pool to `sessionsPerNumber` sessions per number, gives each session two page views and checks
    /// that every number's history lists the expected sessions.
    ///
    /// The pool recycles when it is exhausted: after every number was granted once, each further lease shares the
    /// number whose lease ends soonest, so leasing in order hands the numbers round in turn.
    static func seed(settings: ReplaySettings, options: Options) async throws -> BenchCallsReport.Seeding {
        let client = ReplayClient()
        let count = settings.numbers.count * options.sessionsPerNumber
        var statuses: [String: Int] = [:]
        for index in 0..<count {
            let body: [String: Any] = [
                "pool": settings.poolId, "sessionId": sessionID(index), "visitorId": "bench-v-\(index)",
                "userAgent": browserUserAgent, "page": "https://acme.example/pricing",
            ]
            let response = try await client.send("POST", options.numberPool + "/v1/leases", key: settings.webKey,
                                                  json: body)
            guard response.status == 200, let status = response.json()?["status"] as? String else {
                throw BenchError("POST /v1/leases returned \(response.status): "
                    + String(decoding: response.body, as: UTF8.self))
            }
            statuses[status, default: 0] += 1
        }

        try await collectPageViews(sessions: count, settings: settings, options: options, client: client)
        try await waitForRecords(sessions: count, settings: settings, options: options, client: client)

        var holders: [Int] = []
        for number in settings.numbers {
            let path = "/v1/numbers/\(number.replacingOccurrences(of: "+", with: "%2B"))/history"
            let response = try await client.send("GET", options.numberPool + path, key: settings.readKey)
            guard response.status == 200,
                let leases = (try? JSONSerialization.jsonObject(with: response.body)) as? [[String: Any]]
            else {
                throw BenchError("GET \(path) returned \(response.status)")
            }
            holders.append(Set(leases.compactMap { $0["sessionId"] as? String }).count)
        }
        return .init(sessions: count, leaseStatuses: statuses, minSessionsPerNumber: holders.min() ?? 0,
                     maxSessionsPerNumber: holders.max() ?? 0)
    }

    /// Sends two page views per session through `POST /v1/collect`, in batches of at most 500 events.
    private static func collectPageViews(sessions count: Int, settings: ReplaySettings, options: Options,
                                         client: ReplayClient) async throws {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var events: [[String: Any]] = []
        for index in 0..<count {
            let location = locations[index % locations.count]
            let context: [String: Any] = [
                "userAgent": browserUserAgent,
                "location": ["country": "US", "region": location.region, "city": location.city],
            ]
            let pages = [
                ("https://acme.example/pricing?utm_source=google&utm_medium=cpc&utm_campaign=bench", "Pricing"),
                ("https://acme.example/contact", "Contact"),
            ]
            for (offset, page) in pages.enumerated() {
                events.append([
                    "type": "page", "messageId": "bench-m-\(index)-\(offset)", "anonymousId": "bench-v-\(index)",
                    "sessionId": sessionID(index),
                    "timestamp": Timestamp.format(milliseconds: now - 60_000 + Int64(offset) * 30_000),
                    "properties": ["url": page.0, "title": page.1], "context": context,
                ])
            }
        }
        for start in stride(from: 0, to: events.count, by: 500) {
            let batch = Array(events[start..<min(start + 500, events.count)])
            let response = try await client.send("POST", options.ingester + "/v1/collect", key: settings.webKey,
                                                  json: ["batch": batch])
            guard response.status == 200, response.json()?["accepted"] as? Int == batch.count else {
                throw BenchError("POST /v1/collect returned \(response.status): "
                    + String(decoding: response.body, as: UTF8.self))
            }
        }
    }

    /// Waits until the activity-ingester has stored both page views of every session, for at most 30 s.
    private static func waitForRecords(sessions count: Int, settings: ReplaySettings, options: Options,
                                       client: ReplayClient) async throws {
        let deadline = Date().addingTimeInterval(30)
        for index in 0..<count {
            let url = options.ingester + "/v1/sessions/\(sessionID(index))"
            while true {
                let response = try await client.send("GET", url, key: settings.readKey)
                if response.status == 200, (response.json()?["events"] as? [Any])?.count ?? 0 >= 2 { break }
                guard Date() < deadline else {
                    throw BenchError("the activity-ingester has not stored session \(sessionID(index)) after 30 s "
                        + "(last status \(response.status)); see its log")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}
