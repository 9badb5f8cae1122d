import Foundation
import Model
import PhoneKit
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

    /// KEYS: session hash, events list, seen set, clicks set, phones set.
    /// ARGV: message id, event JSON, timestamp ms, is page (1/0), is phone click (1/0), phone or '', retention ms,
    /// max events, then field/value pairs written on first touch (visitorId, landingPage, …) and overwritten when
    /// an earlier page event arrives late.
    private static let apply = RedisScript(source: """
        local session, events, seen, clicks, phones = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
        local messageId, json, ts = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local isPage, isClick, phone = ARGV[4] == '1', ARGV[5] == '1', ARGV[6]
        local retention, cap = tonumber(ARGV[7]), tonumber(ARGV[8])
        if redis.call('SADD', seen, messageId) == 0 then return 0 end
        local first = tonumber(redis.call('HGET', session, 'startedAt') or '')
        local last = tonumber(redis.call('HGET', session, 'lastActiveAt') or '')
        local hasLanding = redis.call('HEXISTS', session, 'landingPage') == 1
        local earliest = (not first) or ts < first
        if earliest then redis.call('HSET', session, 'startedAt', ts) end
        if (not last) or ts > last then redis.call('HSET', session, 'lastActiveAt', ts) end
        for i = 9, #ARGV, 2 do
          local field, value = ARGV[i], ARGV[i + 1]
          local landingField = field == 'landingPage' or field == 'referrer' or field == 'campaign'
            or field == 'clickIds'
          if landingField then
            if isPage and ((not hasLanding) or earliest) then redis.call('HSET', session, field, value) end
          else
            redis.call('HSETNX', session, field, value)
          end
        end
        redis.call('RPUSH', events, json)
        redis.call('LTRIM', events, -cap, -1)
        if isClick then redis.call('ZADD', clicks, ts, messageId) end
        if phone ~= '' then redis.call('SADD', phones, phone) end
        for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, retention) end
        return 1
        """)

    /// Applies one validated web event to its session; returns false when the message id was seen before.
    ///
    /// The session's own keys change in one script (de-duplication included); the visitor, advertiser and
    /// caller-number indexes are sets, so writing them again after a redelivery changes nothing.
    /// - Throws: `RedisError` when Redis is unreachable; nothing is then known to be applied.
    @discardableResult
    public func apply(_ event: WebEvent, advertiser: Advertiser, receivedAt: Int64) async throws -> Bool {
        let sid = event.sessionId
        let timestamp = Self.timestamp(of: event, receivedAt: receivedAt)
        let retention = Int64(advertiser.retentionDays * 86_400_000)
        let phone = Self.formPhone(of: event)
        let fields = Self.firstTouchFields(of: event)
        let stored = SessionRecord.Event(
            type: event.type.rawValue,
            event: event.event,
            url: event.pageURL,
            title: event.properties?["title"]?.text,
            timestamp: Timestamp.format(milliseconds: timestamp)
        )
        let json = String(decoding: (try? JSONEncoder().encode(stored)) ?? Data(), as: UTF8.self)

        let reply = try await redis.evaluate(
            Self.apply,
            keys: [
                keys.session(advertiser: advertiser.id, session: sid),
                keys.sessionEvents(advertiser: advertiser.id, session: sid),
                keys.sessionSeen(advertiser: advertiser.id, session: sid),
                keys.sessionPhoneClicks(advertiser: advertiser.id, session: sid),
                keys.sessionPhones(advertiser: advertiser.id, session: sid),
            ],
            arguments: [
                event.messageId, json, String(timestamp), event.type == .page ? "1" : "0",
                event.isPhoneClick ? "1" : "0", phone ?? "", String(retention), String(SessionStore.maxEvents),
            ] + fields
        )
        let sessionsKey = keys.advertiserSessions(advertiser: advertiser.id)
        var indexes: [[String]] = [
            ["ZADD", sessionsKey, "NX", String(timestamp), sid],
            // Sessions past the retention period leave the report index as their records expire.
            ["ZREMRANGEBYSCORE", sessionsKey, "-inf", "(\(receivedAt - retention)"],
        ]
        if let visitor = event.anonymousId {
            let visitorKey = keys.visitorSessions(advertiser: advertiser.id, visitor: visitor)
            indexes.append(["ZADD", visitorKey, "NX", String(timestamp), sid])
            indexes.append(["PEXPIRE", visitorKey, String(retention)])
            if let phone {
                let phoneKey = keys.phoneVisitors(advertiser: advertiser.id, phone: phone)
                indexes.append(["SADD", phoneKey, visitor])
                indexes.append(["PEXPIRE", phoneKey, String(retention)])
            }
        }
        try await redis.pipelineOrThrow(indexes)
        return reply.integer == 1
    }

    /// The event's time in milliseconds: its `timestamp`, corrected for the client's clock when `sentAt` is
    /// present (Segment's rule: `receivedAt - (sentAt - timestamp)`), else the time it was received.
    public static func timestamp(of event: WebEvent, receivedAt: Int64) -> Int64 {
        let received = event.receivedAt.flatMap(Timestamp.parseMilliseconds) ?? receivedAt
        guard let timestamp = event.timestamp.flatMap(Timestamp.parseMilliseconds) else { return received }
        guard let sent = event.sentAt.flatMap(Timestamp.parseMilliseconds) else { return timestamp }
        return received - (sent - timestamp)
    }

    /// The phone number a visitor entered, from identify traits, normalized to E.164.
    static func formPhone(of event: WebEvent) -> String? {
        guard event.type == .identify, let raw = event.traits?["phone"]?.text else { return nil }
        return PhoneNumbers.canonical(raw)?.e164
    }

    static func firstTouchFields(of event: WebEvent) -> [String] {
        var fields: [String] = []
        if let visitor = event.anonymousId { fields += ["visitorId", visitor] }
        if let userAgent = event.context?.userAgent {
            fields += ["isBot", BotDetector.isBot(userAgent: userAgent) ? "1" : "0"]
            if let device = BotDetector.device(userAgent: userAgent) { fields += ["device", device] }
        }
        if let location = event.context?.location, let json = Self.json(location) { fields += ["location", json] }
        if event.type == .page, let url = event.pageURL {
            fields += ["landingPage", url]
            if let referrer = event.referrer, !referrer.isEmpty { fields += ["referrer", referrer] }
            let campaign = CampaignParser.merge(event.context?.campaign, CampaignParser.campaign(fromURL: url))
            if !campaign.isEmpty, let json = Self.json(campaign) { fields += ["campaign", json] }
            let clickIds = CampaignParser.clickIds(fromURL: url)
            if !clickIds.isEmpty, let json = Self.json(clickIds) { fields += ["clickIds", json] }
        }
        return fields
    }

    static func json<T: Encodable>(_ value: T) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
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
    public func records(advertiser: String, sessions: [String]) async throws -> [String: SessionRecord] {
        guard !sessions.isEmpty else { return [:] }

        var commands: [[String]] = []
        for session in sessions {
            commands.append(["HGETALL", keys.session(advertiser: advertiser, session: session)])
            commands.append(["LRANGE", keys.sessionEvents(advertiser: advertiser, session: session), "0", "-1"])
            commands.append(["ZCARD", keys.sessionPhoneClicks(advertiser: advertiser, session: session)])
            commands.append(["SCARD", keys.sessionPhones(advertiser: advertiser, session: session)])
        }
        let replies = try await redis.pipelineOrThrow(commands)
        var result: [String: SessionRecord] = [:]
        for (index, session) in sessions.enumerated() {
            let hash = replies[index * 4].dictionary
            guard !hash.isEmpty else { continue }

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
                campaign: Self.decode(Campaign.self, hash["campaign"]),
                clickIds: Self.decode([String: String].self, hash["clickIds"]) ?? [:],
                location: Self.decode(Location.self, hash["location"]),
                device: hash["device"],
                isBot: hash["isBot"] == "1",
                pages: events.filter { $0.type == "page" }.compactMap { $0.url.map(CampaignParser.path(of:)) },
                events: events,
                phoneClicks: Int(replies[index * 4 + 2].integer ?? 0),
                phoneProvided: (replies[index * 4 + 3].integer ?? 0) > 0
            )
        }
        return result
    }

    /// The facts ranking needs about each leased session: activity, phone clicks, form phones, location.
    public func candidateFacts(advertiser: String, leases: [LeaseRecord]) async throws -> [CandidateFacts] {
        guard !leases.isEmpty else { return [] }

        var commands: [[String]] = []
        for lease in leases {
            let session = lease.sessionId
            commands.append(["HMGET", keys.session(advertiser: advertiser, session: session),
                             "lastActiveAt", "location", "device", "visitorId"])
            commands.append(["ZRANGE", keys.sessionPhoneClicks(advertiser: advertiser, session: session), "0", "-1",
                             "WITHSCORES"])
            commands.append(["SMEMBERS", keys.sessionPhones(advertiser: advertiser, session: session)])
        }
        let replies = try await redis.pipelineOrThrow(commands)
        return leases.enumerated().map { index, lease in
            let fields = replies[index * 3].array ?? []
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
    }

    /// The visitors a caller number is known for.
    public func visitors(advertiser: String, phone: String) async throws -> Set<String> {
        let reply = try await redis.command("SMEMBERS", keys.phoneVisitors(advertiser: advertiser, phone: phone))
        return Set((reply.array ?? []).compactMap(\.string))
    }

    /// Remembers that `phone` called and was confirmed as `visitor`, so later calls from it rank that visitor first.
    public func rememberCaller(advertiser: Advertiser, phone: String, visitor: String) async throws {
        let key = keys.phoneVisitors(advertiser: advertiser.id, phone: phone)
        try await redis.pipelineOrThrow([
            ["SADD", key, visitor],
            ["PEXPIRE", key, String(Int64(advertiser.retentionDays * 86_400_000))],
        ])
    }

    /// The sessions of a visitor, oldest first.
    public func sessions(advertiser: String, visitor: String) async throws -> [String] {
        let reply = try await redis.command("ZRANGE", keys.visitorSessions(advertiser: advertiser, visitor: visitor),
                                            "0", "-1")
        return (reply.array ?? []).compactMap(\.string)
    }
}
