// The decoders that `make fuzz` feeds with generated input, one per fuzz target. `scripts/fuzz.sh` compiles this
// file into the libFuzzer binary, and `FuzzCorpusTests` runs every file of `Tests/FuzzCorpus` through it, so the
// fuzzer and the regression test exercise the same code.
import CarrierWebhooks
import Foundation
import HTTPKit
import Model
import PhoneKit

/// Where input enters Ringtrail from outside: topics, request bodies, request targets, phone numbers and times.
enum FuzzTarget: String, CaseIterable, Sendable {
    /// A `web.activity` message.
    case cloudEventWeb = "cloudevent-web"
    /// A `calls.events` message.
    case cloudEventCall = "cloudevent-call"
    /// A `calls.matches` message.
    case cloudEventMatch = "cloudevent-match"
    /// A `calls.outcomes` message.
    case cloudEventOutcome = "cloudevent-outcome"
    /// The body of `POST /v1/collect`, each event decoded and validated.
    case collect
    /// The body of the Telnyx webhook, normalized to a call event.
    case telnyx
    /// The body of the generic carrier webhook, normalized to a call event.
    case generic
    /// A Twilio form body, parsed and normalized as both the voice webhook and the status callback.
    case twilioForm = "twilio-form"
    /// A request target (path and query) as it arrives on the request line.
    case requestTarget = "request-target"
    /// A phone number as a carrier or a form sends it.
    case phone
    /// An RFC 3339 time, and Twilio's RFC 2822 `Timestamp`.
    case timestamp
    /// A small request body read by `FlatJSON`, which must agree with `JSONDecoder` on whatever it accepts.
    case flatJSON = "flat-json"
    /// Any JSON document read by `JSONValue.parse`, which must agree with `JSONDecoder` on whatever it accepts, and
    /// read as a `web.activity` message without `JSONDecoder`, which must give the event `JSONDecoder` gives.
    case jsonValue = "json-value"

    /// What a decoder made of one input.
    enum Outcome: Equatable {
        case accepted
        case rejected(reason: String)
    }

