import Foundation
import HTTPKit
import RedisKit
import Model
import ServiceKit
import Store

struct CollectResponse: Encodable {
    struct Rejection: Encodable {
        var index: Int
        var error: String
    }

    var accepted: Int
    var rejected: [Rejection]
}

extension IngesterService {
    /// Validates each event of the batch, publishes the valid ones and answers once the broker acknowledged them.
    func collect(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.web])
        let advertiser = try context.tenants.advertiser(of: principal)
        // Reading in a function of its own frees the parsed body before the wait for the broker.
        let (events, rejected) = try readBatch(request, advertiser: advertiser)
        defer { if request.body.count >= Self.largeBodyBytes { MemoryTrim.request() } }

        do {
            try await context.publisher.publishAll(.webActivity, events: events) { $0.data.sessionId }
        } catch {
            if let suppressed = collectFailureLog.due(advertiser.id) {
                context.logger.error("Collected events not published", metadata: [
                    "error": "\(error)", "advertiser": "\(advertiser.id)", "events": "\(events.count)",
                    "failures.since.last.log": "\(suppressed)",
                ])
            }
            // The broker may be down, or back after a restart while the producer is being replaced (up to 30 s).
            throw HTTPError.unavailable("the event broker did not acknowledge the events; send the batch again",
                                        retryAfterSeconds: 2)
        }
        Metrics.shared.increment("ringtrail_collect_events_total", labels: ["result": "accepted"],
                                 by: Double(events.count))
        Metrics.shared.increment("ringtrail_collect_events_total", labels: ["result": "rejected"],
                                 by: Double(rejected.count))
        return .json(CollectResponse(accepted: events.count, rejected: rejected))
    }

    /// The body size from which a finished request schedules a `MemoryTrim`.
    static let largeBodyBytes = 256 * 1024

    /// Reads a collect body into the events to publish, in batch order, and the events rejected with their reasons.
    private func readBatch(_ request: HTTPRequest, advertiser: Advertiser) throws
        -> (events: [CloudEvent<WebEvent>], rejected: [CollectResponse.Rejection])
    {
        // Each event is read on its own, so one that is not valid JSON is rejected alone.
        let batch: [Result<JSONValue, ValidationError>]
        if request.hasJSONContentType, !request.body.isEmpty {
            do {
                batch = try JSONValue.parseElements(of: "batch", in: request.body)
            } catch {
                throw HTTPError.badRequest("The request body is not a batch: \(error.reason)", code: "invalid_json")
            }
        } else {
            // Only to reject the request as decodeJSON does: a wrong Content-Type or an empty body.
            batch = try request.decodeJSON(CollectBatch.self).batch.map { .success($0) }
        }
        guard batch.count <= IngesterService.maxBatchEvents else {
            throw HTTPError.badRequest("a batch may contain at most \(IngesterService.maxBatchEvents) events, got "
                + "\(batch.count); send the rest in another request")
        }
        let receivedAt = Timestamp.format(Date())
        // No event of a body this small can exceed the size limit, even with every byte escaped as \uXXXX.
        let small = request.body.count * 6 <= CollectBatch.maxEventBytes
        var rejected: [CollectResponse.Rejection] = []
        var events: [CloudEvent<WebEvent>] = []
        for (index, element) in batch.enumerated() {
            switch element.flatMap({ CollectBatch.decodeEvent($0, receivedAt: receivedAt, fitsSizeLimit: small) }) {
            case .success(let event):
                // Batch order is kept, and the ingester applies each session's events in topic order.
                events.append(context.publisher.event(type: event.cloudEventType, advertiserID: advertiser.id,
                                                      subject: event.sessionId, data: event,
                                                      id: "\(advertiser.id):\(event.messageId)"))
            case .failure(let error):
                rejected.append(.init(index: index, error: error.reason))
            }
        }
        return (events, rejected)
    }

    func session(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.read])
        let advertiser = try context.tenants.advertiser(of: principal)
        let id = request.pathParameters["sessionId"] ?? ""
        let record: SessionRecord?
        do {
            record = Identifier.isValidSession(id) ? try await sessions.record(advertiser: advertiser.id, session: id) : nil
        } catch let error as RedisError where error.code != .server || error.isRetriable {
            throw context.redisUnavailable(error)
        }
        guard let record else {
            throw HTTPError(status: 404, code: "not_found", message: "no session \(id)", headers: [])
        }
        return .json(record)
    }
}

/// Rate limit of the "Collected events not published" line: while the broker is away, every collect request fails.
private let collectFailureLog = LogRateLimit(interval: .seconds(10))
