import CMicroHTTPD
import ServiceKit
import Synchronization

/// Log metadata keys of HTTPKit.
enum LogKey {
    static let route = "http.route"
    static let method = "http.method"
    static let address = "http.address"
    static let port = "http.port"
    static let polling = "http.polling"
    static let error = "error"
    static let suppressed = "suppressed"
    static let inFlight = "http.in_flight"
    static let closedConnections = "http.closed_connections"
}

/// The bridge between libmicrohttpd's callbacks and Swift handlers for one started server.
///
/// libmicrohttpd calls it on its pool threads. A request goes through these access-handler calls:
/// 1. headers received: parse the target and match the route. Only an oversized `Content-Length` gets its response
///    here, because a response queued on this call makes libmicrohttpd close the connection, as 413 should;
/// 2. once per body chunk: buffer it, or drop it once past `maxBodyBytes`;
/// 3. request complete: queue an error response at once, or suspend the connection and start the handler task, which stores
///    its response in the `RequestContext` and resumes the connection;
/// 4. after the resume: queue the stored response.
final class Dispatcher: Sendable {
    struct Registry {
        var isShuttingDown = false
        /// Requests whose handler task runs while their connection is suspended.
        var running: [ObjectIdentifier: RequestContext] = [:]
    }

    let routes: RouteTable
    let logger: Logger
    let maxBodyBytes: Int
    /// How long a request may take from its request line to the end of its body.
    let requestTimeout: Duration
    let metrics: Metrics
    let registry = Mutex(Registry())
    /// Requests between their request line and libmicrohttpd's completion callback.
    let activeRequests = Atomic<Int>(0)
    let libraryLog = LibraryLogLimiter()
    let deadlines: ConnectionDeadlines

    init(
        routes: RouteTable,
        logger: Logger,
        maxBodyBytes: Int,
        connectionTimeout: Duration,
        requestTimeout: Duration,
        metrics: Metrics
    ) {
        self.routes = routes
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.requestTimeout = requestTimeout
        self.deadlines = ConnectionDeadlines(
            idleTimeout: connectionTimeout,
            requestTimeout: requestTimeout,
            logger: logger
        )
        self.metrics = metrics
        metrics.describe(Self.requestsMetric, type: "counter", help: "HTTP responses sent, by route pattern")
        metrics.describe(Self.durationMetric, type: "histogram", help: "Time from request line to response, seconds")
        metrics.describe(
            Self.timeoutsMetric,
            type: "counter",
            help: "Connections closed because a request was still arriving after its deadline"
        )
    }

    var isShuttingDown: Bool { registry.withLock { $0.isShuttingDown } }

    // MARK: - Access handler steps

    /// Step 1: the headers are complete. Returns `false` to make libmicrohttpd close the connection.
    func receiveHeaders(_ context: RequestContext, connection: OpaquePointer, method: String) -> Bool {
        // A request whose headers took longer than the request timeout is closed like a slow body. Headers that
        // never complete are cut off by `ConnectionDeadlines`.
        guard ContinuousClock.now - context.startedAt <= requestTimeout else {
            metrics.increment(Self.timeoutsMetric)
            return false
        }

        let target = Result { () throws(HTTPError) in try RequestTarget(context.rawTarget) }
        let match = (try? target.get()).map { routes.match(method: method, target: $0) } ?? .notFound
        context.state.withLock { state in
            state.sawHeaders = true
            state.method = method
            state.target = target
            state.match = match
        }

        if let problem = Self.framingProblem(Self.headers(of: connection)) {
            // Two readings of the body's length let a proxy and this server split the stream differently (request
            // smuggling), so the request is rejected and the connection closed (RFC 9112, sections 6.1 and 6.3).
            context.finish()
            return queue(HTTPError.badRequest(problem).response, for: context, on: connection, closing: true)
        }

        guard let declared = MHD_lookup_connection_value(connection, MHD_ValueKind.HEADER_KIND, "Content-Length"),
            let length = UInt64(String(cString: declared)), length > UInt64(maxBodyBytes)
        else { return true }

        context.finish()
        return queue(HTTPError.payloadTooLarge(maxBodyBytes: maxBodyBytes).response, for: context, on: connection)
    }

