import Foundation
import Model

/// A visitor session cut from the request stream: one client and user agent, ended by 30 minutes of inactivity.
struct ReplaySession: Sendable {
    var index: Int
    var id: String
    var visitorId: String
    var userAgent: String
    var isBot: Bool
    var start: Int64
    var end: Int64
    /// Page requests, static assets left out, in time order.
    var pages: [LogRequest]
    var requestCount: Int
    /// The landing URL with the campaign tags the model gave the session.
    var landingURL: String?
    var location: Metro
}

/// A metropolitan area with one of its area codes, for visitor locations and caller numbers.
struct Metro: Sendable {
    var city: String
    var region: String
    var areaCode: String

    static let all: [Metro] = [
        Metro(city: "New York", region: "NY", areaCode: "212"), Metro(city: "Los Angeles", region: "CA", areaCode: "213"),
        Metro(city: "Chicago", region: "IL", areaCode: "312"), Metro(city: "Houston", region: "TX", areaCode: "713"),
        Metro(city: "Phoenix", region: "AZ", areaCode: "602"), Metro(city: "Philadelphia", region: "PA", areaCode: "215"),
        Metro(city: "San Diego", region: "CA", areaCode: "619"), Metro(city: "Dallas", region: "TX", areaCode: "214"),
        Metro(city: "Seattle", region: "WA", areaCode: "206"), Metro(city: "Denver", region: "CO", areaCode: "303"),
        Metro(city: "Boston", region: "MA", areaCode: "617"), Metro(city: "Atlanta", region: "GA", areaCode: "404"),
        Metro(city: "Miami", region: "FL", areaCode: "305"), Metro(city: "Minneapolis", region: "MN", areaCode: "612"),
        Metro(city: "Portland", region: "OR", areaCode: "503"), Metro(city: "Detroit", region: "MI", areaCode: "313"),
        Metro(city: "Nashville", region: "TN", areaCode: "615"), Metro(city: "Las Vegas", region: "NV", areaCode: "702"),
    ]
}

/// How soon after browsing a caller calls.
enum CallTiming: String, Sendable {
    case phoneClick, sameVisit, sameDay, later, stray
}

/// A call the replay will place, with the truth the report scores against.
struct PlannedCall: Sendable {
    var callId: String
    /// The session that really placed the call; nil for a caller who never visited the site.
    var sessionIndex: Int?
    var time: Int64
    var from: String?
    var timing: CallTiming
    var durationSeconds: Int
    var disposition: String
    var revenue: Double?
}

/// Extra events the model adds to a session: a phone-link tap and a form with the visitor's phone number.
struct SessionExtras: Sendable {
    var phoneClickAt: Int64?
    var formFillAt: Int64?
    var formPhone: String?
}

/// The seeded model that turns sessions into visitors with locations, campaigns, form fills and calls.
struct TrafficModel {
    struct Parameters: Sendable {
        var seed: UInt64
        var callShare: Double
        var strayCallShare = 0.05
        var formShareOfCallers = 0.25
        var formShareOfOthers = 0.03
        var paidShareOfSearch = 0.4
        var callerAwayFromHomeShare = 0.2
        /// Shares of call timings among callers: phone-link tap, same visit, same day, later.
        var timingShares = [0.35, 0.25, 0.25, 0.15]

        var description: String {
            """
            seed \(seed); \(Int(callShare * 100))% of human sessions call, plus \(Int(strayCallShare * 100))% stray \
            calls from people who never visited; call timing: \(Int(timingShares[0] * 100))% tap the phone link \
            and call within a minute, \(Int(timingShares[1] * 100))% call 1-20 min after the visit, \
            \(Int(timingShares[2] * 100))% 1-12 h later, \(Int(timingShares[3] * 100))% 1-4 days later; \
            \(Int(formShareOfCallers * 100))% of callers and \(Int(formShareOfOthers * 100))% of others enter \
            their phone in a form; \(Int(paidShareOfSearch * 100))% of search visits are paid clicks; \
            \(Int(callerAwayFromHomeShare * 100))% of callers call from another area's number
            """
        }
    }

    var parameters: Parameters
    var random: SeededRandom

    init(parameters: Parameters) {
        self.parameters = parameters
        self.random = SeededRandom(seed: parameters.seed)
    }

    /// Groups requests by client and user agent into sessions split by `inactivity`.
    static func sessionize(_ requests: [LogRequest], inactivity: Int64 = 1_800_000) -> [ReplaySession] {
        var open: [String: Int] = [:]
        var sessions: [ReplaySession] = []
        for request in requests {
            let visitorKey = request.client + "\u{1}" + request.userAgent
            let isPage = request.method == "GET" && !AccessLog.isStaticAsset(request.path)
                && (200..<400).contains(request.status)
            if let index = open[visitorKey], request.time - sessions[index].end <= inactivity {
                sessions[index].end = request.time
                sessions[index].requestCount += 1
                if isPage { sessions[index].pages.append(request) }
                continue
            }
            let index = sessions.count
            open[visitorKey] = index
            sessions.append(ReplaySession(
                index: index, id: "s-\(index + 1)", visitorId: "v-" + Self.shortHash(visitorKey),
                userAgent: request.userAgent, isBot: BotDetector.isBot(userAgent: request.userAgent),
                start: request.time, end: request.time, pages: isPage ? [request] : [], requestCount: 1,
                landingURL: nil, location: Metro.all[0]
            ))
        }
        return sessions
    }