    /// Runs `bytes` through the target's decoders; any crash is a bug in them.
    func run(_ bytes: [UInt8]) -> Outcome {
        switch self {
        case .cloudEventWeb:
            return outcome { () throws(ValidationError) in
                _ = try CloudEvent<WebEvent>.decode(bytes, expectedTypes: EventType.webTypes)
            }
        case .cloudEventCall:
            return outcome { () throws(ValidationError) in
                _ = try CloudEvent<CallEvent>.decode(bytes, expectedTypes: EventType.callEventTypes)
            }
        case .cloudEventMatch:
            return outcome { () throws(ValidationError) in
                _ = try CloudEvent<CallMatch>.decode(bytes, expectedTypes: [EventType.callMatched])
            }
        case .cloudEventOutcome:
            return outcome { () throws(ValidationError) in
                _ = try CloudEvent<CallOutcome>.decode(bytes, expectedTypes: [EventType.callOutcome])
            }
        case .collect:
            return runCollect(bytes)
        case .telnyx:
            return runJSONBody(bytes, as: TelnyxWebhook.self) { webhook throws(ValidationError) in
                _ = try webhook.normalized()
            }
        case .generic:
            return runJSONBody(bytes, as: GenericCallEvent.self) { body throws(ValidationError) in
                _ = try body.normalized()
            }
        case .twilioForm:
            return runTwilioForm(bytes)
        case .requestTarget:
            do {
                let request = try HTTPRequest(method: "GET", target: String(decoding: bytes, as: UTF8.self))
                _ = (request.path, request.queryItems)
                return .accepted
            } catch {
                return .rejected(reason: error.message)
            }
        case .phone:
            return runPhone(String(decoding: bytes, as: UTF8.self))
        case .flatJSON:
            guard let fields = FlatJSON.parse(bytes) else { return .rejected(reason: "not a flat JSON object") }
            // JSONDecoder is the reader the endpoints fall back to. JSONSerialization is no reference: it drops a
            // U+FEFF at the start of a string value.
            guard case .object(let parsed)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
                preconditionFailure("FlatJSON accepted what JSONDecoder rejects")
            }
            precondition(parsed.count == fields.count, "FlatJSON accepted what JSONDecoder reads otherwise")
            for (name, value) in fields {
                switch value {
                case .string(let text): precondition(parsed[name] == .string(text), "string \(name) differs")
                case .bool(let flag): precondition(parsed[name] == .bool(flag), "boolean \(name) differs")
                case .null: precondition(parsed[name] == .null, "null \(name) differs")
                }
            }
            return .accepted
        case .jsonValue:
            return runJSONValue(bytes)
        case .timestamp:
            let text = String(decoding: bytes, as: UTF8.self)
            // Creating its DateFormatter costs about a millisecond, so only text with the comma after the weekday
            // goes to it, and the fuzzer spends its time on the RFC 3339 parser.
            if bytes.contains(UInt8(ascii: ",")) { _ = TwilioCall.parseRFC2822(text) }
            guard let milliseconds = Timestamp.parseMilliseconds(text) else {
                return .rejected(reason: "not an RFC 3339 time")
            }
            // Whatever parses must format and parse back to the same instant.
            let formatted = Timestamp.format(milliseconds: milliseconds)
            precondition(Timestamp.parseMilliseconds(formatted) == milliseconds, "time does not round-trip")
            return .accepted
        }
    }

    private func runJSONValue(_ bytes: [UInt8]) -> Outcome {
        if let event = CloudEvent<WebEvent>.readWithoutDecoder(bytes) {
            let decoded = try? JSONDecoder().decode(CloudEvent<WebEvent>.self, from: Data(bytes))
            precondition(decoded?.data == event.data, "the web event differs from JSONDecoder's")
            precondition(
                decoded.map { [$0.id, $0.source, $0.type, $0.time, $0.advertiserid, $0.specversion, $0.datacontenttype] }
                    == [event.id, event.source, event.type, event.time, event.advertiserid, event.specversion,
                        event.datacontenttype] && decoded?.subject == event.subject,
                "the envelope differs from JSONDecoder's")
        }
        guard let value = JSONValue.parse(bytes) else { return .rejected(reason: "not read without JSONDecoder") }
        let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        precondition(decoded == value, "JSONValue.parse read what JSONDecoder reads otherwise")
        return .accepted
    }

    private func outcome(_ body: () throws(ValidationError) -> Void) -> Outcome {
        do {
            try body()
            return .accepted
        } catch {
            return .rejected(reason: error.reason)
        }
    }

    private func jsonRequest(_ bytes: [UInt8]) -> HTTPRequest {
        // The target is a constant that parses, so this initializer cannot throw here.
        try! HTTPRequest(method: "POST", target: "/", headers: ["Content-Type": "application/json"], body: bytes)
    }

    private func runJSONBody<Body: Decodable>(
        _ bytes: [UInt8],
        as type: Body.Type,
        normalize: (Body) throws(ValidationError) -> Void
    ) -> Outcome {
        do {
            let body = try jsonRequest(bytes).decodeJSON(type)
            return outcome { () throws(ValidationError) in try normalize(body) }
        } catch {
            return .rejected(reason: error.message)
        }
    }

    private func runCollect(_ bytes: [UInt8]) -> Outcome {
        let batch: CollectBatch
        do {
            batch = try jsonRequest(bytes).decodeJSON(CollectBatch.self)
        } catch {
            return .rejected(reason: error.message)
        }
        guard batch.batch.count <= CollectBatch.maxEvents else { return .rejected(reason: "batch too large") }

        if case .array(let items)? = JSONValue.parse(bytes)?["batch"] {
            precondition(items == batch.batch, "JSONValue.parse read the batch otherwise than JSONDecoder")
        }
        // Each event the collect endpoint reads on its own must be the event JSONDecoder read in the batch.
        if let elements = try? JSONValue.parseElements(of: "batch", in: bytes) {
            precondition(elements.count == batch.batch.count, "parseElements found another number of events")
            for (element, decoded) in zip(elements, batch.batch) {
                if case .success(let value) = element { precondition(value == decoded, "an event differs") }
            }
        }
        let small = bytes.count * 6 <= CollectBatch.maxEventBytes
        var reasons: [String] = []
        for raw in batch.batch {
            let decoded = CollectBatch.decodeEvent(raw, receivedAt: "2026-05-17T10:05:03.000Z")
            if small {
                // Read straight from the parsed value, the event must be the one the encode-and-decode path gives.
                let read = CollectBatch.decodeEvent(raw, receivedAt: "2026-05-17T10:05:03.000Z", fitsSizeLimit: true)
                precondition((try? read.get()) == (try? decoded.get()), "the collect fast path read another event")
            }
            if case .failure(let error) = decoded {
                reasons.append(error.reason)
            }
        }
        return reasons.isEmpty ? .accepted : .rejected(reason: reasons.joined(separator: "; "))
    }

    private func runTwilioForm(_ bytes: [UInt8]) -> Outcome {
        let fields: [(String, String)]
        do {
            let headers = ["Content-Type": "application/x-www-form-urlencoded"]
            fields = try HTTPRequest(method: "POST", target: "/", headers: headers, body: bytes).formParameters()
        } catch {
            return .rejected(reason: error.message)
        }
        let form = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        let status = outcome { () throws(ValidationError) in
            _ = try TwilioCall.normalize(form, isStatusCallback: true)
        }
        return outcome { () throws(ValidationError) in
            _ = try TwilioCall.normalize(form, isStatusCallback: false)
        } == .accepted ? status : .rejected(reason: "voice webhook rejected the form")
    }

    private func runPhone(_ text: String) -> Outcome {
        _ = PhoneNumbers.isWithheld(text)
        guard let number = PhoneNumbers.canonical(text) else { return .rejected(reason: "not a phone number") }

        _ = PhoneNumbers.normalize(text)
        _ = PhoneNumbers.location(of: number)
        _ = PhoneNumbers.isGeographic(number)
        // A canonical number must itself be canonical, so stored numbers compare equal.
        precondition(PhoneNumbers.canonical(number.e164)?.e164 == number.e164, "canonical form is not stable")
        return .accepted
    }
}
