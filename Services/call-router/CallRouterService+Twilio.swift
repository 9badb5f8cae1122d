import Foundation
import HTTPKit
import Model
import PhoneKit
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
        guard let signature = request.header("x-twilio-signature") else {
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
        let event = try Self.normalizeTwilio(form, isStatusCallback: isStatusCallback)
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

    /// Turns Twilio's form fields into a `CallEvent`.
    ///
    /// - Throws: `HTTPError` 400 naming a missing or invalid field.
    static func normalizeTwilio(_ form: [String: String], isStatusCallback: Bool) throws(HTTPError) -> CallEvent {
        guard let callId = form["CallSid"], Identifier.isValid(callId) else {
            throw HTTPError.badRequest("CallSid is missing or invalid")
        }
        guard let rawTo = form["To"], let to = PhoneNumbers.canonical(rawTo)?.e164 else {
            throw HTTPError.badRequest("To is missing or not a phone number")
        }
        let from = form["From"].flatMap { PhoneNumbers.canonical($0)?.e164 }
        let status = isStatusCallback ? twilioStatus(form["CallStatus"] ?? "") : .started
        var duration: Int?
        if let text = form["CallDuration"] ?? form["Duration"] {
            guard let value = Int(text), value >= 0 else { throw HTTPError.badRequest("CallDuration must be seconds") }
            duration = value
        }
        let occurred = form["Timestamp"].flatMap(parseRFC2822) ?? Date()
        return CallEvent(
            callId: callId,
            carrier: "twilio",
            to: to,
            from: from,
            callerLocation: callerLocation(form, from: from),
            status: status,
            durationSeconds: duration,
            occurredAt: Timestamp.format(occurred)
        )
    }

    static func twilioStatus(_ status: String) -> CallEvent.Status {
        switch status {
        case "queued", "initiated": .started
        case "ringing": .ringing
        case "in-progress", "answered": .answered
        case "completed": .completed
        default: .failed
        }
    }

    /// The caller's location from Twilio's `From*` fields, or from the number's prefix with the offline geocoder.
    static func callerLocation(_ form: [String: String], from: String?) -> Location? {
        func field(_ name: String) -> String? {
            guard let value = form[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        if field("FromState") != nil || field("FromCity") != nil {
            return Location(country: field("FromCountry"), region: field("FromState"), city: field("FromCity"),
                            postalCode: field("FromZip"))
        }
        guard let from, let number = PhoneNumber(e164: from), let location = PhoneNumbers.location(of: number)
        else { return nil }
        return Location(country: location.country, region: location.region, city: location.city)
    }

    static func parseRFC2822(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.date(from: text)
    }

    static func twiml(forwardingTo number: String?) -> String {
        guard let number else {
            return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Reject reason=\"busy\"/></Response>"
        }
        let escaped = number.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial>\(escaped)</Dial></Response>"
    }
}