    static func shortHash(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 36)
    }

    /// Gives each visitor a home metro and each session a landing URL with campaign tags.
    mutating func decorate(_ sessions: inout [ReplaySession], site: String) {
        var homes: [String: Metro] = [:]
        for index in sessions.indices {
            let visitor = sessions[index].visitorId
            let home = homes[visitor] ?? random.pick(Metro.all)
            homes[visitor] = home
            sessions[index].location = home
            guard let first = sessions[index].pages.first else { continue }

            var url = site + first.path
            let referrer = first.referrer?.lowercased() ?? ""
            let separator = url.contains("?") ? "&" : "?"
            if referrer.contains("google.") && random.chance(parameters.paidShareOfSearch) {
                let campaign = random.pick(["brand", "logging-guides", "dashboards"])
                url += "\(separator)utm_source=google&utm_medium=cpc&utm_campaign=\(campaign)&gclid=Cj0K\(random.next() % 1_000_000_007)"
            } else if referrer.contains("bing.") && random.chance(parameters.paidShareOfSearch) {
                url += "\(separator)utm_source=bing&utm_medium=cpc&utm_campaign=brand&msclkid=m\(random.next() % 1_000_000_007)"
            } else if referrer.isEmpty && random.chance(0.05) {
                url += "\(separator)utm_source=newsletter&utm_medium=email&utm_campaign=monthly"
            }
            sessions[index].landingURL = url
        }
    }

    /// Plans the calls: which human sessions call, when, from which number, and how each call ends.
    mutating func planCalls(sessions: [ReplaySession], extras: inout [Int: SessionExtras]) -> [PlannedCall] {
        var callerNumbers: [String: String] = [:]
        var used = Set<String>()
        var calls: [PlannedCall] = []

        func number(for visitor: String, home: Metro) -> String {
            if let known = callerNumbers[visitor] { return known }
            var metro = random.chance(parameters.callerAwayFromHomeShare) ? random.pick(Metro.all) : home
            for _ in 0..<200 {
                let candidate = "+1\(metro.areaCode)55501\(String(format: "%02d", Int(random.next() % 100)))"
                if used.insert(candidate).inserted {
                    callerNumbers[visitor] = candidate
                    return candidate
                }
                metro = random.pick(Metro.all)
            }
            return "+1\(metro.areaCode)5550199"
        }

        for session in sessions where !session.isBot && !session.pages.isEmpty {
            let placesCall = random.chance(parameters.callShare)
            let fillsForm = random.chance(placesCall ? parameters.formShareOfCallers : parameters.formShareOfOthers)
            let phone = number(for: session.visitorId, home: session.location)
            if fillsForm {
                let page = random.pick(session.pages)
                extras[session.index, default: SessionExtras()].formFillAt = page.time + 20_000
                extras[session.index, default: SessionExtras()].formPhone = phone
            }
            guard placesCall else { continue }

            let timing = drawTiming()
            var time: Int64
            switch timing {
            case .phoneClick:
                let page = session.pages.last!
                let click = page.time + Int64(random.between(3, 20) * 1000)
                extras[session.index, default: SessionExtras()].phoneClickAt = click
                time = click + Int64(random.between(5, 40) * 1000)
            case .sameVisit:
                time = session.end + Int64(random.between(60, 1200) * 1000)
            case .sameDay:
                time = session.end + Int64(random.between(3600, 43_200) * 1000)
            default:
                time = session.end + Int64(random.between(86_400, 345_600) * 1000)
            }
            calls.append(makeCall(id: calls.count, session: session.index, time: time, from: phone, timing: timing))
        }

        let humanCount = calls.count
        let span = (sessions.first?.start ?? 0, sessions.map(\.end).max() ?? 0)
        for _ in 0..<Int((Double(humanCount) * parameters.strayCallShare).rounded()) {
            let time = Int64(random.between(Double(span.0), Double(span.1)))
            let from = "+1\(random.pick(Metro.all).areaCode)55502\(String(format: "%02d", Int(random.next() % 100)))"
            calls.append(makeCall(id: calls.count, session: nil, time: time, from: from, timing: .stray))
        }
        return calls.sorted { $0.time < $1.time }
    }

    private mutating func drawTiming() -> CallTiming {
        let draw = random.unit()
        var total = 0.0
        for (share, timing) in zip(parameters.timingShares, [CallTiming.phoneClick, .sameVisit, .sameDay, .later]) {
            total += share
            if draw < total { return timing }
        }
        return .later
    }

    private mutating func makeCall(id: Int, session: Int?, time: Int64, from: String, timing: CallTiming) -> PlannedCall {
        let dispositions: [(String, Double)] = [
            ("sale", 0.2), ("lead", 0.3), ("appointment", 0.1), ("no-sale", 0.2), ("support", 0.12), ("spam", 0.03),
            ("voicemail", 0.05),
        ]
        var draw = random.unit()
        var disposition = "lead"
        for (name, share) in dispositions {
            if draw < share {
                disposition = name
                break
            }
            draw -= share
        }
        let revenue = disposition == "sale" ? (random.between(50, 900) * 100).rounded() / 100 : nil
        return PlannedCall(
            callId: "CA\(String(format: "%06d", id + 1))\(String(random.next() % 0xFFFF_FFFF, radix: 16))",
            sessionIndex: session, time: time, from: random.chance(0.03) ? nil : from, timing: timing,
            durationSeconds: Int(random.between(20, 600)), disposition: disposition, revenue: revenue
        )
    }
}
