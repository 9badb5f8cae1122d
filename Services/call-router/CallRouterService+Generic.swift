import CarrierWebhooks
import Foundation
import HTTPKit
import Model
import ServiceKit
import Store

extension CallRouterService {
    /// Accepts call events from carriers without a signature scheme of their own, authenticated by an advertiser
    /// key with the `carrier` scope. `eventId`, when given, makes retries harmless.
    func genericWebhook(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.carrier])
        let advertiser = try context.tenants.advertiser(of: principal)
        let body = try request.decodeJSON(GenericCallEvent.self)
        let event: CallEvent
        do {
            event = try body.normalized()
        } catch {
            throw HTTPError.badRequest(error.reason)
        }
        let id = "generic:\(advertiser.id):\(body.eventId ?? "\(body.callId):\(body.status.rawValue)")"
        try await publishCallEvent(event, advertiser: advertiser, id: id, carrier: "generic")
        return .json(["accepted": true])
    }
}
