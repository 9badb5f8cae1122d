/// The topics that connect the services, before the deployment's topic prefix is applied.
public enum Topic: String, CaseIterable, Sendable {
    case webActivity = "web.activity"
    case numberLeases = "number.leases"
    case callEvents = "calls.events"
    case callScreens = "calls.screens"
    case callMatches = "calls.matches"
    case callOutcomes = "calls.outcomes"
    case attributions = "attributions"
    case deadletter = "deadletter"

    /// The topic's name with `prefix` in front, as created on the broker.
    public func name(prefix: String) -> String { prefix + rawValue }
}

/// CloudEvents `type` values.
public enum EventType {
    public static let leaseGranted = "ringtrail.lease.granted"
    public static let leaseRenewed = "ringtrail.lease.renewed"
    public static let leaseRecycled = "ringtrail.lease.recycled"
    public static let leaseFallback = "ringtrail.lease.fallback"
    public static let callStarted = "ringtrail.call.started"
    public static let callRinging = "ringtrail.call.ringing"
    public static let callAnswered = "ringtrail.call.answered"
    public static let callCompleted = "ringtrail.call.completed"
    public static let callFailed = "ringtrail.call.failed"
    public static let callScreen = "ringtrail.call.screen"
    public static let callMatched = "ringtrail.call.matched"
    public static let callOutcome = "ringtrail.call.outcome"
    public static let attribution = "ringtrail.attribution"
    public static let deadletter = "ringtrail.deadletter"

    public static let webTypes: Set<String> = ["ringtrail.web.page", "ringtrail.web.track", "ringtrail.web.identify"]
    public static let callEventTypes: Set<String> = [callStarted, callRinging, callAnswered, callCompleted, callFailed]
}
