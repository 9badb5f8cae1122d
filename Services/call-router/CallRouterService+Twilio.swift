import CarrierWebhooks
import Foundation
import HTTPKit
import Model
import SecurityKit
import ServiceKit
import Store

extension CallRouterService {
    /// Handles Twilio's voice webhook and status callbacks: checks the signature, publishes the normalized event
    /// on `calls.events` and, for the voice webhook, answers TwiML that forwards the call.
    func twilioWebhook(_ request: HTTPRequest, isStatusCallback: Bool) async throws -> HTTPResponse {
        let advertiserID = request.pathParameters["advertiserId"] ?? ""
        guard let advertiser = context.tenants.advertiser(advertiserID) else {
            count("unknown_advertiser")
            throw HTTPError.notFound("no advertiser \(advertiserID)")
        }
        guard let token = advertiser.carriers.twilio?.authToken else {
            count("not_configured")
            throw HTTPError.forbidden("advertiser \(advertiserID) has no Twilio credentials configured")
        }
        let parameters = try request.formParameters()
        guard let signature = request.header("x-twilio-signature"), !signature.isEmpty else {
            count("unsigned")
            throw HTTPError.forbidden("missing X-Twilio-Signature header")
        }
        let url = publicURL(of: request)
        guard TwilioSignature.isValid(signature: signature, url: url, parameters: parameters, authToken: token) else {
            count("bad_signature")
            context.logger.warning("Webhook signature invalid", metadata: ["advertiser": advertiserID])
            throw HTTPError.forbidden("X-Twilio-Signature does not match the request")
        }

        let form = Dictionary(parameters, uniquingKeysWith: { first, _ in first })
        let event: CallEvent
        do {
            event = try TwilioCall.normalize(form, isStatusCallback: isStatusCallback)
            // Consumers reject what fails these checks, so Twilio gets a 400 now rather than a silent loss later.
            try event.validate()
        } catch {
            throw HTTPError.badRequest(error.reason)
        }
        try await withBroker {
            try await context.publisher.publish(
                .callEvents, key: event.callId, type: event.cloudEventType, advertiserID: advertiser.id,
                subject: event.callId, data: event,
                id: "twilio:\(event.callId):\(event.status.rawValue)"
            )
        }
        count("accepted")
        guard !isStatusCallback else { return .text("<Response/>", contentType: "application/xml") }

        let forwardTo = advertiser.pool(owning: event.to)?.forwardTo
        return .text(Self.twiml(forwardingTo: forwardTo), contentType: "application/xml")
    }

    private func count(_ result: String) {
        Metrics.shared.increment("ringtrail_webhooks_total", labels: ["carrier": "twilio", "result": result])
    }

    /// The URL Twilio signed: the configured public base URL, or the scheme and host the request arrived at,
    /// followed by the request target exactly as received.
    func publicURL(of request: HTTPRequest) -> String {
        if let base = context.configuration.publicBaseURL { return base + request.rawTarget }
        let host = request.header("host") ?? "\(context.configuration.httpHost):\(context.configuration.httpPort)"
        let scheme = request.header("x-forwarded-proto") == "https" ? "https" : "http"
        return "\(scheme)://\(host)\(request.rawTarget)"
    }

    static func twiml(forwardingTo number: String?) -> String {
        guard let number else {
            return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Reject reason=\"busy\"/></Response>"
        }
        let escaped = number.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>\(escaped)</Dial></Response>"
    }
}
