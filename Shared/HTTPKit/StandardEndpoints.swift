import ServiceKit

/// Registers the operational endpoints every Ringtrail service serves.
///
/// - `GET /healthz`: 200 `{"status":"ok"}` while the process serves requests.
/// - `GET /readyz`: runs `readiness`, which maps each check's name to `nil` when it passed or to a reason when
///   it failed. All passed: 200 `{"status":"ready","checks":{…}}`. Otherwise 503 with
///   `{"error":"not_ready","message":…,"status":"not_ready","checks":{…}}`. A passed check shows as `"ok"`.
/// - `GET /metrics`: `Metrics.shared` in the Prometheus text format, version 0.0.4.
public func addStandardEndpoints(
    to router: Router,
    readiness: @escaping @Sendable () async -> [String: String?]
) {
    let healthBody = Array(#"{"status":"ok"}"#.utf8)
    router.get("/healthz") { _ in
        HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: healthBody)
    }

    router.get("/readyz") { _ in
        let results = await readiness()
        var checks: [String: String] = [:]
        for (name, failure) in results { checks[name] = failure ?? "ok" }
        let failed = results.filter { $0.value != nil }.keys.sorted()
        guard !failed.isEmpty else {
            return .json(ReadinessReport(status: "ready", checks: checks))
        }

        let report = ReadinessReport(
            error: "not_ready",
            message: "Checks failed: \(failed.joined(separator: ", ")); see checks for the reasons",
            status: "not_ready",
            checks: checks
        )
        return .json(report, status: 503)
    }

    router.get("/metrics") { _ in
        .text(Metrics.shared.render(), contentType: "text/plain; version=0.0.4; charset=utf-8")
    }
}

/// The body of `GET /readyz`.
private struct ReadinessReport: Encodable {
    var error: String?
    var message: String?
    var status: String
    var checks: [String: String]
}
