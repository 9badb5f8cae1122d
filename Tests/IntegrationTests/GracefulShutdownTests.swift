import Foundation
import RedisKit
import Store
import Synchronization
import Testing

/// SIGTERM to a service under load. It stops taking requests, finishes those in flight, commits and flushes, and
/// exits with status 0 well within its shutdown deadline. Every event it acknowledged reaches a session record.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct GracefulShutdownTests {
    @Test func ingesterStopsCleanlyMidStream() async throws {
        let stack = try await TestStack.shared()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("rt-shutdown-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A second ingester in the stack's consumer group, so the stack's own ingester takes over its partitions.
        let port = try TestStack.freePort()
        let ingester = try TestStack.spawn(
            binary: stack.binaries + "/activity-ingester",
            environment: [
                "RINGTRAIL_REDIS_URL": stack.redisURL, "RINGTRAIL_KAFKA_BROKERS": stack.brokers,
                "RINGTRAIL_TOPIC_PREFIX": stack.topicPrefix, "RINGTRAIL_KEY_PREFIX": stack.keyPrefix,
                "RINGTRAIL_TENANTS": stack.tenantsPath, "RINGTRAIL_HTTP_ADDR": "127.0.0.1:\(port)",
                "RINGTRAIL_LOG_LEVEL": "info",
                "RINGTRAIL_KAFKA_CONFIG": "session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000",
            ],
            log: directory.appendingPathComponent("activity-ingester.log")
        )
        defer { if ingester.isRunning { ingester.terminate() } }
        try await TestStack.waitUntilReady(service: "activity-ingester", port: port, logDirectory: directory.path)

        let run = UUID().uuidString.prefix(6).lowercased()
        let url = "http://127.0.0.1:\(port)/v1/collect"
        let acknowledgedSoFar = AcknowledgedCounter()
        let stream = Task {
            try await withThrowingTaskGroup(of: [(status: Int, session: String, messageId: String)].self) { group in
                for client in 0..<8 {
                    group.addTask {
                        var answers: [(status: Int, session: String, messageId: String)] = []
                        for request in 0..<400 {
                            let session = "s-\(run)-\(client)"
                            let messageId = "m-\(run)-\(client)-\(request)"
                            let event: [String: Any] = [
                                "type": "page", "messageId": messageId, "sessionId": session,
                                "properties": ["url": "https://shop.example/p/\(request)"],
                            ]
                            // After the server closed its socket, a refused connection ends this client.
                            guard let response = try? await HTTP.send("POST", url, key: stack.keys["web"],
                                                                       json: ["batch": [event]])
                            else { break }
                            answers.append((response.status, session, messageId))
                            if response.status == 200 { acknowledgedSoFar.count.add(1, ordering: .relaxed) }
                            if response.status == 503 { break }
                        }
                        return answers
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        // SIGTERM only once the load runs, however busy the machine is.
        let loadDeadline = ContinuousClock.now + .seconds(20)
        while acknowledgedSoFar.count.load(ordering: .relaxed) < 100, ContinuousClock.now < loadDeadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let signalled = ContinuousClock.now
        kill(ingester.processIdentifier, SIGTERM)
        while ingester.isRunning, ContinuousClock.now - signalled < .seconds(30) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let stoppedAfter = ContinuousClock.now - signalled
        let answers = try await stream.value

        #expect(!ingester.isRunning, "the ingester was still running 30 s after SIGTERM")
        #expect(stoppedAfter < .seconds(15), "stopping took \(stoppedAfter)")
        #expect(ingester.terminationStatus == 0, "exit status \(ingester.terminationStatus)")
        let statuses = Dictionary(grouping: answers, by: \.status).mapValues(\.count)
        #expect(Set(statuses.keys).isSubset(of: [200, 503]), "statuses: \(statuses)")
        let acknowledged = answers.filter { $0.status == 200 }
        #expect(acknowledged.count > 50, "the load must run before SIGTERM: \(statuses)")

        // Every acknowledged event reaches its session, through whichever ingester consumes its partition.
        let keys = RedisKeys(prefix: stack.keyPrefix)
        var missing = acknowledged
        let deadline = ContinuousClock.now + .seconds(45)
        while !missing.isEmpty, ContinuousClock.now < deadline {
            var still: [(status: Int, session: String, messageId: String)] = []
            for answer in missing {
                let seen = try await stack.redis.command(
                    "SISMEMBER", keys.sessionSeen(advertiser: TestStack.advertiser, session: answer.session),
                    answer.messageId)
                if seen.integer != 1 { still.append(answer) }
            }
            missing = still
            if !missing.isEmpty { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(missing.isEmpty, "\(missing.count) acknowledged events are missing, such as \(missing.prefix(3))")
    }
}

/// Responses with status 200 so far, shared by the load's client tasks.
final class AcknowledgedCounter: Sendable {
    let count = Atomic<Int>(0)
}
