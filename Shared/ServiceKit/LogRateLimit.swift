import Synchronization

/// Lets a repeated log line through once per `interval` for each key, and counts the occurrences in between, so
/// an outage that repeats an error many times a second leaves a few lines with counts in the log.
public final class LogRateLimit: Sendable {
    private let interval: Duration
    private let state = Mutex<[String: (last: ContinuousClock.Instant, suppressed: Int)]>([:])

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Returns the number of occurrences of `key` held back since its last line when a line is due now, or nil.
    public func due(_ key: String = "") -> Int? {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let entry = state[key], now - entry.last < interval {
                state[key] = (entry.last, entry.suppressed + 1)
                return nil
            }
            defer { state[key] = (now, 0) }
            return state[key]?.suppressed ?? 0
        }
    }
}