    /// Describes what makes the body's framing ambiguous, or returns nil when it is not.
    static func framingProblem(_ headers: [String: String]) -> String? {
        guard let length = headers["content-length"] else { return nil }
        // `headers` joins repeated headers with ", ", and a single Content-Length has digits only.
        guard !length.isEmpty, length.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return "Content-Length must be one decimal number, got \"\(length.prefix(64))\""
        }
        if headers["transfer-encoding"] != nil {
            return "a request must not carry both Content-Length and Transfer-Encoding"
        }
        return nil
    }

    /// Step 2: one chunk of the body. Returns `false` to make libmicrohttpd close the connection.
    func receiveBody(_ context: RequestContext, chunk: UnsafeRawBufferPointer) -> Bool {
        // libmicrohttpd's connection timeout counts only idle time, so a client sending a byte now and then would
        // keep the connection for ever. The request deadline cuts it off without a response: none can be queued
        // while the body is arriving.
        guard ContinuousClock.now - context.startedAt <= requestTimeout else {
            logger.debug(
                "Request body still arriving after the request timeout, closing the connection",
                metadata: [LogKey.route: context.routeLabel]
            )
            metrics.increment(Self.timeoutsMetric)
            return false
        }

        let limit = maxBodyBytes
        let isWithinBudget = context.state.withLock { state in
            state.receivedBytes += chunk.count
            if case .receiving = state.phase, state.receivedBytes <= limit {
                state.body.append(contentsOf: chunk)
                return true
            }
            state.phase = .discarding
            state.body = []
            // NOTE: the drop budget of one more `maxBodyBytes` is a guess. libmicrohttpd cannot queue a response
            // while it delivers body data, so a chunked upload past the limit must be read to its end for a 413,
            // and a client that keeps sending after that budget is cut off without one.
            return state.receivedBytes - limit <= limit
        }
        if !isWithinBudget {
            logger.debug(
                "Request body exceeds twice the limit, closing the connection",
                metadata: [LogKey.route: context.routeLabel]
            )
        }
        return isWithinBudget
    }

    /// Steps 3 and 4: the request is complete. Returns `false` to make libmicrohttpd close the connection.
    func receiveEnd(_ context: RequestContext, connection: OpaquePointer) -> Bool {
        if let response = context.takeReadyResponse() {
            return queue(response, for: context, on: connection)
        }

        let (phase, method, target, match, body) = context.state.withLock { state in
            defer { state.body = [] }
            return (state.phase, state.method, state.target, state.match, state.body)
        }
        switch phase {
        case .receiving:
            break
        case .discarding:
            context.finish()
            return queue(HTTPError.payloadTooLarge(maxBodyBytes: maxBodyBytes).response, for: context, on: connection)
        case .running, .ready, .finished:
            return true
        }

        let outcome = Result { () throws(HTTPError) in
            try prepare(method: method, target: target, match: match, connection: connection, body: body)
        }
        switch outcome {
        case .success(let (route, request)):
            start(route, request, context: context, connection: connection)
            return true
        case .failure(let error):
            context.finish()
            return queue(error.response, for: context, on: connection)
        }
    }

    /// Builds the handler's request, or throws the error response the request gets instead.
    private func prepare(
        method: String,
        target: Result<RequestTarget, HTTPError>,
        match: RouteTable.Match,
        connection: OpaquePointer,
        body: [UInt8]
    ) throws(HTTPError) -> (Route, HTTPRequest) {
        let target = try target.get()
        switch match {
        case .notFound:
            throw HTTPError.notFound("No endpoint matches \(method) \(target.rawPath.prefix(200))")
        case .methodNotAllowed(let allowed):
            throw HTTPError(
                status: 405,
                code: "method_not_allowed",
                message: "Method \(method.prefix(20)) is not allowed on this path; use \(allowed)",
                headers: [("Allow", allowed)]
            )
        case .found(let route, let parameters):
            guard !isShuttingDown else {
                throw HTTPError.unavailable("The server is shutting down; retry the request", retryAfterSeconds: 1)
            }
            let request = HTTPRequest(
                method: method,
                target: target,
                headers: Self.headers(of: connection),
                body: body,
                pathParameters: parameters
            )
            return (route, request)
        }
    }

    /// Suspends the connection and runs the handler in a task that resumes it.
    private func start(_ route: Route, _ request: HTTPRequest, context: RequestContext, connection: OpaquePointer) {
        // Suspend before registering, so the shutdown path only ever resumes suspended connections; resuming one
        // that is not suspended is undefined behaviour in libmicrohttpd.
        MHD_suspend_connection(connection)
        deadlines.handlerStarted(connection)
        context.markRunning(connection: SuspendedConnection(pointer: connection))
        let isRegistered = registry.withLock { registry in
            guard !registry.isShuttingDown else { return false }

            registry.running[ObjectIdentifier(context)] = context
            return true
        }
        guard isRegistered else {
            let error = HTTPError.unavailable("The server is shutting down; retry the request", retryAfterSeconds: 1)
            context.complete(with: error.response)?.resume()
            return
        }

        Task {
            let response = await self.run(route, request)
            self.registry.withLock { _ = $0.running.removeValue(forKey: ObjectIdentifier(context)) }
            context.complete(with: response)?.resume()
        }
    }

    private func run(_ route: Route, _ request: HTTPRequest) async -> HTTPResponse {
        do {
            return try await RequestDeadline.$current.withValue(.now + RequestDeadline.budget) {
                try await route.handler(request)
            }
        } catch let error as HTTPError {
            return error.response
        } catch {
            logger.error(
                "Handler failed",
                metadata: [LogKey.route: route.pattern, LogKey.method: request.method, LogKey.error: "\(error)"]
            )
            return .error(
                status: 500,
                code: "internal_error",
                message: "The server failed to process the request; retry later, and report it if it persists"
            )
        }
    }

    // MARK: - Shutdown

    /// Makes every later request for a route get 503, and every later response close its connection.
    func beginShutdown() {
        registry.withLock { $0.isShuttingDown = true }
    }

    /// Completes every request whose handler still runs with 503, so its connection is resumed before the daemon
    /// stops.
    ///
    /// Returns how many requests were cut short. Their tasks keep running, and their results are dropped.
    func failRunningRequests() -> Int {
        let running = registry.withLock { registry in
            defer { registry.running = [:] }
            return Array(registry.running.values)
        }
        let error = HTTPError.unavailable("The server shut down before the request finished", retryAfterSeconds: 1)
        var count = 0
        for context in running {
            guard let suspended = context.complete(with: error.response) else { continue }

            suspended.resume()
            count += 1
        }
        return count
    }
}
