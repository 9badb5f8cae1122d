import CarrierWebhooks
import Foundation
import HTTPKit
import Model
import SecurityKit
import ServiceKit
import Store

extension CallRouterService {
    /// Handles Telnyx's `call.initiated`, `call.answered` and `call.hangup` events, checked against their Ed25519
    /// signature and timestamp; other event types are acknowledged and ignored.
    func telnyxWebhook(_ request: HTTPRequest) async throws -> HTTPResponse {
        let advertiserID = request.pathParameters["advertiserId"] ?? ""
        guard let advertiser = context.tenants.advertiser(advertiserID) else {
            throw HTTPError.notFound("no advertiser \(advertiserID)")
        }
        guard let publicKey = advertiser.carriers.telnyx?.publicKey else {
            throw HTTPError.forbidden("advertiser \(advertiserID) has no Telnyx public key configured")
        }
        guard let signature = request.header(TelnyxSignature.signatureHeader),
            let timestamp = request.header(TelnyxSignature.timestampHeader)
        else {
            throw HTTPError.forbidden("missing telnyx-signature-ed25519 or telnyx-timestamp header")
        }
        guard TelnyxSignature.isValid(signatureBase64: signature, timestamp: timestamp, body: request.body,
                                      publicKeyBase64: publicKey, now: Date())
        else {
            Metrics.shared.increment("ringtrail_webhooks_total", labels: ["carrier": "telnyx", "result": "bad_signature"])
            context.logger.warning("Webhook signature invalid", metadata: ["advertiser": advertiserID, "carrier": "telnyx"])
            throw HTTPError.forbidden("the Telnyx signature does not match the request or its timestamp is stale")
        }
        let webhook = try request.decodeJSON(TelnyxWebhook.self)
        let normalized: CallEvent?
        do {
            normalized = try webhook.normalized()
        } catch {
            throw HTTPError.badRequest(error.reason)
        }
        guard let event = normalized else {
            return .json(["received": true, "ignored": true])
        }
        try await publishCallEvent(event, advertiser: advertiser, id: "telnyx:\(webhook.data.id)", carrier: "telnyx")
        return .json(["received": true])
    }

    /// Publishes a normalized carrier event on `calls.events`; an unreachable broker is answered with 503.
    func publishCallEvent(_ event: CallEvent, advertiser: Advertiser, id: String, carrier: String) async throws {
        // Consumers reject what fails these checks, so the carrier gets a 400 now rather than a silent loss later.
        do {
            try event.validate()
        } catch {
            Metrics.shared.increment("ringtrail_webhooks_total", labels: ["carrier": carrier, "result": "invalid"])
            throw HTTPError.badRequest(error.reason)
        }
        guard id.utf8.count <= 256 else { throw HTTPError.badRequest("the event id is longer than 256 bytes") }
        try await withBroker {
            try await context.publisher.publish(
                .callEvents, key: event.callId, type: event.cloudEventType, advertiserID: advertiser.id,
                subject: event.callId, data: event, id: id
            )
        }
        Metrics.shared.increment("ringtrail_webhooks_total", labels: ["carrier": carrier, "result": "accepted"])
    }
}
