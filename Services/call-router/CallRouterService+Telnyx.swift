import Foundation
import HTTPKit
import Model
import PhoneKit
import SecurityKit
import ServiceKit
import Store

/// The parts of a Telnyx call-control webhook that Ringtrail reads.
struct TelnyxWebhook: Decodable {
    struct Payload: Decodable {
        var call_control_id: String?
        var call_leg_id: String?
        var call_session_id: String?
        var from: String?
        var to: String?
        var direction: String?
        var start_time: String?
        var end_time: String?
        var hangup_cause: String?
    }

    struct Event: Decodable {
        var event_type: String
        var id: String
        var occurred_at: String?
        var payload: Payload
    }

    var data: Event
}

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
        guard let event = try Self.normalizeTelnyx(webhook.data) else {
            return .json(["received": true, "ignored": true])
        }
        try await publishCallEvent(event, advertiser: advertiser, id: "telnyx:\(webhook.data.id)", carrier: "telnyx")
        return .json(["received": true])
    }

    /// Turns a Telnyx event into a `CallEvent`, or nil for event types Ringtrail does not track.
    ///
    /// - Throws: `HTTPError` 400 naming a missing or invalid field.
    static func normalizeTelnyx(_ event: TelnyxWebhook.Event) throws(HTTPError) -> CallEvent? {
        let status: CallEvent.Status
        switch event.event_type {
        case "call.initiated": status = .started
        case "call.answered": status = .answered
        case "call.hangup": status = .completed
        default: return nil
        }
        let payload = event.payload
        guard let callId = payload.call_session_id ?? payload.call_leg_id ?? payload.call_control_id,
            Identifier.isValid(callId)
        else { throw HTTPError.badRequest("payload.call_session_id is missing or invalid") }
        guard let rawTo = payload.to, let to = PhoneNumbers.canonical(rawTo)?.e164 else {
            throw HTTPError.badRequest("payload.to is missing or not a phone number")
        }
        let from = payload.from.flatMap { PhoneNumbers.canonical($0)?.e164 }
        var duration: Int?
        if status == .completed, let start = payload.start_time.flatMap(Timestamp.parseMilliseconds),
            let end = payload.end_time.flatMap(Timestamp.parseMilliseconds), end >= start
        {
            duration = Int((end - start) / 1000)
        }
        let occurred = event.occurred_at.flatMap(Timestamp.parseMilliseconds) ?? Int64(Date().timeIntervalSince1970 * 1000)
        return CallEvent(
            callId: callId, carrier: "telnyx", to: to, from: from,
            callerLocation: callerLocation([:], from: from), status: status, durationSeconds: duration,
            occurredAt: Timestamp.format(milliseconds: occurred)
        )
    }

    /// Publishes a normalized carrier event on `calls.events`; an unreachable broker is answered with 503.
    func publishCallEvent(_ event: CallEvent, advertiser: Advertiser, id: String, carrier: String) async throws {
        try await withBroker {
            try await context.publisher.publish(
                .callEvents, key: event.callId, type: event.cloudEventType, advertiserID: advertiser.id,
                subject: event.callId, data: event, id: id
            )
        }
        Metrics.shared.increment("ringtrail_webhooks_total", labels: ["carrier": carrier, "result": "accepted"])
    }
}
