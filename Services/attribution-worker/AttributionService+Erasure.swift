import Foundation
import HTTPKit
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Store

/// What an erasure removed, returned to the caller and published on `attributions`.
struct Erasure: Codable {
    var visitorId: String?
    var phone: String?
    var sessions: [String]
    var calls: [String]
}

extension AttributionService {
    /// `DELETE /v1/visitors/{visitorId}`: erases the visitor's sessions, their events, the calls matched to them,
    /// their lease history entries and index entries, then publishes tombstones. Erasing twice is harmless.
    func eraseVisitor(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.admin])
        let advertiser = try context.tenants.advertiser(of: principal)
        let visitor = request.pathParameters["visitorId"] ?? ""
        guard Identifier.isValid(visitor) else { throw HTTPError.badRequest("visitorId is invalid") }

        // Tombstones go out before anything is deleted, so a retry after a broker failure still finds what to name.
        let found = try await context.withRedis { try await erase(visitor: visitor, advertiser: advertiser, delete: false) }
        try await publishTombstones(found, advertiser: advertiser)
        let erasure = try await context.withRedis {
            try await erase(visitor: visitor, advertiser: advertiser, delete: true)
        }
        context.logger.info("Visitor erased", metadata: [
            "advertiser": advertiser.id, "sessions": "\(erasure.sessions.count)", "calls": "\(erasure.calls.count)",
        ])
        return .json(erasure)
    }

    /// `DELETE /v1/phones/{e164}`: erases a caller number from the call records and indexes, and the visitors'
    /// form entries of it, then publishes tombstones of the calls.
    func erasePhone(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.admin])
        let advertiser = try context.tenants.advertiser(of: principal)
        let phone = request.pathParameters["e164"] ?? ""
        guard E164.isValid(phone) else {
            throw HTTPError.badRequest("the phone number must be in E.164 form, such as +15555550142 (%2B for +)")
        }
        let keys = context.keys
        let calls = try await context.withRedis {
            (try await context.redis.command("SMEMBERS", keys.phoneCalls(advertiser: advertiser.id, phone: phone))
                .array ?? []).compactMap(\.string)
        }
        try await publishTombstones(Erasure(visitorId: nil, phone: nil, sessions: [], calls: calls),
                                    advertiser: advertiser, sessionsToo: false)
        let erasure = try await context.withRedis { () -> Erasure in
            let visitors = (try await context.redis.command(
                "SMEMBERS", keys.phoneVisitors(advertiser: advertiser.id, phone: phone)).array ?? []).compactMap(\.string)
            var commands: [[String]] = [
                ["DEL", keys.phoneVisitors(advertiser: advertiser.id, phone: phone)],
                ["DEL", keys.phoneCalls(advertiser: advertiser.id, phone: phone)],
            ]
            var sessions: [String] = []
            for visitor in visitors {
                commands.append(["SREM", keys.visitorCallers(advertiser: advertiser.id, visitor: visitor), phone])
                for session in try await self.sessions.sessions(advertiser: advertiser.id, visitor: visitor) {
                    sessions.append(session)
                    commands.append(["SREM", keys.sessionPhones(advertiser: advertiser.id, session: session), phone])
                }
            }
            for call in calls {
                commands.append(["HDEL", keys.call(advertiser: advertiser.id, call: call), "from", "callerLocation"])
            }
            try await context.redis.pipelineOrThrow(commands)
            return Erasure(visitorId: nil, phone: phone, sessions: sessions, calls: calls)
        }
        context.logger.info("Phone number erased", metadata: ["advertiser": advertiser.id, "calls": "\(erasure.calls.count)"])
        return .json(erasure)
    }

    /// Finds the visitor's sessions and calls and, when `delete` is true, removes them and every index entry.
    private func erase(visitor: String, advertiser: Advertiser, delete: Bool) async throws -> Erasure {
        let keys = context.keys
        let id = advertiser.id
        let sessionIds = try await sessions.sessions(advertiser: id, visitor: visitor)
        var calls: [String] = []
        var phones = Set<String>()
        for session in sessionIds {
            calls += try await store.calls(advertiser: id, session: session)
            let members = try await context.redis.command("SMEMBERS", keys.sessionPhones(advertiser: id, session: session))
            phones.formUnion((members.array ?? []).compactMap(\.string))
        }
        guard delete else { return Erasure(visitorId: visitor, phone: nil, sessions: sessionIds, calls: calls) }

        // The caller numbers of the visitor's calls, and every number whose call was ever matched to the visitor,
        // because an agent may have changed that match since.
        var callers: [(call: String, phone: String)] = []
        for call in calls {
            if let phone = try await context.redis.command("HGET", keys.call(advertiser: id, call: call), "from").string {
                callers.append((call, phone))
            }
        }
        let taught = (try await context.redis.command("SMEMBERS", keys.visitorCallers(advertiser: id, visitor: visitor))
            .array ?? []).compactMap(\.string)

        var commands: [[String]] = [["DEL", keys.visitorSessions(advertiser: id, visitor: visitor)],
                                    ["DEL", keys.visitorCallers(advertiser: id, visitor: visitor)]]
        for session in sessionIds {
            for key in [keys.session(advertiser: id, session: session), keys.sessionEvents(advertiser: id, session: session),
                        keys.sessionSeen(advertiser: id, session: session),
                        keys.sessionPhoneClicks(advertiser: id, session: session),
                        keys.sessionPhones(advertiser: id, session: session),
                        keys.sessionRoutes(advertiser: id, session: session),
                        keys.sessionCalls(advertiser: id, session: session)] {
                commands.append(["DEL", key])
            }
            commands.append(["ZREM", keys.advertiserSessions(advertiser: id), session])
        }
        for call in calls {
            commands.append(["DEL", keys.attribution(advertiser: id, call: call)])
            commands.append(["DEL", keys.call(advertiser: id, call: call)])
            commands.append(["ZREM", keys.advertiserCalls(advertiser: id), call])
        }
        for phone in phones.union(callers.map(\.phone)).union(taught) {
            commands.append(["SREM", keys.phoneVisitors(advertiser: id, phone: phone), visitor])
        }
        for caller in callers {
            commands.append(["SREM", keys.phoneCalls(advertiser: id, phone: caller.phone), caller.call])
        }
        for pool in advertiser.pools {
            commands.append(["DEL", keys.poolVisitor(advertiser: id, pool: pool.id, visitor: visitor)])
            // Numbers whose live lease is deleted. They become free when the leases of their other holders end.
            var released: Set<String> = []
            for session in sessionIds {
                let sessionKey = keys.poolSession(advertiser: id, pool: pool.id, session: session)
                // A live lease names its session, so it goes too; the number is granted again once the lease's
                // time has passed.
                // The value is `number member`, or the number alone when written by an older version.
                if let value = try await context.redis.command("GET", sessionKey).string,
                    let number = value.split(separator: " ", maxSplits: 1).first.map(String.init)
                {
                    let lease = keys.lease(advertiser: id, pool: pool.id, number: number)
                    if let member = try await context.redis.command("GET", lease).string,
                        member.hasPrefix(session + "|")
                    {
                        commands.append(["DEL", lease])
                        released.insert(number)
                    }
                }
                commands.append(["DEL", sessionKey])
            }
            for number in pool.numbers {
                let history = keys.history(advertiser: id, pool: pool.id, number: number)
                let values = try await context.redis.command("ZRANGE", history, "0", "-1", "WITHSCORES").array ?? []
                var members: [String] = []
                var othersUntil: Int64 = 0
                for index in stride(from: 0, to: values.count - 1, by: 2) {
                    guard let member = values[index].string else { continue }
                    if member.split(separator: "|", omittingEmptySubsequences: false).dropFirst().first
                        == Substring(visitor)
                    {
                        members.append(member)
                    } else {
                        othersUntil = max(othersUntil, values[index + 1].string.flatMap { Int64($0) } ?? 0)
                    }
                }
                if !members.isEmpty { commands.append(["ZREM", history] + members) }
                if released.contains(number) {
                    // XX, so that a number removed from the pool meanwhile is not added back.
                    commands.append(["ZADD", keys.poolFree(advertiser: id, pool: pool.id), "XX", String(othersUntil),
                                     number])
                }
            }
        }
        try await context.redis.pipelineOrThrow(commands)
        return Erasure(visitorId: visitor, phone: nil, sessions: sessionIds, calls: calls)
    }

    /// Publishes null-value tombstones of the erased sessions and calls, and one `ringtrail.erasure` event on
    /// `attributions` so dashboards drop the erased calls.
    private func publishTombstones(_ erasure: Erasure, advertiser: Advertiser, sessionsToo: Bool = true) async throws {
        do {
            let producer = context.publisher.producer
            if sessionsToo {
                for session in erasure.sessions {
                    try await producer.sendTombstone(topic: context.topicName(.webActivity), key: session)
                }
            }
            for call in erasure.calls {
                for topic in [Topic.callEvents, .callScreens, .callMatches, .callOutcomes] {
                    try await producer.sendTombstone(topic: context.topicName(topic), key: call)
                }
            }
            try await context.publisher.publish(.attributions, key: advertiser.id, type: "ringtrail.erasure",
                                                advertiserID: advertiser.id, subject: nil, data: erasure)
        } catch {
            context.logger.error("Erasure tombstones not published", metadata: ["error": "\(error)"])
            throw HTTPError.unavailable("the data was erased but the broker is unreachable; send the request again "
                                        + "to publish the tombstones", retryAfterSeconds: 2)
        }
    }
}
