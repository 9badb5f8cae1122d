import Foundation

/// The body of `POST /v1/collect`: a batch of raw events, each decoded separately so one bad event does not
/// reject the others.
public struct CollectBatch: Decodable, Sendable {
    /// The largest batch one request may carry.
    public static let maxEvents = 500
    /// The largest event, as JSON, a batch may carry; far below the broker's message size limit.
    public static let maxEventBytes = 65_536

    public var batch: [JSONValue]

    private static var sizeEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return encoder
    }

    /// Decodes and validates one raw event of a batch, stamping the time it was received.
    ///
    /// Before validation, `context.ip` is cut to its network part, because the full address is personal data.
    /// - Parameter fitsSizeLimit: true when the caller knows the event is within `maxEventBytes` (a small request
    ///   body). The event is then read straight from `raw` when it can be; otherwise it is encoded to measure it.
    public static func decodeEvent(_ raw: JSONValue, receivedAt: String,
                                   fitsSizeLimit: Bool = false) -> Result<WebEvent, ValidationError> {
        guard case .object = raw else { return .failure(ValidationError("an event must be a JSON object")) }
        do {
            var event: WebEvent
            if fitsSizeLimit, let read = WebEvent(json: raw) {
                event = read
            } else {
                // Measured as published: without escaping slashes, which would count every "/" twice.
                let data = try Self.sizeEncoder.encode(raw)
                guard data.count <= maxEventBytes else {
                    return .failure(ValidationError("the event is larger than \(maxEventBytes) bytes"))
                }
                event = try JSONDecoder().decode(WebEvent.self, from: data)
            }
            event.receivedAt = receivedAt
            if let ip = event.context?.ip { event.context?.ip = IPAddress.truncated(ip) }
            event.removeURLCredentials()
            try event.validate()
            return .success(event)
        } catch let error as ValidationError {
            return .failure(error)
        } catch let error as DecodingError {
            return .failure(ValidationError(describing: error))
        } catch {
            return .failure(ValidationError("invalid event"))
        }
    }
}
