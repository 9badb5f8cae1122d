import CRdKafka
import Dispatch
import ServiceKit

/// Topic creation and broker reachability checks, on a handle of its own.
///
/// Every method blocks its caller's thread for at most its timeout, so call them from a dedicated queue or at
/// start-up, not from a hot path on Swift's concurrency pool. `rd_kafka_t` is thread-safe.
public final class KafkaAdmin: Sendable {
    /// Owns the handle; destroyed in `deinit`.
    private nonisolated(unsafe) let handle: OpaquePointer
    private let queue = DispatchQueue(label: "kafka-admin")

    /// - Throws: `KafkaError` for an old librdkafka or an invalid property.
    public init(brokers: String, properties: [String: String] = [:]) throws {
        try checkKafkaLibraryVersion()
        var all = ["bootstrap.servers": brokers]
        for (key, value) in properties
        where !KafkaConsumer.consumerOnlyKeys.contains(key) && !KafkaConsumer.producerOnlyKeys.contains(key) {
            all[key] = value
        }
        let conf = try makeConfiguration(all)
        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.configuration, "rd_kafka_new failed: \(errorString(errorBuffer))")
        }
        self.handle = handle
    }

    deinit {
        rd_kafka_destroy(handle)
    }

    /// Asks a broker for cluster metadata and returns the number of brokers it reported.
    ///
    /// librdkafka queues produced messages silently while no broker answers, so services call this at start-up
    /// to fail fast, and `/readyz` calls it to report reachability.
    /// - Throws: `KafkaError` with code `.connection` when no broker answered within `timeout`.
    public func checkConnection(timeout: Duration = .seconds(5)) async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [self] in
                var metadata: UnsafePointer<rd_kafka_metadata>?
                let result = rd_kafka_metadata(handle, 0, nil, &metadata, Int32(timeout.milliseconds))
                guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
                    continuation.resume(throwing: KafkaError(.connection, error: result))
                    return
                }
                let brokers = Int(metadata.pointee.broker_cnt)
                rd_kafka_metadata_destroy(metadata)
                continuation.resume(returning: brokers)
            }
        }
    }

    /// Creates each topic that does not exist yet; existing topics are left as they are.
    ///
    /// - Throws: `KafkaError` with code `.admin` naming the first topic the broker refused to create.
    public func createTopics(_ names: [String], partitions: Int32, replicationFactor: Int32 = 1,
                             timeout: Duration = .seconds(15)) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async { [self] in
                continuation.resume(with: Result {
                    try createTopicsBlocking(names, partitions, replicationFactor, Int32(timeout.milliseconds))
                })
            }
        }
    }

    private func createTopicsBlocking(_ names: [String], _ partitions: Int32, _ replication: Int32,
                                      _ timeoutMs: Int32) throws {
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for name in names {
            guard let topic = rd_kafka_NewTopic_new(name, partitions, replication, &errorBuffer, errorBuffer.count)
            else { throw KafkaError(.admin, "invalid topic \(name): \(errorString(errorBuffer))") }
            newTopics.append(topic)
        }

        let resultQueue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(resultQueue) }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errorBuffer, errorBuffer.count)
        rd_kafka_CreateTopics(handle, &newTopics, newTopics.count, options, resultQueue)

        guard let event = rd_kafka_queue_poll(resultQueue, timeoutMs + 1000) else {
            throw KafkaError(.admin, "creating topics timed out; is the broker at bootstrap.servers running?")
        }
        defer { rd_kafka_event_destroy(event) }
        if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(.admin, error: rd_kafka_event_error(event))
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(.admin, "unexpected admin event while creating topics")
        }
        var count = 0
        guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            let topic = topics[index]
            let error = rd_kafka_topic_result_error(topic)
            guard error != RD_KAFKA_RESP_ERR_NO_ERROR, error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else { continue }

            let name = String(cString: rd_kafka_topic_result_name(topic))
            throw KafkaError(.admin, "creating topic \(name) failed: \(String(cString: rd_kafka_err2str(error)))")
        }
    }
}
