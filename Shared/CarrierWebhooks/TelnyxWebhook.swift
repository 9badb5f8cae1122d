import Foundation
import Model
import PhoneKit

/// The parts of a Telnyx call-control webhook that Ringtrail reads.
public struct TelnyxWebhook: Decodable, Sendable {
    public struct Payload: Decodable, Sendable {
        public var call_control_id: String?
        public var call_leg_id: String?
        public var call_session_id: String?
        public var from: String?
        public var to: String?
        public var direction: String?
        public var start_time: String?
        public var end_time: String?
        public var hangup_cause: String?
    }

    public struct Event: Decodable, Sendable {
        public var event_type: String
        public var id: String
        public var occurred_at: String?
        public var payload: Payload
    }

    public var data: Event

    /// Turns the event into a `CallEvent`, or nil for event types Ringtrail does not track.
    ///
    /// - Throws: `ValidationError` naming a missing or invalid field.
    public func normalized(now: Date = Date()) throws(ValidationError) -> CallEvent? {
        let status: CallEvent.Status
        switch data.event_type {
        case "call.initiated": status = .started
        case "call.answered": status = .answered
        case "call.hangup": status = .completed
        default: return nil
        }
        // The event id becomes part of the published event's id, which may hold at most 256 characters.
        guard !data.id.isEmpty, data.id.utf8.count <= 200 else { throw ValidationError("data.id must be 1 to 200 bytes") }
        let payload = data.payload
        guard let callId = payload.call_session_id ?? payload.call_leg_id ?? payload.call_control_id,
            Identifier.isValid(callId)
        else { throw ValidationError("payload.call_session_id is missing or invalid") }
        guard let rawTo = payload.to, let to = PhoneNumbers.canonical(rawTo)?.e164 else {
            throw ValidationError("payload.to is missing or not a phone number")
        }

        let from = payload.from.flatMap { PhoneNumbers.canonical($0)?.e164 }
        var duration: Int?
        if status == .completed, let start = payload.start_time.flatMap(Timestamp.parseMilliseconds),
            let end = payload.end_time.flatMap(Timestamp.parseMilliseconds), end >= start
        {
            duration = Int((end - start) / 1000)
        }
        let occurred = data.occurred_at.flatMap(Timestamp.parseMilliseconds) ?? Int64(now.timeIntervalSince1970 * 1000)
        return CallEvent(
            callId: callId,
            carrier: "telnyx",
            to: to,
            from: from,
            callerLocation: CallerLocation.from([:], from: from),
            status: status,
            durationSeconds: duration,
            occurredAt: Timestamp.format(milliseconds: occurred)
        )
    }
}
