import Foundation
import Model
import PhoneKit

/// The body of the generic carrier webhook: a call event in Ringtrail's own terms.
public struct GenericCallEvent: Decodable, Sendable {
    public var eventId: String?
    public var callId: String
    public var to: String
    public var from: String?
    public var status: CallEvent.Status
    public var durationSeconds: Int?
    public var occurredAt: String?
    public var callerLocation: Location?

    /// Turns the body into a validated `CallEvent` with normalized numbers; `occurredAt` defaults to `now`.
    ///
    /// - Throws: `ValidationError` naming the first invalid field.
    public func normalized(now: Date = Date()) throws(ValidationError) -> CallEvent {
        guard let to = PhoneNumbers.canonical(to)?.e164 else {
            throw ValidationError("to is not a phone number")
        }

        let from = from.flatMap { PhoneNumbers.canonical($0)?.e164 }
        if let occurredAt, Timestamp.parseMilliseconds(occurredAt) == nil {
            throw ValidationError("occurredAt must be an RFC 3339 timestamp such as 2026-05-17T10:05:03.000Z")
        }
        let event = CallEvent(
            callId: callId,
            carrier: "generic",
            to: to,
            from: from,
            callerLocation: callerLocation ?? CallerLocation.from([:], from: from),
            status: status,
            durationSeconds: durationSeconds,
            occurredAt: occurredAt ?? Timestamp.format(now)
        )
        try event.validate()
        return event
    }
}
