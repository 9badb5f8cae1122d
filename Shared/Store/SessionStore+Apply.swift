import Foundation
import Model
import RedisKit
import ServiceKit

/// A validated web event ready to apply, with its advertiser and the time the broker received it (ms).
///
/// Making one computes everything the event writes (time, first-touch fields, channel, stored JSON), so callers
/// can spread that work over several threads before `SessionStore.apply` sends the batch.
public struct IncomingWebEvent: Sendable {
    public let event: WebEvent
    public let advertiser: Advertiser
    public let receivedAt: Int64
    let prepared: PreparedWebEvent

    /// - Parameter formPhone: the phone number an `identify` event's traits carry, normalized to E.164 by the
    ///   caller (the activity-ingester uses libphonenumber); it joins the caller-number index. Nil for none.
    public init(event: WebEvent, advertiser: Advertiser, receivedAt: Int64, formPhone: String?) {
        self.event = event
        self.advertiser = advertiser
        self.receivedAt = receivedAt
        self.prepared = PreparedWebEvent(event: event, advertiser: advertiser, receivedAt: receivedAt,
                                         formPhone: formPhone)
    }
}

/// The result of applying one web event.
public enum ApplyResult: Sendable, Equatable {
    /// The event changed the session with this id: its own session, or a later session of the same id that
    /// started after a period of inactivity.
    case applied(sessionId: String)
    /// The message id was applied before; nothing changed.
    case duplicate(sessionId: String)
    /// Redis rejected the event's commands with a non-retriable error reply.
    case failed(reason: String)
}

extension SessionStore {
    /// KEYS: session hash, events list, seen set, clicks set, phones set, routes hash.
    /// ARGV: message id, event JSON, timestamp ms, is page (1/0), is phone click (1/0), phone or '', retention ms,
    /// max events, inactivity timeout ms (0 turns splitting off), then field/value pairs written on first touch
    /// (visitorId, landingPage, …) and overwritten when an earlier page event arrives late.
    ///
    /// Returns {1, 1} when applied, {0, visit} for a message id seen before, and {2, n} when the event belongs to
    /// the session's n-th visit: it came more than the timeout after the last activity, or a later visit already
    /// began. The caller then applies it to the session `<id>~<n>`. The routes hash remembers where each such
    /// message went, so a redelivered one goes to the same visit.
    static let applyScript = RedisScript(source: """
        local session, events, seen, clicks, phones, routes = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
        local messageId, json, ts = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local isPage, isClick, phone = ARGV[4] == '1', ARGV[5] == '1', ARGV[6]
        local retention, cap, timeout = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])

        if timeout > 0 then
          local routed = redis.call('HGET', routes, messageId)
          if routed then return {2, tonumber(routed)} end
          if redis.call('SISMEMBER', seen, messageId) == 1 then return {0, 1} end
          local visit = tonumber(redis.call('HGET', session, 'visit') or '1')
          local lastAt = tonumber(redis.call('HGET', session, 'visitLastAt')
            or redis.call('HGET', session, 'lastActiveAt') or '')
          if lastAt and ts - lastAt > timeout then
            visit = visit + 1
            redis.call('HSET', session, 'visit', visit, 'visit:' .. visit, ts)
            lastAt = nil
          end
          if visit > 1 then
            if (not lastAt) or ts > lastAt then redis.call('HSET', session, 'visitLastAt', ts) end
            redis.call('HSET', routes, messageId, visit)
            redis.call('PEXPIRE', routes, retention)
            redis.call('PEXPIRE', session, retention)
            return {2, visit}
          end
        end

        if redis.call('SADD', seen, messageId) == 0 then return {0, 1} end
        local first = tonumber(redis.call('HGET', session, 'startedAt') or '')
        local last = tonumber(redis.call('HGET', session, 'lastActiveAt') or '')
        local hasLanding = redis.call('HEXISTS', session, 'landingPage') == 1
        local earliest = (not first) or ts < first
        if earliest then redis.call('HSET', session, 'startedAt', ts) end
        if (not last) or ts > last then redis.call('HSET', session, 'lastActiveAt', ts) end
        for i = 10, #ARGV, 2 do
          local field, value = ARGV[i], ARGV[i + 1]
          local landingField = field == 'landingPage' or field == 'referrer' or field == 'campaign'
            or field == 'clickIds' or field == 'channel'
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
        for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], retention) end
        return {1, 1}
        """)

    /// Applies one validated web event; see `apply(_:)` for a batch.
    @discardableResult
    public func apply(_ event: WebEvent, advertiser: Advertiser, receivedAt: Int64,
                      formPhone: String? = nil) async throws -> ApplyResult {
        try await apply([IncomingWebEvent(event: event, advertiser: advertiser, receivedAt: receivedAt,
                                          formPhone: formPhone)])[0]
    }

