import ServiceKit
import Synchronization

/// Passes libmicrohttpd's error messages to the logger at `info`, at most `maxPerSecond` a second.
///
/// libmicrohttpd reports failures it handles itself (a client that disconnects mid-response, the connection limit),
/// which a misbehaving client can make it repeat thousands of times a second. The next message logged after a
/// burst carries the number dropped in its `suppressed` metadata.
final class LibraryLogLimiter: Sendable {
    private struct State {
        var windowStart = ContinuousClock.now
        var loggedInWindow = 0
        var suppressed = 0
        var lastMessage: String?
    }

    private let maxPerSecond = 5
    private let state = Mutex(State())

    /// The most recent message, logged or not; `HTTPServer.start()` puts it in the error when starting fails.
    var lastMessage: String? { state.withLock { $0.lastMessage } }

    func log(_ message: String, to logger: Logger) {
        let now = ContinuousClock.now
        let suppressed: Int? = state.withLock { state in
            state.lastMessage = message
            if now - state.windowStart >= .seconds(1) {
                state.windowStart = now
                state.loggedInWindow = 0
            }
            guard state.loggedInWindow < maxPerSecond else {
                state.suppressed += 1
                return nil
            }

            state.loggedInWindow += 1
            defer { state.suppressed = 0 }
            return state.suppressed
        }
        guard let suppressed else { return }

        var metadata: Logger.Metadata = [LogKey.error: message]
        if suppressed > 0 {
            metadata[LogKey.suppressed] = "\(suppressed)"
        }
        logger.info("libmicrohttpd reported an error", metadata: metadata)
    }
}
