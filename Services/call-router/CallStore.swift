import Foundation
import Model
import RedisKit
import Store

/// A call as the call-router keeps it: carrier facts, its ranked candidates, the decision and the outcome.
struct CallRecord: Sendable {
    var callId: String
    var advertiserId: String
    var carrier: String?
    var to: String
    var from: String?
    var callerLocation: Location?
    var startedAt: Int64?
    var status: String?
    var durationSeconds: Int?
    var isScreened: Bool
    var candidates: [Candidate]
    var omittedCandidates: Int
    var match: CallMatch?
    var outcome: CallOutcome?
}

/// Call records in Redis, keyed by advertiser and call id.
struct CallStore: Sendable {
    let redis: RedisClient
    let keys: RedisKeys

    /// Order of call statuses: a callback that arrives late never moves a call back.
    static func rank(of status: CallEvent.Status) -> Int {
        switch status {
        case .started, .ringing: 1
        case .answered: 2
        case .completed, .failed: 3
        }
    }

    /// KEYS: call hash, seen set, owner key. ARGV: event id, advertiser, carrier, to, from, caller location JSON,
    /// start ms, status, status rank, duration or '', retention ms.
    /// Returns {1 if the event was new else 0, 1 if the call was screened else 0}.
    private static let applyEvent = RedisScript(source: """
        local call, seen, owner = KEYS[1], KEYS[2], KEYS[3]
        local screened = redis.call('HGET', call, 'screened') == '1' and 1 or 0
        if redis.call('SADD', seen, ARGV[1]) == 0 then return {0, screened} end
        redis.call('SET', owner, ARGV[2], 'NX')
        redis.call('HSETNX', call, 'advertiser', ARGV[2])
        redis.call('HSETNX', call, 'carrier', ARGV[3])
        redis.call('HSETNX', call, 'to', ARGV[4])
        if ARGV[5] ~= '' then redis.call('HSETNX', call, 'from', ARGV[5]) end
        if ARGV[6] ~= '' then redis.call('HSETNX', call, 'callerLocation', ARGV[6]) end
        local started = tonumber(redis.call('HGET', call, 'startedAt') or '')
        if (not started) or tonumber(ARGV[7]) < started then redis.call('HSET', call, 'startedAt', ARGV[7]) end
        local rank = tonumber(redis.call('HGET', call, 'statusRank') or '0')
        if tonumber(ARGV[9]) > rank then
          redis.call('HSET', call, 'status', ARGV[8], 'statusRank', ARGV[9])
        end
        if ARGV[10] ~= '' then redis.call('HSET', call, 'durationSeconds', ARGV[10]) end
        local retention = tonumber(ARGV[11])
        for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, retention) end
        return {1, screened}
        """)

    /// Records a call event; returns whether it was new and whether the call has been screened already.
    func apply(_ event: CallEvent, eventID: String, advertiser: Advertiser, startedAt: Int64) async throws
        -> (isNew: Bool, isScreened: Bool)
    {
        let location = event.callerLocation.flatMap { try? JSONEncoder().encode($0) }
            .map { String(decoding: $0, as: UTF8.self) }
        let reply = try await redis.evaluate(
            Self.applyEvent,
            keys: [
                keys.call(advertiser: advertiser.id, call: event.callId),
                keys.callSeen(advertiser: advertiser.id, call: event.callId),
                keys.callOwner(call: event.callId),
            ],
            arguments: [
                eventID, advertiser.id, event.carrier, event.to, event.from ?? "", location ?? "", String(startedAt),
                event.status.rawValue, String(Self.rank(of: event.status)),
                event.durationSeconds.map(String.init) ?? "", String(Int64(advertiser.retentionDays * 86_400_000)),
            ]
        )
        if let from = event.from {
            let key = keys.phoneCalls(advertiser: advertiser.id, phone: from)
            try await redis.pipelineOrThrow([
                ["SADD", key, event.callId], ["PEXPIRE", key, String(Int64(advertiser.retentionDays * 86_400_000))],
            ])
        }
        let fields = reply.array ?? []
        return (fields.first?.integer == 1, fields.count > 1 && fields[1].integer == 1)
    }

    /// Stores the screen; the automatic match is stored only if no decision was recorded meanwhile.
    ///
    /// `screenEvent` is the `calls.screens` event as published, so the candidates are encoded only once.
    func storeScreen(advertiser: String, callId: String, screenEvent: [UInt8], automaticMatch: CallMatch?)
        async throws
    {
        let key = keys.call(advertiser: advertiser, call: callId)
        var commands: [[String]] = [
            ["HSET", key, "screen", String(decoding: screenEvent, as: UTF8.self), "screened", "1"]
        ]
        if let automaticMatch { commands.append(["HSETNX", key, "match", Self.encode(automaticMatch)]) }
        try await redis.pipelineOrThrow(commands)
    }

    func storeMatch(_ match: CallMatch, advertiser: String) async throws {
        try await redis.command("HSET", keys.call(advertiser: advertiser, call: match.callId), "match", Self.encode(match))
    }

    func storeOutcome(_ outcome: CallOutcome, advertiser: String) async throws {
        try await redis.command("HSET", keys.call(advertiser: advertiser, call: outcome.callId), "outcome",
                                Self.encode(outcome))
    }

    /// The advertiser that owns `callId`, or nil for an unknown call.
    func owner(of callId: String) async throws -> String? {
        try await redis.command("GET", keys.callOwner(call: callId)).string
    }

    func record(advertiser: String, callId: String) async throws -> CallRecord? {
        let hash = try await redis.command("HGETALL", keys.call(advertiser: advertiser, call: callId)).dictionary
        guard let to = hash["to"] else { return nil }

        // Records written before screens were stored whole keep their candidates in fields of their own.
        let screen = hash["screen"].flatMap { try? CloudEvent<CallScreen>.decode(Array($0.utf8)).data }
        return CallRecord(
            callId: callId,
            advertiserId: advertiser,
            carrier: hash["carrier"],
            to: to,
            from: hash["from"],
            callerLocation: Self.decode(Location.self, hash["callerLocation"]),
            startedAt: hash["startedAt"].flatMap { Int64($0) },
            status: hash["status"],
            durationSeconds: hash["durationSeconds"].flatMap { Int($0) },
            isScreened: hash["screened"] == "1",
            candidates: screen?.candidates ?? Self.decode([Candidate].self, hash["candidates"]) ?? [],
            omittedCandidates: screen?.omittedCandidates ?? Int(hash["omitted"] ?? "0") ?? 0,
            match: Self.decode(CallMatch.self, hash["match"]),
            outcome: Self.decode(CallOutcome.self, hash["outcome"])
        )
    }

    static func encode<T: Encodable>(_ value: T) -> String {
        (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
