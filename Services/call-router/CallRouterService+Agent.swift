import Foundation
import HTTPKit
import Model
import ServiceKit
import Store

/// The answer of `GET /v1/calls/{callId}`; `from` and `match` are written as null when absent.
struct CallView: Encodable {
    var record: CallRecord

    enum CodingKeys: String, CodingKey {
        case callId, advertiserId, to, from, callerLocation, startedAt, status, durationSeconds, screened
        case candidates, omittedCandidates, match, outcome
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(record.callId, forKey: .callId)
        try container.encode(record.advertiserId, forKey: .advertiserId)
        try container.encode(record.to, forKey: .to)
        try container.encode(record.from, forKey: .from)
        try container.encodeIfPresent(record.callerLocation, forKey: .callerLocation)
        try container.encodeIfPresent(record.startedAt.map { Timestamp.format(milliseconds: $0) }, forKey: .startedAt)
        try container.encode(Self.apiStatus(record.status), forKey: .status)
        if record.status == "completed" || record.status == "failed" {
            try container.encodeIfPresent(record.durationSeconds, forKey: .durationSeconds)
        }
        try container.encode(record.isScreened, forKey: .screened)
        try container.encode(record.candidates, forKey: .candidates)
        try container.encode(record.omittedCandidates, forKey: .omittedCandidates)
        try container.encode(record.match, forKey: .match)
        try container.encode(record.outcome, forKey: .outcome)
    }

    /// The status as the API names it: `ringing`, `in-progress`, `completed` or `failed`.
    static func apiStatus(_ status: String?) -> String {
        switch status {
        case "answered": "in-progress"
        case "completed": "completed"
        case "failed": "failed"
        default: "ringing"
        }
    }
}

struct MatchRequest: Decodable {
    var sessionId: String?
    var agentId: String?
    var hasSessionId: Bool

    enum CodingKeys: String, CodingKey { case sessionId, agentId }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        hasSessionId = container.contains(.sessionId)
        sessionId = try container.decodeIfPresent(String.self, forKey: .sessionId)
        agentId = try container.decodeIfPresent(String.self, forKey: .agentId)
    }
}

struct OutcomeRequest: Decodable {
    var disposition: String
    var revenue: Double?
    var currency: String?
    var notes: String?
    var agentId: String?
}

extension CallRouterService {
    /// Finds the call and checks that the key may see it; another tenant's call is 404, as if it did not exist.
    private func authorizedCall(_ request: HTTPRequest, scopes: Set<Scope>) async throws -> (CallRecord, Advertiser) {
        let principal = try context.tenants.authorize(request, anyOf: scopes)
        let callId = request.pathParameters["callId"] ?? ""
        guard Identifier.isValid(callId),
            let owner = try await context.withRedis({ try await calls.owner(of: callId) }),
            context.tenants.mayAccessCalls(of: owner, principal: principal),
            let advertiser = context.tenants.advertiser(owner),
            let record = try await context.withRedis({ try await calls.record(advertiser: owner, callId: callId) })
        else {
            throw HTTPError.notFound("no call \(callId)")
        }
        return (record, advertiser)
    }

    func getCall(_ request: HTTPRequest) async throws -> HTTPResponse {
        let (record, _) = try await authorizedCall(request, scopes: [.agent, .read])
        return .json(CallView(record: record))
    }

    /// Records the agent's decision, publishes it, and remembers the caller number for the chosen visitor.
    func postMatch(_ request: HTTPRequest) async throws -> HTTPResponse {
        let (record, advertiser) = try await authorizedCall(request, scopes: [.agent])
        let body = try request.decodeJSON(MatchRequest.self)
        guard body.hasSessionId else {
            throw HTTPError.badRequest("sessionId is required: a candidate's session id, or null for none of them")
        }
        var chosen: Candidate?
        if let session = body.sessionId {
            guard let candidate = record.candidates.first(where: { $0.sessionId == session }) else {
                throw HTTPError(status: 422, code: "not_a_candidate",
                                message: "session \(session) is not among this call's candidates", headers: [])
            }
            chosen = candidate
        }
        if let agent = body.agentId, !Identifier.isValid(agent) {
            throw HTTPError.badRequest("agentId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
        }
        let match = CallMatch(callId: record.callId, sessionId: chosen?.sessionId, visitorId: chosen?.visitorId,
                              method: .agent, probability: chosen?.probability, agentId: body.agentId,
                              decidedAt: Timestamp.format(Date()))
        try await withBroker {
            try await context.publisher.publish(.callMatches, key: record.callId, type: EventType.callMatched,
                                                advertiserID: advertiser.id, subject: record.callId, data: match)
        }
        try await context.withRedis {
            try await calls.storeMatch(match, advertiser: advertiser.id)
            if let from = record.from, let visitor = chosen?.visitorId {
                try await sessions.rememberCaller(advertiser: advertiser, phone: from, visitor: visitor)
            }
        }
        Metrics.shared.increment("ringtrail_call_matches_total", labels: ["method": "agent"])
        return .json(match)
    }

    func postOutcome(_ request: HTTPRequest) async throws -> HTTPResponse {
        let (record, advertiser) = try await authorizedCall(request, scopes: [.agent])
        let body = try request.decodeJSON(OutcomeRequest.self)
        if let agent = body.agentId, !Identifier.isValid(agent) {
            throw HTTPError.badRequest("agentId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
        }
        let outcome = CallOutcome(callId: record.callId, disposition: body.disposition, revenue: body.revenue,
                                  currency: body.currency, notes: body.notes, agentId: body.agentId,
                                  recordedAt: Timestamp.format(Date()))
        do {
            try outcome.validate()
        } catch {
            throw HTTPError(status: 422, code: "invalid_outcome", message: error.reason, headers: [])
        }
        try await withBroker {
            try await context.publisher.publish(.callOutcomes, key: record.callId, type: EventType.callOutcome,
                                                advertiserID: advertiser.id, subject: record.callId, data: outcome)
        }
        try await context.withRedis { try await calls.storeOutcome(outcome, advertiser: advertiser.id) }
        return .json(outcome)
    }
}
