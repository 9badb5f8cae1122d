import Foundation
import Model
import RedisKit
import Store

/// What the attribution-worker joined for one call: the latest match and outcome, and the carrier's facts.
struct JoinedCall: Sendable {
    var callId: String
    var to: String?
    var startedAt: Int64?
    var durationSeconds: Int?
    var match: CallMatch?
    var outcome: CallOutcome?
    /// The attribution last published for the call, as JSON.
    var published: String?
}

/// The attribution-worker's per-call join state in Redis.
struct AttributionStore: Sendable {
    let redis: RedisClient
    let keys: RedisKeys

    /// KEYS: attribution hash. ARGV: field (`match` or `outcome`), JSON, decision time ms, retention ms.
    /// Keeps the decision with the latest time; equal times keep the larger JSON text, so that replaying the
    /// same messages in any order ends in the same state. Returns 1 when the stored decision changed.
    private static let keepLatest = RedisScript(source: """
        local key, field, json, at = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
        local storedAt = tonumber(redis.call('HGET', key, field .. 'At') or '')
        local stored = redis.call('HGET', key, field)
        redis.call('PEXPIRE', key, tonumber(ARGV[4]))
        if storedAt and (at < storedAt or (at == storedAt and stored and json <= stored)) then return 0 end
        redis.call('HSET', key, field, json, field .. 'At', at)
        redis.call('PEXPIRE', key, tonumber(ARGV[4]))
        return 1
        """)

    /// KEYS: attribution hash. ARGV: to, start ms, duration or '', retention ms. Returns 1 when anything changed.
    private static let applyCallEvent = RedisScript(source: """
        local key = KEYS[1]
        local changed = redis.call('HSETNX', key, 'to', ARGV[1])
        local started = tonumber(redis.call('HGET', key, 'startedAt') or '')
        if (not started) or tonumber(ARGV[2]) < started then
          redis.call('HSET', key, 'startedAt', ARGV[2])
          changed = 1
        end
        if ARGV[3] ~= '' and redis.call('HGET', key, 'durationSeconds') ~= ARGV[3] then
          redis.call('HSET', key, 'durationSeconds', ARGV[3])
          changed = 1
        end
        redis.call('PEXPIRE', key, tonumber(ARGV[4]))
        return changed
        """)

    func keep(_ field: String, json: String, at: Int64, advertiser: Advertiser, callId: String) async throws -> Bool {
        let reply = try await redis.evaluate(
            Self.keepLatest,
            keys: [keys.attribution(advertiser: advertiser.id, call: callId)],
            arguments: [field, json, String(at), String(Self.retention(advertiser))]
        )
        return reply.integer == 1
    }

    func apply(_ event: CallEvent, startedAt: Int64, advertiser: Advertiser) async throws -> Bool {
        let reply = try await redis.evaluate(
            Self.applyCallEvent,
            keys: [keys.attribution(advertiser: advertiser.id, call: event.callId)],
            arguments: [event.to, String(startedAt), event.durationSeconds.map(String.init) ?? "",
                        String(Self.retention(advertiser))]
        )
        // Every call is listed for reports, matched or not, under its earliest known start.
        try await redis.command("ZADD", keys.advertiserCalls(advertiser: advertiser.id), "LT", String(startedAt),
                                event.callId)
        try await redis.command("ZADD", keys.advertiserCalls(advertiser: advertiser.id), "NX", String(startedAt),
                                event.callId)
        return reply.integer == 1
    }

    func joined(advertiser: String, callId: String) async throws -> JoinedCall? {
        let hash = try await redis.command("HGETALL", keys.attribution(advertiser: advertiser, call: callId)).dictionary
        guard !hash.isEmpty else { return nil }

        return JoinedCall(
            callId: callId,
            to: hash["to"],
            startedAt: hash["startedAt"].flatMap { Int64($0) },
            durationSeconds: hash["durationSeconds"].flatMap { Int($0) },
            match: hash["match"].flatMap { try? JSONDecoder().decode(CallMatch.self, from: Data($0.utf8)) },
            outcome: hash["outcome"].flatMap { try? JSONDecoder().decode(CallOutcome.self, from: Data($0.utf8)) },
            published: hash["published"]
        )
    }

    /// Records what was published and moves the call between the sessions' call lists.
    func markPublished(_ attribution: Attribution, json: String, previousSession: String?, advertiser: Advertiser,
                       startedAt: Int64) async throws {
        let retention = String(Self.retention(advertiser))
        var commands: [[String]] = [
            ["HSET", keys.attribution(advertiser: advertiser.id, call: attribution.callId), "published", json,
             "sessionId", attribution.sessionId ?? ""],
            ["ZADD", keys.advertiserCalls(advertiser: advertiser.id), String(startedAt), attribution.callId],
        ]
        if let previousSession, !previousSession.isEmpty, previousSession != attribution.sessionId {
            commands.append(["ZREM", keys.sessionCalls(advertiser: advertiser.id, session: previousSession),
                             attribution.callId])
        }
        if let session = attribution.sessionId {
            let key = keys.sessionCalls(advertiser: advertiser.id, session: session)
            commands.append(["ZADD", key, String(startedAt), attribution.callId])
            commands.append(["PEXPIRE", key, retention])
        }
        try await redis.pipelineOrThrow(commands)
    }

    func previousSession(advertiser: String, callId: String) async throws -> String? {
        try await redis.command("HGET", keys.attribution(advertiser: advertiser, call: callId), "sessionId").string
    }

    /// The calls matched to a session, oldest first.
    func calls(advertiser: String, session: String) async throws -> [String] {
        let reply = try await redis.command("ZRANGE", keys.sessionCalls(advertiser: advertiser, session: session),
                                            "0", "-1")
        return (reply.array ?? []).compactMap(\.string)
    }

    static func retention(_ advertiser: Advertiser) -> Int64 { Int64(advertiser.retentionDays * 86_400_000) }
}
