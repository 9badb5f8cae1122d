import Foundation
import HTTPKit
import Model
import RedisKit
import ServiceKit
import Store

/// A call as it appears in a session's complete record.
struct RecordedCall: Codable {
    var callId: String
    var to: String?
    var startedAt: String?
    var durationSeconds: Int?
    var method: CallMatch.Method?
    var probability: Double?
    var agentId: String?
    var matchedAt: String?
    var disposition: String?
    var revenue: Double?
    var currency: String?
    var notes: String?
}

/// The complete record of a session: its online activity and every call matched to it.
struct CompleteRecord: Encodable {
    var session: SessionRecord
    var calls: [RecordedCall]
    /// The visitor's other sessions, oldest first.
    var visitorSessions: [String]
}

struct SessionSummary: Encodable {
    var sessionId: String
    var visitorId: String?
    var startedAt: String?
    var lastActiveAt: String?
    var landingPage: String?
    var channel: Channel?
    var campaign: Campaign?
    var clickIds: [String: String]
    var pageViews: Int
    var calls: Int
    var dispositions: [String: Int]
    var revenue: [String: Double]
    var totalDurationSeconds: Int
}

extension AttributionService {
    private func completeRecord(_ request: HTTPRequest) async throws -> CompleteRecord {
        let principal = try context.tenants.authorize(request, anyOf: [.read])
        let advertiser = try context.tenants.advertiser(of: principal)
        let id = request.pathParameters["sessionId"] ?? ""
        do {
            guard Identifier.isValidSession(id), let session = try await sessions.record(advertiser: advertiser.id, session: id)
            else { throw HTTPError.notFound("no session \(id)") }

            var calls: [RecordedCall] = []
            for callId in try await store.calls(advertiser: advertiser.id, session: id) {
                guard let joined = try await store.joined(advertiser: advertiser.id, callId: callId),
                    joined.match?.sessionId == id
                else { continue }
                calls.append(RecordedCall(
                    callId: callId, to: joined.to, startedAt: joined.startedAt.map { Timestamp.format(milliseconds: $0) },
                    durationSeconds: joined.durationSeconds, method: joined.match?.method,
                    probability: joined.match?.probability, agentId: joined.match?.agentId,
                    matchedAt: joined.match?.decidedAt, disposition: joined.outcome?.disposition,
                    revenue: joined.outcome?.revenue, currency: joined.outcome?.currency, notes: joined.outcome?.notes
                ))
            }
            var others: [String] = []
            if let visitor = session.visitorId {
                others = try await sessions.sessions(advertiser: advertiser.id, visitor: visitor).filter { $0 != id }
            }
            return CompleteRecord(session: session, calls: calls, visitorSessions: others)
        } catch let error as RedisError where error.code != .server || error.isRetriable {
            throw context.redisUnavailable(error)
        }
    }

    func record(_ request: HTTPRequest) async throws -> HTTPResponse {
        .json(try await completeRecord(request))
    }

    func summary(_ request: HTTPRequest) async throws -> HTTPResponse {
        let record = try await completeRecord(request)
        var dispositions: [String: Int] = [:]
        var revenue: [String: Double] = [:]
        for call in record.calls {
            if let disposition = call.disposition { dispositions[disposition, default: 0] += 1 }
            if let amount = call.revenue, let currency = call.currency { revenue[currency, default: 0] += amount }
        }
        return .json(SessionSummary(
            sessionId: record.session.sessionId,
            visitorId: record.session.visitorId,
            startedAt: record.session.startedAt,
            lastActiveAt: record.session.lastActiveAt,
            landingPage: record.session.landingPage,
            channel: record.session.channel,
            campaign: record.session.campaign,
            clickIds: record.session.clickIds,
            pageViews: record.session.pages.count,
            calls: record.calls.count,
            dispositions: dispositions,
            revenue: revenue,
            totalDurationSeconds: record.calls.reduce(0) { $0 + ($1.durationSeconds ?? 0) }
        ))
    }
}
