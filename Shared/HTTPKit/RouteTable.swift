/// The routes of a started server, most specific first; immutable, so lookups take no lock.
struct RouteTable: Sendable {
    /// The outcome of looking up a request.
    enum Match: Sendable {
        case found(Route, parameters: [String: String])
        /// The path matches routes, but none for this method; `allowed` is the value of the `Allow` header.
        case methodNotAllowed(allowed: String)
        case notFound
    }

    let routes: [Route]

    /// Finds the route for `method` on `target`, falling back from `HEAD` to `GET`.
    func match(method: String, target: RequestTarget) -> Match {
        // RequestTarget validated the whole path, and `/` never appears inside an escape, so every segment decodes.
        let path = target.rawSegments.map { PercentEncoding.decode($0) ?? String($0) }
        var allowed: Set<String> = []
        var getFallback: (Route, [String: String])?
        for route in routes {
            guard let parameters = route.match(path) else { continue }

            if route.method == method {
                return .found(route, parameters: parameters)
            }
            if method == "HEAD", route.method == "GET", getFallback == nil {
                getFallback = (route, parameters)
            }
            allowed.insert(route.method)
        }

        if let (route, parameters) = getFallback {
            return .found(route, parameters: parameters)
        }
        guard !allowed.isEmpty else { return .notFound }

        if allowed.contains("GET") {
            allowed.insert("HEAD")
        }
        return .methodNotAllowed(allowed: allowed.sorted().joined(separator: ", "))
    }
}