    /// Applies a batch of validated web events in a few round trips and returns one result per event, in order.
    ///
    /// Each event's session keys change in one script, de-duplication by message id included. Events of one session
    /// are applied in batch order. The visitor, advertiser and caller-number indexes are sorted sets and sets, so
    /// they are written again for duplicates too: a process that died between the two steps loses nothing when the
    /// batch is delivered again.
    /// - Throws: `RedisError` when Redis is unreachable or replies with a retriable error (loading, busy). Nothing
    ///   is then known to be applied, and applying the batch again is safe.
    public func apply(_ batch: [IncomingWebEvent]) async throws -> [ApplyResult] {
        guard !batch.isEmpty else { return [] }

        let prepared = batch.map(\.prepared)
        var results = [ApplyResult?](repeating: nil, count: batch.count)
        var routed: [(index: Int, visit: Int)] = []

        let replies = try await redis.pipeline(prepared.map { command(for: $0, session: $0.sessionId) })
        for (index, reply) in replies.enumerated() {
            let values = try Self.scriptReply(reply, index: index, results: &results)
            guard let values else { continue }
            let session = prepared[index].sessionId
            switch values.code {
            case 2: routed.append((index, values.visit))
            case 0: results[index] = .duplicate(sessionId: session)
            default: results[index] = .applied(sessionId: session)
            }
        }

        if !routed.isEmpty {
            let commands = routed.map { item -> PipelinedCommand in
                let event = prepared[item.index]
                return command(for: event, session: Self.visitSession(event.sessionId, visit: item.visit),
                               previous: Self.visitSession(event.sessionId, visit: item.visit - 1))
            }
            let visitReplies = try await redis.pipeline(commands)
            for (position, reply) in visitReplies.enumerated() {
                let item = routed[position]
                guard let values = try Self.scriptReply(reply, index: item.index, results: &results) else { continue }
                let session = Self.visitSession(prepared[item.index].sessionId, visit: item.visit)
                results[item.index] = values.code == 0 ? .duplicate(sessionId: session) : .applied(sessionId: session)
            }
        }

        let final = results.map { $0 ?? .failed(reason: "no reply from Redis") }
        try await redis.pipelineOrThrow(indexCommands(prepared, results: final))
        return final
    }

    /// Returns the id of a session's n-th visit: the id itself for the first, `<id>~<n>` after that.
    public static func visitSession(_ session: String, visit: Int) -> String {
        visit <= 1 ? session : "\(session)~\(visit)"
    }

    private func command(for event: PreparedWebEvent, session: String, previous: String? = nil) -> PipelinedCommand {
        let advertiser = event.advertiser
        var fields = event.fields
        if let previous { fields += ["previousSessionId", previous] }
        // Visits after the first are sessions of their own and are never split again.
        let timeout = previous == nil ? event.timeout : 0
        return .script(
            Self.applyScript,
            keys: [
                keys.session(advertiser: advertiser, session: session),
                keys.sessionEvents(advertiser: advertiser, session: session),
                keys.sessionSeen(advertiser: advertiser, session: session),
                keys.sessionPhoneClicks(advertiser: advertiser, session: session),
                keys.sessionPhones(advertiser: advertiser, session: session),
                keys.sessionRoutes(advertiser: advertiser, session: session),
            ],
            arguments: [
                event.messageId, event.json, String(event.timestamp), event.isPage ? "1" : "0",
                event.isPhoneClick ? "1" : "0", event.phone ?? "", String(event.retention),
                String(SessionStore.maxEvents), String(timeout),
            ] + fields
        )
    }

    /// Reads the script's {code, visit} reply, or records a failure and returns nil for a non-retriable error.
    private static func scriptReply(
        _ reply: Result<RedisValue, RedisError>,
        index: Int,
        results: inout [ApplyResult?]
    ) throws -> (code: Int64, visit: Int)? {
        switch reply {
        case .failure(let error) where error.isRetriable:
            throw error
        case .failure(let error):
            results[index] = .failed(reason: "Redis rejected the event: \(error.reason)")
            return nil
        case .success(let value):
            let parts = value.array ?? []
            guard parts.count == 2, let code = parts[0].integer, let visit = parts[1].integer else {
                results[index] = .failed(reason: "unexpected reply from the session script: \(value)")
                return nil
            }
            return (code, Int(visit))
        }
    }

