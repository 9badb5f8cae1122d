import Synchronization

/// A handler for one route. It runs as a Swift task, never on a libmicrohttpd thread.
public typealias HTTPHandler = @Sendable (HTTPRequest) async throws -> HTTPResponse

/// The table of routes that `HTTPServer` dispatches to, matched by method and path pattern.
///
/// A pattern is a path whose segments are literals or `:name` parameters, for example
/// `/v1/calls/:callId/match`. A parameter matches one non-empty segment, and its value reaches the handler
/// percent-decoded in `HTTPRequest.pathParameters`. When several patterns match a path, the one whose first
/// differing segment is a literal wins, so `/v1/calls/recent` takes precedence over `/v1/calls/:callId`.
/// A `HEAD` request falls back to the `GET` route of its path, and the server then sends no body.
///
/// - Important: Register every route before passing the router to a server that starts. `add` after a server
///   started is a programming error and stops the process, because started servers never see new routes.
public final class Router: Sendable {
    private struct State {
        var routes: [Route] = []
        var isFrozen = false
    }

    private let state = Mutex(State())

    public init() {}

    /// Registers `handler` for `method` (upper case, such as `GET`) on `pattern`.
    ///
    /// Registering the same method and pattern twice, a pattern not starting with `/`, or an empty parameter name
    /// is a programming error and stops the process.
    public func add(_ method: String, _ pattern: String, _ handler: @escaping HTTPHandler) {
        let route = Route(method: method.uppercased(), pattern: pattern, handler: handler)
        state.withLock { state in
            precondition(!state.isFrozen, "Router.add(\(method), \(pattern)) called after a server started")
            precondition(
                !state.routes.contains { $0.method == route.method && $0.segments == route.segments },
                "Route \(method) \(pattern) is registered twice"
            )
            state.routes.append(route)
        }
    }

    public func get(_ pattern: String, _ handler: @escaping HTTPHandler) { add("GET", pattern, handler) }
    public func post(_ pattern: String, _ handler: @escaping HTTPHandler) { add("POST", pattern, handler) }
    public func put(_ pattern: String, _ handler: @escaping HTTPHandler) { add("PUT", pattern, handler) }
    public func patch(_ pattern: String, _ handler: @escaping HTTPHandler) { add("PATCH", pattern, handler) }
    public func delete(_ pattern: String, _ handler: @escaping HTTPHandler) { add("DELETE", pattern, handler) }

    /// Stops further registration and returns the routes, most specific first.
    func freeze() -> RouteTable {
        state.withLock { state in
            state.isFrozen = true
            return RouteTable(routes: state.routes.sorted { $0.isMoreSpecific(than: $1) })
        }
    }
}

/// One registered route.
struct Route: Sendable {
    enum Segment: Equatable, Sendable {
        case literal(String)
        case parameter(String)
    }

    let method: String
    let pattern: String
    let segments: [Segment]
    let handler: HTTPHandler

    init(method: String, pattern: String, handler: @escaping HTTPHandler) {
        precondition(pattern.hasPrefix("/"), "Route pattern \(pattern) must start with /")
        self.method = method
        self.pattern = pattern
        self.handler = handler
        self.segments = pattern.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { part in
            guard part.hasPrefix(":") else { return .literal(String(part)) }

            precondition(part.count > 1, "Route pattern \(pattern) has a parameter without a name")
            return .parameter(String(part.dropFirst()))
        }
    }

    /// Returns whether this route sorts before `other`: shorter patterns first, then the one whose first segment
    /// that differs in kind is a literal. Only patterns of equal length can match the same path.
    func isMoreSpecific(than other: Route) -> Bool {
        guard segments.count == other.segments.count else { return segments.count < other.segments.count }

        for (mine, theirs) in zip(segments, other.segments) {
            switch (mine, theirs) {
            case (.literal, .parameter): return true
            case (.parameter, .literal): return false
            default: continue
            }
        }
        return false
    }

    /// Returns the parameter values if `path` (decoded segments) matches this route, otherwise `nil`.
    func match(_ path: [String]) -> [String: String]? {
        guard path.count == segments.count else { return nil }

        var parameters: [String: String] = [:]
        for (segment, value) in zip(segments, path) {
            switch segment {
            case .literal(let literal):
                guard literal == value else { return nil }
            case .parameter(let name):
                guard !value.isEmpty else { return nil }
                parameters[name] = value
            }
        }
        return parameters
    }
}
