import Foundation
import Model
import RedisKit
import Testing

/// Redis restarts while leases are requested: the number-pool reconnects by itself, answers 503 only while Redis
/// is down, loses no lease it answered, and never gives one number to two live sessions without recycling.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RedisRestartTests {
    @Test func leasesSurviveRedisRestartMidStream() async throws {
        let stack = try await TestStack.shared()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rt-redis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let redisPort = try TestStack.freePort()
        // Every write is flushed to the append-only file before Redis answers, so a SIGKILL loses nothing.
        let redisArguments = ["--bind", "127.0.0.1", "--port", "\(redisPort)", "--dir", directory.path,
                              "--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        var redis = try TestStack.spawn(binary: "/usr/bin/redis-server", arguments: redisArguments, environment: [:],
                                        log: directory.appendingPathComponent("redis.log"))
        defer { if redis.isRunning { redis.terminate() } }
        try await Task.sleep(for: .milliseconds(300))

        let port = try TestStack.freePort()
        let pool = try TestStack.spawn(
            binary: stack.binaries + "/number-pool",
            environment: [
                "RINGTRAIL_REDIS_URL": "redis://127.0.0.1:\(redisPort)/0", "RINGTRAIL_KAFKA_BROKERS": stack.brokers,
                "RINGTRAIL_TOPIC_PREFIX": stack.topicPrefix, "RINGTRAIL_KEY_PREFIX": "rt:restart:",
                "RINGTRAIL_TENANTS": stack.tenantsPath, "RINGTRAIL_HTTP_ADDR": "127.0.0.1:\(port)",
                "RINGTRAIL_LOG_LEVEL": "warning",
                "RINGTRAIL_KAFKA_CONFIG": "session.timeout.ms=6000,heartbeat.interval.ms=500",
            ],
            log: directory.appendingPathComponent("number-pool.log")
        )
        defer { pool.terminate() }
        try await TestStack.waitUntilReady(service: "number-pool", port: port, logDirectory: directory.path)

        let run = UUID().uuidString.prefix(6).lowercased()
        let url = "http://127.0.0.1:\(port)/v1/leases"
        let stream = Task {
            try await withThrowingTaskGroup(of: [(Int, String?, String?)].self) { group in
                for client in 0..<16 {
                    group.addTask {
                        var answers: [(Int, String?, String?)] = []
                        for request in 0..<60 {
                            let session = "s-\(run)-\(client)-\(request / 3)"
                            let response = try await HTTP.send(
                                "POST", url, key: stack.keys["web"],
                                json: ["pool": "stress", "sessionId": session, "userAgent": "Mozilla/5.0 Firefox/121.0"])
                            answers.append((response.status, response.json?["number"] as? String, session))
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        return answers
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        try await Task.sleep(for: .seconds(1))
        redis.interrupt()
        kill(redis.processIdentifier, SIGKILL)
        redis.waitUntilExit()
        try await Task.sleep(for: .seconds(1))
        redis = try TestStack.spawn(binary: "/usr/bin/redis-server", arguments: redisArguments, environment: [:],
                                    log: directory.appendingPathComponent("redis-2.log"))
        let answers = try await stream.value

        let statuses = Dictionary(grouping: answers, by: { $0.0 }).mapValues(\.count)
        #expect(Set(statuses.keys).isSubset(of: [200, 503]), "statuses: \(statuses)")
        #expect((statuses[503] ?? 0) > 0, "Redis was down for a second, so some requests must have got 503")
        #expect((statuses[200] ?? 0) > answers.count / 2)
        let last = try await HTTP.send("POST", url, key: stack.keys["web"],
                                       json: ["pool": "stress", "sessionId": "s-\(run)-after", "userAgent": "Mozilla/5.0"])
        #expect(last.status == 200)

        // Every answered lease is in its number's history, and the history holds no overlap without recycling.
        let client = try RedisClient(url: "redis://127.0.0.1:\(redisPort)/0", connectionCount: 1)
        var history: [LeaseConcurrencyTests.Lease: (until: Int64, recycled: Bool)] = [:]
        var holders: [String: Set<String>] = [:]
        for number in TestStack.stressNumbers {
            let reply = try await client.command("ZRANGE", "rt:restart:{acme:stress}:hist:\(number)", "0", "-1",
                                                 "WITHSCORES")
            let values = reply.array ?? []
            for index in stride(from: 0, to: values.count - 1, by: 2) {
                let parts = (values[index].string ?? "").split(separator: "|", omittingEmptySubsequences: false)
                guard parts.count >= 3, let from = Int64(parts[2]), let until = values[index + 1].integer else { continue }
                // A lease whose reply Redis never sent (it died right after the script) has no event on the topic;
                // its history member still says whether it was recycled.
                let recycled = parts.count == 4 && parts[3] == "r"
                history[.init(number: number, session: String(parts[0]), from: from)] = (until, recycled)
                holders[number, default: []].insert(String(parts[0]))
            }
        }
        for (status, number, session) in answers where status == 200 {
            guard let number, let session else { continue }
            #expect(holders[number]?.contains(session) == true, "lease of \(session) on \(number) was lost")
        }
        // Recycled leases may overlap; the topic says which ones were recycled.
        let reader = try stack.makeReader([.numberLeases])
        defer { Task { await reader.close() } }
        var recycled = Set<String>()
        for await event in await reader.all(LeaseEvent.self, topic: stack.topic(.numberLeases))
        where event.data.status == .recycled && event.data.sessionId.hasPrefix("s-\(run)-") {
            recycled.insert("\(event.data.number)|\(event.data.sessionId)|\(event.data.from)")
        }
        for (lease, value) in history where recycled.contains(
            "\(lease.number)|\(lease.session)|\(Timestamp.format(milliseconds: lease.from))")
        {
            history[lease] = (value.until, true)
        }
        let violations = LeaseConcurrencyTests.violations(history)
        #expect(violations.isEmpty, "\(violations.prefix(3))")
    }
}
