import Foundation
import HTTPKit
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Store

/// The body of `POST /v1/leases`.
struct LeaseRequest: Decodable {
    var pool: String
    var sessionId: String?
    var visitorId: String?
    var userAgent: String?
    var page: String?

    /// Reads the body of `request`: the common flat shape without `JSONDecoder`, anything else with it, which
    /// also returns the error for a body it rejects.
    static func read(from request: HTTPRequest) throws(HTTPError) -> LeaseRequest {
        if request.hasJSONContentType, let fields = FlatJSON.parse(request.body), let parsed = LeaseRequest(fields) {
            return parsed
        }
        return try request.decodeJSON(LeaseRequest.self)
    }

    /// The request in `fields`, or nil when a field has a type `Decodable` would reject.
    init?(_ fields: [String: FlatJSONValue]) {
        func text(_ name: String) -> String?? {
            switch fields[name] {
            case .none, .null: return .some(nil)
            case .string(let value): return .some(value)
            case .bool: return nil
            }
        }
        guard case .string(let pool) = fields["pool"], let sessionId = text("sessionId"),
            let visitorId = text("visitorId"), let userAgent = text("userAgent"), let page = text("page")
        else { return nil }
        self.pool = pool
        self.sessionId = sessionId
        self.visitorId = visitorId
        self.userAgent = userAgent
        self.page = page
    }
}

struct HistoryEntry: Encodable {
    var sessionId: String
    var visitorId: String?
    var from: String
    var until: String
    /// True for a lease that took the number from a session that still held it; left out otherwise.
    var recycled: Bool?
}

extension NumberPoolService {
    func lease(_ request: HTTPRequest) async throws -> HTTPResponse {
        let started = ContinuousClock.now
        let principal = try context.tenants.authorize(request, anyOf: [.web])
        let advertiser = try context.tenants.advertiser(of: principal)
        let body = try LeaseRequest.read(from: request)
        guard let pool = advertiser.pool(body.pool) else {
            throw HTTPError(status: 404, code: "not_found", message: "no pool \(body.pool) for this advertiser",
                            headers: [])
        }
        if let session = body.sessionId, !Identifier.isValid(session) {
            throw HTTPError.badRequest("sessionId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
        }
        if let visitor = body.visitorId, !Identifier.isValid(visitor) {
            throw HTTPError.badRequest("visitorId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
        }
        let session = body.sessionId ?? NumberPoolService.makeSessionID()

        // A request without a user agent is taken as a person's: the web tier did not say otherwise.
        let isBot = !BotDetector.isAbsent(body.userAgent) && BotDetector.isBot(userAgent: body.userAgent)
        let grant: LeaseGrant
        do {
            if isBot {
                // Bots get the fallback number and no lease; the fallback is still published on number.leases.
                guard let fallback = pool.fallbackNumber else {
                    throw HTTPError.unavailable(
                        "bots get the fallback number, and pool \(pool.id) has no fallbackNumber",
                        retryAfterSeconds: 5
                    )
                }
                let now = try await context.withRedis {
                    try await leases.recordFallback(advertiser: advertiser.id, pool: pool, number: fallback,
                                                    session: session, visitor: body.visitorId)
                }
                grant = LeaseGrant(status: .fallback, number: fallback, from: now, until: nil)
            } else {
                grant = try await context.withRedis {
                    try await leases.grant(advertiser: advertiser, pool: pool, session: session,
                                           visitor: body.visitorId, lookbackSeconds: advertiser.lookbackSeconds)
                }
            }
        } catch let error as LeaseBacklogError {
            context.logger.error("Lease request rejected: the lease outbox is full because number.leases is not "
                                 + "being published",
                                 metadata: ["pool": error.pool])
            throw HTTPError.unavailable("the event broker has been unreachable for too long; try again",
                                        retryAfterSeconds: 5)
        }
        // The script appended the lease event to the pool's outbox, and the publisher moves it to number.leases.
        outbox.notify(advertiser: advertiser.id, pool: pool.id)
        if grant.status == .fallback, !isBot {
            Metrics.shared.increment("ringtrail_pool_exhausted_total", labels: ["advertiser": advertiser.id,
                                                                               "pool": pool.id])
        }
        guard let number = grant.number else {
            throw HTTPError.unavailable("pool \(pool.id) has no free number and no fallbackNumber",
                                        retryAfterSeconds: 5)
        }
        Metrics.shared.increment("ringtrail_leases_total", labels: ["advertiser": advertiser.id, "pool": pool.id,
                                                                   "status": grant.status.rawValue])
        Metrics.shared.observe("ringtrail_lease_duration_seconds", (ContinuousClock.now - started).seconds)
        // Written by hand, in the sorted order JSONEncoder would use: this runs on every page view.
        return .jsonObject([
            "display": NumberPoolService.display(number),
            "leasedUntil": grant.until.map { Timestamp.format(milliseconds: $0) },
            "number": number,
            "sessionId": session,
            "status": grant.status.rawValue,
        ])
    }

    func poolStats(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.read])
        let advertiser = try context.tenants.advertiser(of: principal)
        let id = request.pathParameters["pool"] ?? ""
        guard let pool = advertiser.pool(id) else {
            throw HTTPError(status: 404, code: "not_found", message: "no pool \(id) for this advertiser", headers: [])
        }
        return .json(try await context.withRedis { try await leases.stats(advertiser: advertiser.id, pool: pool) })
    }

    func history(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.read])
        let advertiser = try context.tenants.advertiser(of: principal)
        let number = request.pathParameters["number"] ?? ""
        guard let pool = advertiser.pool(owning: number) else {
            throw HTTPError(status: 404, code: "not_found", message: "no pool of this advertiser has \(number)",
                            headers: [])
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var since = now - Int64(advertiser.lookbackSeconds * 1000)
        if let text = request.query["since"] {
            guard let parsed = Timestamp.parseMilliseconds(text) else {
                throw HTTPError.badRequest("since must be an RFC 3339 timestamp such as 2026-05-17T10:05:03.000Z")
            }
            since = parsed
        }
        let records = try await context.withRedis {
            try await leases.history(advertiser: advertiser.id, pool: pool.id, number: number, since: since)
        }
        return .json(records.map {
            HistoryEntry(sessionId: $0.sessionId, visitorId: $0.visitorId,
                         from: Timestamp.format(milliseconds: $0.from), until: Timestamp.format(milliseconds: $0.until),
                         recycled: $0.recycled ? true : nil)
        })
    }

    /// A new session id for a request that came without one.
    static func makeSessionID() -> String {
        "sid-" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(20)
    }

    /// The national display form of a NANP number, `(555) 555-0101`; other numbers are shown in E.164.
    static func display(_ number: String) -> String {
        let digits = Array(number.dropFirst())
        guard number.hasPrefix("+1"), digits.count == 11 else { return number }
        let area = String(digits[1...3]), exchange = String(digits[4...6]), line = String(digits[7...10])
        return "(\(area)) \(exchange)-\(line)"
    }
}
