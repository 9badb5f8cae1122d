import Foundation
import Model
import Testing

/// Pools change without a restart: on SIGHUP the number-pool starts granting added numbers and stops granting
/// removed ones, whose history stays.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct PoolReloadTests {
    @Test func sighupAddsAndRemovesNumbers() async throws {
        let stack = try await TestStack.shared()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rt-reload-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tenantsPath = directory.appendingPathComponent("tenants.json").path
        var tenants = try JSONDecoder().decode(TenantsFile.self, from: Data(contentsOf: URL(fileURLWithPath: stack.tenantsPath)))
        tenants.advertisers[0].pools[0].numbers = ["+15555550600", "+15555550601"]
        try JSONEncoder().encode(tenants).write(to: URL(fileURLWithPath: tenantsPath))

        let port = try TestStack.freePort()
        let pool = try TestStack.spawn(
            binary: stack.binaries + "/number-pool",
            environment: [
                "RINGTRAIL_REDIS_URL": stack.redisURL, "RINGTRAIL_KAFKA_BROKERS": stack.brokers,
                "RINGTRAIL_TOPIC_PREFIX": stack.topicPrefix, "RINGTRAIL_KEY_PREFIX": "rt:reload-\(UUID().uuidString.prefix(6)):",
                "RINGTRAIL_TENANTS": tenantsPath, "RINGTRAIL_HTTP_ADDR": "127.0.0.1:\(port)",
                "RINGTRAIL_LOG_LEVEL": "warning", "RINGTRAIL_KAFKA_CONFIG": "session.timeout.ms=6000,heartbeat.interval.ms=500",
            ],
            log: directory.appendingPathComponent("number-pool.log")
        )
        defer { pool.terminate() }
        try await TestStack.waitUntilReady(service: "number-pool", port: port, logDirectory: directory.path)
        let base = "http://127.0.0.1:\(port)"

        func lease(_ session: String) async throws -> String? {
            let response = try await HTTP.send("POST", base + "/v1/leases", key: stack.keys["web"],
                                               json: ["pool": "main", "sessionId": session, "userAgent": "Mozilla/5.0 Firefox/121.0"])
            return response.json?["number"] as? String
        }
        func size() async throws -> Int? {
            try await HTTP.send("GET", base + "/v1/pools/main", key: stack.keys["read"]).json?["size"] as? Int
        }
        #expect(try await size() == 2)
        let first = try await lease("s-reload-1")
        #expect(first != nil)

        tenants.advertisers[0].pools[0].numbers = ["+15555550601", "+15555550602", "+15555550603"]
        try JSONEncoder().encode(tenants).write(to: URL(fileURLWithPath: tenantsPath))
        kill(pool.processIdentifier, SIGHUP)
        let deadline = ContinuousClock.now + .seconds(15)
        while try await size() != 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(try await size() == 3)

        var granted = Set<String>()
        for index in 2..<8 { if let number = try await lease("s-reload-\(index)") { granted.insert(number) } }
        #expect(granted.contains("+15555550602"))
        #expect(granted.contains("+15555550603"))
        #expect(!granted.contains("+15555550600"), "a removed number must not be granted again")

        let history = try await HTTP.send("GET", base + "/v1/numbers/%2B15555550600/history", key: stack.keys["read"])
        // The removed number is no longer in any pool of the file, so it is unknown to the API; its history stays
        // in Redis for the call-router, which finds it by the pool it belonged to.
        #expect(history.status == 404)

        let metrics = try await HTTP.send("GET", base + "/metrics").text
        #expect(metrics.contains("ringtrail_leases_total{advertiser=\"acme\",pool=\"main\",status=\"granted\"}"))
        #expect(metrics.contains("ringtrail_lease_outbox_published_total"))
        #expect(metrics.contains("ringtrail_lease_duration_seconds_bucket"))
        #expect(metrics.contains("ringtrail_http_requests_total"))
    }
}
