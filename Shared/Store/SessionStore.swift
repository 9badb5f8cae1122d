import Foundation
import Model
import RedisKit

/// A session's online activity as stored: first-touch attributes, activity times and its recent events.
public struct SessionRecord: Codable, Sendable, Equatable {
    public struct Event: Codable, Sendable, Equatable {
        public var type: String
        public var event: String?
        public var url: String?
        public var title: String?
        public var timestamp: String
    }

    public var sessionId: String
    public var visitorId: String?
    public var startedAt: String?
    public var lastActiveAt: String?
    public var landingPage: String?
    public var referrer: String?
    public var channel: Channel?
    public var campaign: Campaign?
    public var clickIds: [String: String]
    public var location: Location?
    public var device: String?
    public var isBot: Bool
    public var pages: [String]
    public var events: [Event]
    public var phoneClicks: Int
    /// Whether the visitor entered a phone number in a form during the session (the number itself is not shown).
    public var phoneProvided: Bool
    /// The session this one continues after a period of inactivity, for a session's later visits.
    public var previousSessionId: String?
    /// Sessions that continued this one's id after periods of inactivity, oldest first.
    public var laterSessionIds: [String]
}

/// Session records in Redis: written by the activity-ingester, read by the call-router and the APIs.
public struct SessionStore: Sendable {
    public let redis: RedisClient
    public let keys: RedisKeys
    /// Events kept per session; older ones are trimmed.
    public static let maxEvents = 200

