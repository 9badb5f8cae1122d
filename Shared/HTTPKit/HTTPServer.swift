import CMicroHTTPD
import Foundation
import ServiceKit
import Synchronization

/// An HTTP/1.1 server on libmicrohttpd that runs each request's handler as a Swift task.
///
/// libmicrohttpd's internal polling threads (epoll where available, otherwise poll) read requests and write
/// responses. While a handler runs, its connection is suspended, so slow handlers hold no polling thread.
/// Keep-alive works for every response except a 413 sent before the body was read, and responses sent during
/// `shutdown()`. Every response HTTPKit sends is counted in `ringtrail_http_requests_total{route,method,status}`
/// and timed in `ringtrail_http_request_duration_seconds{route}`, where `route` is the matched pattern or
/// `unmatched`.
public final class HTTPServer: Sendable {
    enum State {
        case idle
        case running(RunningDaemon)
        case stopped
    }

    /// The daemon of a started server with what it depends on.
    struct RunningDaemon {
        let daemon: OpaquePointer
        let socket: ListeningSocket
        /// Kept here until after `MHD_stop_daemon`, because libmicrohttpd stores it unretained.
        let dispatcher: Dispatcher
    }

    let host: String
    let port: UInt16
    let router: Router
    let logger: Logger
    let maxBodyBytes: Int
    let threads: Int
    let connectionTimeout: Duration
    let requestTimeout: Duration
    let maxConnections: Int
    let maxConnectionsPerClient: Int
    let shutdownGracePeriod: Duration
    let state = Mutex(State.idle)
    let boundPortValue = Atomic<UInt16>(0)

    /// Creates a server; nothing listens until `start()`.
    ///
    /// - Parameters:
    ///   - maxBodyBytes: larger request bodies get 413 `payload_too_large`.
    ///   - threads: libmicrohttpd polling threads, which read and write but never run handlers.
    ///   - connectionTimeout: an idle connection is closed after this long; rounded up to whole seconds.
    ///   - requestTimeout: a request whose headers or body are still arriving this long after its request line is
    ///     cut off by closing the connection, so a client that sends a byte at a time cannot hold it for ever. A
    ///     request line must arrive within `connectionTimeout` plus this of the connection opening or of the
    ///     previous response.
    ///   - maxConnections: connections over this limit are closed at once by libmicrohttpd.
    ///   - maxConnectionsPerClient: connections from one IP address over this limit are closed at once; 0 means
    ///     no limit. Behind a proxy every connection comes from the proxy's address.
    ///   - shutdownGracePeriod: how long `shutdown()` waits for running handlers before it sends 503 for them.
    public init(
        host: String,
        port: UInt16,
        router: Router,
        logger: Logger,
        maxBodyBytes: Int = 1 << 20,
        threads: Int = 2,
        connectionTimeout: Duration = .seconds(30),
        requestTimeout: Duration = .seconds(30),
        maxConnections: Int = 4096,
        maxConnectionsPerClient: Int = 256,
        shutdownGracePeriod: Duration = .seconds(10)
    ) {
        precondition(maxBodyBytes >= 0, "maxBodyBytes must not be negative")
        precondition(threads >= 1, "threads must be at least 1")
        precondition(maxConnections >= 1, "maxConnections must be at least 1")
        precondition(maxConnectionsPerClient >= 0, "maxConnectionsPerClient must not be negative")
        self.host = host
        self.port = port
        self.router = router
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.threads = threads
        self.connectionTimeout = connectionTimeout
        self.requestTimeout = requestTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    deinit {
        // Stopping here keeps libmicrohttpd from calling into a freed dispatcher if the owner never called
        // `shutdown()`. There is no grace period, because nothing can wait for the result.
        if case .running(let running) = state.withLock({ $0 }) {
            _ = stop(running, gracePeriod: .zero)
        }
    }

    /// The port the server listens on, which the kernel chose if `port` was 0; 0 before `start()`.
    public var boundPort: UInt16 { boundPortValue.load(ordering: .acquiring) }

    /// Binds `host:port` and starts libmicrohttpd's threads; returns once the server accepts connections.
    ///
    /// The routes of `router` are fixed from here on. Calling `start()` twice is a programming error.
    /// - Throws: `HTTPServerError` `.invalidAddress` when `host` does not resolve, `.bind` when the address cannot
    ///   be bound (for example, address already in use), `.start` when libmicrohttpd fails to start.
    public func start() throws(HTTPServerError) {
        try state.withLock { (state: inout State) throws(HTTPServerError) in
            guard case .idle = state else { preconditionFailure("HTTPServer.start() called on a started server") }

            let socket = try ListeningSocket.open(host: host, port: port)
            let dispatcher = Dispatcher(
                routes: router.freeze(),
                logger: logger,
                maxBodyBytes: maxBodyBytes,
                connectionTimeout: connectionTimeout,
                requestTimeout: requestTimeout,
                metrics: .shared
            )
            guard let daemon = startDaemon(socket: socket, dispatcher: dispatcher) else {
                close(socket.descriptor)
                let detail = dispatcher.libraryLog.lastMessage ?? "libmicrohttpd logged no reason"
                throw HTTPServerError(.start, "libmicrohttpd failed to start on \(host):\(socket.port): \(detail)")
            }

            dispatcher.deadlines.start(metrics: .shared, metric: Dispatcher.timeoutsMetric)
            state = .running(RunningDaemon(daemon: daemon, socket: socket, dispatcher: dispatcher))
            boundPortValue.store(socket.port, ordering: .releasing)
        }
        logger.debug(
            "HTTP server started",
            metadata: [LogKey.address: host, LogKey.port: "\(boundPort)", LogKey.polling: Self.pollingName]
        )
    }

    /// Stops accepting connections, waits up to the grace period for running handlers and the responses they
    /// produce, sends 503 for handlers still running, then stops libmicrohttpd and closes every connection.
    ///
    /// Blocks the calling thread for up to the grace period plus about a second. Handlers need Swift's
    /// cooperative pool to finish, so call this from a thread outside it where possible. During the wait, new
    /// requests on open keep-alive connections get 503 `unavailable`, and every response closes its connection.
    /// Calling it again, or before `start()`, does nothing.
    /// - Returns: `true` if every request finished within the grace period, `false` if some were cut short.
    @discardableResult
    public func shutdown() -> Bool {
        let running: RunningDaemon? = state.withLock { state in
            guard case .running(let running) = state else { return nil }

            state = .stopped
            return running
        }
        guard let running else { return true }

        return stop(running, gracePeriod: shutdownGracePeriod)
    }
}
