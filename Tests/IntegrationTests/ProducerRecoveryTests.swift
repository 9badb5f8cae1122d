import Foundation
import KafkaKit
import ServiceKit
import Testing

/// An idempotent producer that hits a fatal error, or whose broker restarted and lost its producer id, delivers
/// nothing more. KafkaProducer must replace its handle and deliver again, without a service restart.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ProducerRecoveryTests {
    @Test func producerDeliversAfterFatalError() async throws {
        let stack = try await TestStack.shared()
        let topic = stack.topicPrefix + "producer-recovery"
        try await KafkaAdmin(brokers: stack.brokers).createTopics([topic], partitions: 1)
        let producer = try KafkaProducer(brokers: stack.brokers, logger: Logger(label: "recovery-test"))
        defer { producer.shutdown(timeout: .seconds(1)) }
        try await producer.send(topic: topic, key: "recovery-test", value: Array("before".utf8))

        producer.raiseFatalErrorForTesting()
        // Sends may fail until the poll thread notices the fatal error and replaces the handle; then they succeed.
        let deadline = ContinuousClock.now + .seconds(30)
        var delivered = 0
        var failures: [String] = []
        while delivered < 5, ContinuousClock.now < deadline {
            do {
                try await producer.send(topic: topic, key: "recovery-test", value: Array("after \(delivered)".utf8))
                delivered += 1
            } catch {
                failures.append("\(error)")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(delivered == 5, "sends after the fatal error kept failing: \(failures.suffix(3))")
    }

    /// Returns the state letter of a process from `/proc/<pid>/stat`: `T` once a signal stopped it.
    static func processState(_ pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    /// A broker of its own, storing in memory like `make up` runs it, so a restart loses every producer id.
    static func startBroker(port: UInt16, log: URL) async throws -> Process {
        let tansu = ".deps/bin/tansu"
        guard FileManager.default.isExecutableFile(atPath: tansu) else {
            throw TestStackError("\(tansu) is missing: run the tests with `make test`, which installs the broker")
        }
        let url = "tcp://127.0.0.1:\(port)"
        let process = try TestStack.spawn(
            binary: tansu,
            arguments: ["broker", "--listener-url", url, "--advertised-listener-url", url,
                        "--storage-engine", "memory://tansu/"],
            environment: ProcessInfo.processInfo.environment,
            log: log
        )
        let admin = try KafkaAdmin(brokers: "127.0.0.1:\(port)")
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            do {
                try await admin.createTopics(["recovery"], partitions: 1)
                return process
            } catch {
                guard ContinuousClock.now < deadline else {
                    throw TestStackError("the broker on port \(port) did not start; see \(log.path)")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    @Test func producerDeliversAfterBrokerLosesItsState() async throws {
        let port = try TestStack.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ringtrail-recovery-\(port).log")
        var broker = try await Self.startBroker(port: port, log: log)
        defer { broker.terminate() }
        // A short message timeout, so the stall shows within seconds instead of the default 30.
        let producer = try KafkaProducer(brokers: "127.0.0.1:\(port)", properties: ["message.timeout.ms": "3000"],
                                         logger: Logger(label: "recovery-test"))
        defer { producer.shutdown(timeout: .seconds(1)) }
        for index in 0..<3 {
            try await producer.send(topic: "recovery", key: "k", value: Array("before \(index)".utf8))
        }

        kill(broker.processIdentifier, SIGKILL)
        broker.waitUntilExit()
        broker = try await Self.startBroker(port: port, log: log)

        let deadline = ContinuousClock.now + .seconds(40)
        var delivered = 0
        var failures: [String] = []
        while delivered < 3, ContinuousClock.now < deadline {
            do {
                try await producer.send(topic: "recovery", key: "k", value: Array("after \(delivered)".utf8))
                delivered += 1
            } catch {
                failures.append("\(error)")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        #expect(delivered == 3, "sends after the broker restart kept failing: \(failures.suffix(3))")
        #expect(producer.isDelivering)
    }

    @Test func producerNotReadyWhileRequestsMissDeadlines() async throws {
        let port = try TestStack.freePort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("ringtrail-deadline-\(port).log")
        let broker = try await Self.startBroker(port: port, log: log)
        defer {
            kill(broker.processIdentifier, SIGCONT)
            broker.terminate()
        }
        let producer = try KafkaProducer(brokers: "127.0.0.1:\(port)", logger: Logger(label: "deadline-test"))
        defer { producer.shutdown(timeout: .seconds(1)) }
        try await producer.send(topic: "deadline", key: "k", value: Array("before".utf8))
        #expect(producer.isDelivering)

        // A paused broker keeps its connections open but acknowledges nothing.
        kill(broker.processIdentifier, SIGSTOP)
        // kill returns before the broker has stopped, and a broker still running would acknowledge the next send.
        let stopDeadline = ContinuousClock.now + .seconds(5)
        while Self.processState(broker.processIdentifier) != "T", ContinuousClock.now < stopDeadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(Self.processState(broker.processIdentifier) == "T")
        await #expect(throws: KafkaError.self) {
            try await RequestDeadline.$current.withValue(ContinuousClock.now + .seconds(1)) {
                try await producer.send(topic: "deadline", key: "k", value: Array("paused".utf8))
            }
        }
        #expect(!producer.isDelivering)

        kill(broker.processIdentifier, SIGCONT)
        try await producer.send(topic: "deadline", key: "k", value: Array("after".utf8))
        #expect(producer.isDelivering)
    }
}
