import Foundation
import KafkaKit
import ServiceKit
import Testing

/// An idempotent producer that hits a fatal error (a broker that forgot its producer id, for example) fails every
/// later message. KafkaProducer must replace its handle and deliver again, without a service restart.
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
}