    /// Index writes for every event that reached its session, applied or duplicate, with repeats in the batch
    /// folded: the advertiser's session index, the visitor's sessions and the caller-number index.
    private func indexCommands(_ prepared: [PreparedWebEvent], results: [ApplyResult]) -> [[String]] {
        var commands: [[String]] = []
        var trimmed: Set<String> = []
        var indexed: Set<String> = []
        for (event, result) in zip(prepared, results) {
            let session: String
            switch result {
            case .applied(let id), .duplicate(let id): session = id
            case .failed: continue
            }
            let advertiser = event.advertiser
            let sessionsKey = keys.advertiserSessions(advertiser: advertiser)
            if indexed.insert("s\u{0}\(advertiser)\u{0}\(session)").inserted {
                commands.append(["ZADD", sessionsKey, "NX", String(event.timestamp), session])
            }
            if trimmed.insert(advertiser).inserted {
                // Sessions past the retention period leave the report index as their records expire.
                commands.append(["ZREMRANGEBYSCORE", sessionsKey, "-inf", "(\(event.receivedAt - event.retention)"])
            }
            guard let visitor = event.visitor else { continue }
            if indexed.insert("v\u{0}\(advertiser)\u{0}\(visitor)\u{0}\(session)").inserted {
                let visitorKey = keys.visitorSessions(advertiser: advertiser, visitor: visitor)
                commands.append(["ZADD", visitorKey, "NX", String(event.timestamp), session])
                commands.append(["PEXPIRE", visitorKey, String(event.retention)])
            }
            if let phone = event.phone, indexed.insert("p\u{0}\(advertiser)\u{0}\(phone)\u{0}\(visitor)").inserted {
                let phoneKey = keys.phoneVisitors(advertiser: advertiser, phone: phone)
                commands.append(["SADD", phoneKey, visitor])
                commands.append(["PEXPIRE", phoneKey, String(event.retention)])
            }
        }
        return commands
    }
}

/// The values one web event writes, computed once before the batch goes to Redis.
struct PreparedWebEvent: Sendable {
    var advertiser: String
    var sessionId: String
    var messageId: String
    var visitor: String?
    var timestamp: Int64
    var receivedAt: Int64
    var retention: Int64
    var timeout: Int64
    var json: String
    var isPage: Bool
    var isPhoneClick: Bool
    var phone: String?
    var fields: [String]

    init(event: WebEvent, advertiser: Advertiser, receivedAt: Int64, formPhone: String?) {
        self.advertiser = advertiser.id
        sessionId = event.sessionId
        messageId = event.messageId
        visitor = event.anonymousId
        timestamp = SessionStore.timestamp(of: event, receivedAt: receivedAt)
        self.receivedAt = receivedAt
        retention = Int64(advertiser.retentionDays * 86_400_000)
        timeout = max(1, Int64(advertiser.sessionTimeoutSeconds * 1000))
        isPage = event.type == .page
        isPhoneClick = event.isPhoneClick
        phone = event.type == .identify ? formPhone : nil
        fields = SessionStore.firstTouchFields(of: event)
        json = Self.storedEventJSON(event, timestamp: timestamp)
    }
}

extension PreparedWebEvent {
    /// Writes the `SessionRecord.Event` that the events list keeps, by hand because a `JSONEncoder` costs more than
    /// the rest of the event's preparation. Keys are sorted, as `SessionStore.json` writes them.
    static func storedEventJSON(_ event: WebEvent, timestamp: Int64) -> String {
        var fields: [String] = []
        if let name = event.event { fields.append("\"event\":" + JSONText.quote(name)) }
        fields.append("\"timestamp\":" + JSONText.quote(Timestamp.format(milliseconds: timestamp)))
        if let title = event.properties?["title"]?.text { fields.append("\"title\":" + JSONText.quote(title)) }
        fields.append("\"type\":" + JSONText.quote(event.type.rawValue))
        if let url = event.pageURL { fields.append("\"url\":" + JSONText.quote(url)) }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

extension SessionStore {
    /// The event's time in milliseconds: its `timestamp`, corrected for the client's clock when `sentAt` is
    /// present (Segment's rule: `receivedAt - (sentAt - timestamp)`), else the time it was received.
    ///
    /// A time more than 5 minutes after the event was received, or before 2000, cannot be true, so the time it
    /// was received replaces it; one bad clock then cannot push a session's activity out of every report range.
    public static func timestamp(of event: WebEvent, receivedAt: Int64) -> Int64 {
        let received = event.receivedAt.flatMap(Timestamp.parseMilliseconds) ?? receivedAt
        guard let timestamp = event.timestamp.flatMap(Timestamp.parseMilliseconds) else { return received }
        var corrected = timestamp
        if let sent = event.sentAt.flatMap(Timestamp.parseMilliseconds) { corrected = received - (sent - timestamp) }
        guard corrected <= received + 300_000, corrected >= earliestPlausibleTime else { return received }
        return corrected
    }

    /// 2000-01-01T00:00:00Z in milliseconds.
    static let earliestPlausibleTime: Int64 = 946_684_800_000

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
            let referrer = event.referrer.flatMap { $0.isEmpty ? nil : $0 }
            if let referrer { fields += ["referrer", referrer] }
            let campaign = CampaignParser.merge(event.context?.campaign, CampaignParser.campaign(fromURL: url))
            if !campaign.isEmpty, let json = Self.json(campaign) { fields += ["campaign", json] }
            let clickIds = CampaignParser.clickIds(fromURL: url)
            if !clickIds.isEmpty, let json = Self.json(clickIds) { fields += ["clickIds", json] }
            let channel = Channel.classify(landingPage: url, referrer: referrer, campaign: campaign, clickIds: clickIds)
            fields += ["channel", channel.rawValue]
        }
        return fields
    }
}
