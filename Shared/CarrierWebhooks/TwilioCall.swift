import Foundation
import Model
import PhoneKit

/// Twilio's voice webhook and status callback fields, turned into a `CallEvent`.
public enum TwilioCall {
    /// Turns Twilio's form fields into a `CallEvent`.
    ///
    /// - Throws: `ValidationError` naming a missing or invalid field.
    public static func normalize(_ form: [String: String], isStatusCallback: Bool) throws(ValidationError)
        -> CallEvent
    {
        guard let callId = form["CallSid"], Identifier.isValid(callId) else {
            throw ValidationError("CallSid is missing or invalid")
        }
        guard let rawTo = form["To"], let to = PhoneNumbers.canonical(rawTo)?.e164 else {
            throw ValidationError("To is missing or not a phone number")
        }

        let from = form["From"].flatMap { PhoneNumbers.canonical($0)?.e164 }
        let status = isStatusCallback ? self.status(form["CallStatus"] ?? "") : .started
        var duration: Int?
        if let text = form["CallDuration"] ?? form["Duration"] {
            guard let value = Int(text), value >= 0 else { throw ValidationError("CallDuration must be seconds") }
            duration = value
        }
        let occurred = form["Timestamp"].flatMap(parseRFC2822) ?? Date()
        return CallEvent(
            callId: callId,
            carrier: "twilio",
            to: to,
            from: from,
            callerLocation: CallerLocation.from(form, from: from),
            status: status,
            durationSeconds: duration,
            occurredAt: Timestamp.format(occurred)
        )
    }

    /// Maps Twilio's `CallStatus` to a call status; an unknown value counts as failed.
    public static func status(_ status: String) -> CallEvent.Status {
        switch status {
        case "queued", "initiated": .started
        case "ringing": .ringing
        case "in-progress", "answered": .answered
        case "completed": .completed
        default: .failed
        }
    }

    /// Parses Twilio's `Timestamp` field, an RFC 2822 date such as `Tue, 19 May 2026 10:05:03 +0000`.
    public static func parseRFC2822(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.date(from: text)
    }
}
