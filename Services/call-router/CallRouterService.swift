import Foundation
import HTTPKit
import Model
import RedisKit
import ServiceKit
import Store

/// The call-router: turns carrier webhooks into `calls.events`, ranks the sessions that held the called number,
/// publishes screens and automatic matches, and serves the agent API.
struct CallRouterService: Sendable {
    let context: ServiceContext
    let calls: CallStore
    let sessions: SessionStore
    let leases: LeaseStore
    /// Candidates that carry full session details in a screen; the rest carry id, probability and reasons.
    static let detailedCandidates = 10

    init(context: ServiceContext) {
        self.context = context
        self.calls = CallStore(redis: context.redis, keys: context.keys)
        self.sessions = SessionStore(redis: context.redis, keys: context.keys)
        self.leases = LeaseStore(redis: context.redis, keys: context.keys)
        Metrics.shared.describe("ringtrail_webhooks_total", type: "counter", help: "Carrier webhooks by result")
        Metrics.shared.describe("ringtrail_call_matches_total", type: "counter", help: "Call decisions by method")
    }

    func registerRoutes(on router: Router) {
        router.add("POST", "/v1/webhooks/twilio/:advertiserId") { request in
            try await twilioWebhook(request, isStatusCallback: false)
        }
        router.add("POST", "/v1/webhooks/twilio/:advertiserId/status") { request in
            try await twilioWebhook(request, isStatusCallback: true)
        }
        router.add("POST", "/v1/webhooks/telnyx/:advertiserId") { request in try await telnyxWebhook(request) }
        router.add("POST", "/v1/webhooks/generic") { request in try await genericWebhook(request) }
        router.add("GET", "/v1/calls/:callId") { request in try await getCall(request) }
        router.add("POST", "/v1/calls/:callId/match") { request in try await postMatch(request) }
        router.add("POST", "/v1/calls/:callId/outcome") { request in try await postOutcome(request) }
    }

    /// Publishes on a topic, turning an unreachable broker into 503 with a retry hint.
    @discardableResult
    func withBroker<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            context.logger.error("Event not published", metadata: ["error": "\(error)"])
            throw HTTPError.unavailable("the event broker is unreachable; try again", retryAfterSeconds: 2)
        }
    }
}
