import Foundation
import HTTPKit
import Model
import PhoneKit
import ServiceKit
import Store

/// The body of the generic carrier webhook: a call event in Ringtrail's own terms.
struct GenericCallEvent: Decodable {
    var eventId: String?
    var callId: String
    var to: String
    var from: String?
    var status: CallEvent.Status
    var durationSeconds: Int?
    var occurredAt: String?
    var callerLocation: Location?
}

extension CallRouterService {
    /// Accepts call events from carriers without a signature scheme of their own, authenticated by an advertiser
    /// key with the `carrier` scope. `eventId`, when given, makes retries harmless.
    func genericWebhook(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.carrier])
        let advertiser = try context.tenants.advertiser(of: principal)
        let body = try request.decodeJSON(GenericCallEvent.self)
        guard let to = PhoneNumbers.canonical(body.to)?.e164 else {
            throw HTTPError.badRequest("to is not a phone number")
        }
        let from = body.from.flatMap { PhoneNumbers.canonical($0)?.e164 }
        if let occurredAt = body.occurredAt, Timestamp.parseMilliseconds(occurredAt) == nil {
            throw HTTPError.badRequest("occurredAt must be an RFC 3339 timestamp such as 2026-05-17T10:05:03.000Z")
        }
        let event = CallEvent(
            callId: body.callId, carrier: "generic", to: to, from: from,
            callerLocation: body.callerLocation ?? Self.callerLocation([:], from: from), status: body.status,
            durationSeconds: body.durationSeconds, occurredAt: body.occurredAt ?? Timestamp.format(Date())
        )
        do {
            try event.validate()
        } catch {
            throw HTTPError.badRequest(error.reason)
        }
        let id = "generic:\(advertiser.id):\(body.eventId ?? "\(body.callId):\(body.status.rawValue)")"
        try await publishCallEvent(event, advertiser: advertiser, id: id, carrier: "generic")
        return .json(["accepted": true])
    }
}
