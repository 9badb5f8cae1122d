/// The instant by which the HTTP request being handled should be answered, for the clients its handler calls.
///
/// HTTPKit's dispatcher sets it around every handler. A client that waits on a dependency gives up at this
/// instant, so the handler can answer 503 with a retry hint instead of hanging: the Kafka producer stops waiting
/// for an acknowledgement then. Outside a request it is nil, and waits are bounded only by each client's own
/// timeouts.
public enum RequestDeadline {
    /// How long a handler's dependencies may take after the request arrived: 5 seconds.
    public static let budget: Duration = .seconds(5)

    @TaskLocal public static var current: ContinuousClock.Instant?
}
