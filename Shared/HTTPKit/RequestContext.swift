import CMicroHTTPD
import Synchronization

/// The state of one request, from its request line until libmicrohttpd reports it completed.
///
/// libmicrohttpd keeps a retained pointer to it in the request's `con_cls` (see `Dispatcher`). The access handler
/// runs on the pool thread that owns the connection, while the handler task completes the request from Swift's
/// cooperative pool, so every mutable field sits behind one `Mutex`.
final class RequestContext: Sendable {
    enum Phase {
        /// Headers or body are arriving.
        case receiving
        /// The body passed the limit; the rest is read and dropped, and the request gets 413.
        case discarding
        /// The handler task runs and the connection is suspended.
        case running
        /// The handler finished and the connection was resumed; the next access call queues the response.
        case ready(HTTPResponse)
        /// A response was queued, or libmicrohttpd completed the request.
        case finished
    }

    struct State {
        var phase = Phase.receiving
        /// Whether the access handler already ran once. Its first call gets only the headers.
        var sawHeaders = false
        var method = ""
        var target: Result<RequestTarget, HTTPError> = .failure(.badRequest("The request has no target"))
        var match = RouteTable.Match.notFound
        var body: [UInt8] = []
        /// Every body byte received, including dropped ones.
        var receivedBytes = 0
        /// The connection while it is suspended for the handler task; `nil` at any other time.
        ///
        /// `complete(with:)` hands it out once, so exactly one caller resumes it.
        var suspendedConnection: SuspendedConnection?
    }

    /// The request target as it appeared on the request line.
    let rawTarget: String
    let startedAt = ContinuousClock.now
    let state = Mutex(State())

    init(rawTarget: String) {
        self.rawTarget = rawTarget
    }

    /// The metric label for this request: the matched route's pattern, or `unmatched`.
    var routeLabel: String {
        state.withLock { state in
            if case .found(let route, _) = state.match { return route.pattern }
            return "unmatched"
        }
    }

    /// Marks the connection as suspended for the handler task.
    func markRunning(connection: SuspendedConnection) {
        state.withLock { state in
            state.phase = .running
            state.suspendedConnection = connection
        }
    }

    /// Stores the response of a running request and returns the connection to resume, or `nil` when the request
    /// was already completed (by the shutdown deadline) or finished.
    ///
    /// - Important: Resume the returned connection exactly once, after this returns, and never touch it again.
    func complete(with response: HTTPResponse) -> SuspendedConnection? {
        state.withLock { state in
            guard case .running = state.phase, let connection = state.suspendedConnection else { return nil }

            state.phase = .ready(response)
            state.suspendedConnection = nil
            return connection
        }
    }

    /// Takes the response stored by `complete(with:)`, leaving the request finished.
    func takeReadyResponse() -> HTTPResponse? {
        state.withLock { state in
            guard case .ready(let response) = state.phase else { return nil }

            state.phase = .finished
            return response
        }
    }

    /// Marks the request finished, so a handler task that completes later resumes nothing.
    func finish() {
        state.withLock { state in
            state.phase = .finished
            state.suspendedConnection = nil
        }
    }
}

/// A libmicrohttpd connection suspended while its handler task runs.
///
/// `@unchecked Sendable` because libmicrohttpd 0.9.75 documents `MHD_resume_connection` as safe to call from any
/// thread, and a suspended connection stays valid until it is resumed. `RequestContext.complete(with:)` hands it
/// out once, so it is resumed exactly once.
struct SuspendedConnection: @unchecked Sendable {
    let pointer: OpaquePointer

    func resume() {
        MHD_resume_connection(pointer)
    }
}