    public init(redis: RedisClient, keys: RedisKeys) {
        self.redis = redis
        self.keys = keys
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// The stored record of a session, or nil when the advertiser has no such session.
    public func record(advertiser: String, session: String) async throws -> SessionRecord? {
        try await records(advertiser: advertiser, sessions: [session])[session]
    }

    /// The stored records of several sessions in one round trip; absent sessions are left out.
    ///
    /// With `recentEvents`, only that many of each session's most recent events are read, and `pages` lists the
    /// pages among them.
    public func records(advertiser: String, sessions: [String], recentEvents: Int? = nil) async throws
        -> [String: SessionRecord]
    {
        guard !sessions.isEmpty else { return [:] }

        var commands: [[String]] = []
        for session in sessions {
            commands.append(["HGETALL", keys.session(advertiser: advertiser, session: session)])
            let first = recentEvents.map { String(-max(1, $0)) } ?? "0"
            commands.append(["LRANGE", keys.sessionEvents(advertiser: advertiser, session: session), first, "-1"])
            commands.append(["ZCARD", keys.sessionPhoneClicks(advertiser: advertiser, session: session)])
            commands.append(["SCARD", keys.sessionPhones(advertiser: advertiser, session: session)])
        }
        let replies = try await redis.pipelineOrThrow(commands)
        var result: [String: SessionRecord] = [:]
        for (index, session) in sessions.enumerated() {
            let hash = replies[index * 4].dictionary
            guard !hash.isEmpty else { continue }
            let visits = hash["visit"].flatMap(Int.init) ?? 1

            let events = (replies[index * 4 + 1].array ?? []).compactMap { value in
                Self.decode(SessionRecord.Event.self, value.string)
            }.sorted { $0.timestamp < $1.timestamp }
            result[session] = SessionRecord(
                sessionId: session,
                visitorId: hash["visitorId"],
                startedAt: hash["startedAt"].flatMap(Int64.init).map { Timestamp.format(milliseconds: $0) },
                lastActiveAt: hash["lastActiveAt"].flatMap(Int64.init).map { Timestamp.format(milliseconds: $0) },
                landingPage: hash["landingPage"],
                referrer: hash["referrer"],
                channel: hash["channel"].flatMap(Channel.init(rawValue:)),
                campaign: Self.decode(Campaign.self, hash["campaign"]),
                clickIds: Self.decode([String: String].self, hash["clickIds"]) ?? [:],
                location: Self.decode(Location.self, hash["location"]),
                device: hash["device"],
                isBot: hash["isBot"] == "1",
                pages: events.filter { $0.type == "page" }.compactMap { $0.url.map(CampaignParser.path(of:)) },
                events: events,
                phoneClicks: Int(replies[index * 4 + 2].integer ?? 0),
                phoneProvided: (replies[index * 4 + 3].integer ?? 0) > 0,
                previousSessionId: hash["previousSessionId"],
                laterSessionIds: visits < 2 ? [] : (2...visits).map { Self.visitSession(session, visit: $0) }
            )
        }
        return result
    }

    /// The facts ranking needs about each leased session: activity, phone clicks, form phones, location.
    ///
    /// When a session's id continued after a period of inactivity, the facts come from the visit that had begun
    /// by the time the lease ended, or by `time` (the call's) when that is earlier, and carry that visit's session
    /// id. A call ranked late, after a later visit began, still gets the visit under way when it rang.
    public func candidateFacts(advertiser: String, leases: [LeaseRecord], at time: Int64? = nil) async throws
        -> [CandidateFacts]
    {
        guard !leases.isEmpty else { return [] }

        var commands: [[String]] = []
        for lease in leases {
            let session = lease.sessionId
            commands.append(["HMGET", keys.session(advertiser: advertiser, session: session),
                             "lastActiveAt", "location", "device", "visitorId", "visit"])
            commands.append(["ZRANGE", keys.sessionPhoneClicks(advertiser: advertiser, session: session), "0", "-1",
                             "WITHSCORES"])
            commands.append(["SMEMBERS", keys.sessionPhones(advertiser: advertiser, session: session)])
        }
        let replies = try await redis.pipelineOrThrow(commands)
        var continued: [Int] = []
        var facts = leases.enumerated().map { index, lease in
            let fields = replies[index * 3].array ?? []
            if fields.count > 4, (fields[4].integer ?? 1) > 1 { continued.append(index) }
            let clickValues = replies[index * 3 + 1].array ?? []
            let clicks = stride(from: 1, to: clickValues.count, by: 2).compactMap { clickValues[$0].integer }
            let phones = Set((replies[index * 3 + 2].array ?? []).compactMap(\.string))
            return CandidateFacts(
                sessionId: lease.sessionId,
                visitorId: lease.visitorId ?? (fields.count > 3 ? fields[3].string : nil),
                leaseFrom: lease.from,
                leaseUntil: lease.until,
                lastActiveAt: fields.first?.integer,
                phoneClicks: clicks,
                formPhones: phones,
                location: fields.count > 1 ? Self.decode(Location.self, fields[1].string) : nil,
                device: fields.count > 2 ? fields[2].string : nil
            )
        }
        guard !continued.isEmpty else { return facts }

        let hashes = try await redis.pipelineOrThrow(continued.map { index in
            ["HGETALL", keys.session(advertiser: advertiser, session: leases[index].sessionId)]
        })
        var moved: [(index: Int, lease: LeaseRecord)] = []
        for (index, reply) in zip(continued, hashes) {
            let hash = reply.dictionary
            let visits = hash["visit"].flatMap(Int.init) ?? 1
            let lease = leases[index]
            let limit = min(lease.until, time ?? .max)
            let visit = visits < 2 ? nil : (2...visits).last { visit in
                (hash["visit:\(visit)"].flatMap(Int64.init) ?? .max) <= limit
            }
            guard let visit else { continue }
            var visitLease = lease
            visitLease.sessionId = Self.visitSession(lease.sessionId, visit: visit)
            moved.append((index, visitLease))
        }
        let visitFacts = try await candidateFacts(advertiser: advertiser, leases: moved.map(\.lease), at: time)
        for (item, fact) in zip(moved, visitFacts) {
            facts[item.index] = fact
        }
        return facts
    }

    /// The visitors a caller number is known for.
    public func visitors(advertiser: String, phone: String) async throws -> Set<String> {
        let reply = try await redis.command("SMEMBERS", keys.phoneVisitors(advertiser: advertiser, phone: phone))
        return Set((reply.array ?? []).compactMap(\.string))
    }

    /// Remembers that `phone` called and was confirmed as `visitor`, so later calls from it rank that visitor first.
    /// The visitor's own list of such numbers lets an erasure find them even after the call's match changed.
    public func rememberCaller(advertiser: Advertiser, phone: String, visitor: String) async throws {
        let key = keys.phoneVisitors(advertiser: advertiser.id, phone: phone)
        let callers = keys.visitorCallers(advertiser: advertiser.id, visitor: visitor)
        let retention = String(Int64(advertiser.retentionDays * 86_400_000))
        try await redis.pipelineOrThrow([
            ["SADD", key, visitor],
            ["PEXPIRE", key, retention],
            ["SADD", callers, phone],
            ["PEXPIRE", callers, retention],
        ])
    }

    /// The sessions of a visitor, oldest first.
    public func sessions(advertiser: String, visitor: String) async throws -> [String] {
        let reply = try await redis.command("ZRANGE", keys.visitorSessions(advertiser: advertiser, visitor: visitor),
                                            "0", "-1")
        return (reply.array ?? []).compactMap(\.string)
    }
}
