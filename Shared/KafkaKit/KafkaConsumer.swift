import CRdKafka
import Dispatch
import Foundation
import ServiceKit
import Synchronization

/// A consumer-group member that hands messages to a handler in batches and stores each batch's offsets only
/// after the handler returned, so that delivery is at least once.
///
/// All librdkafka calls on the consumer handle run on one serial queue; the handler runs on Swift's concurrency
/// pool. Offsets go to librdkafka's store (`enable.auto.offset.store=false`) and its auto-commit sends them.
public final class KafkaConsumer: Sendable {
    /// Owns the handle; destroyed in `close()`, which runs once.
    private nonisolated(unsafe) let handle: OpaquePointer
    private let queue = DispatchQueue(label: "kafka-consumer")
    private let closed = Atomic<Bool>(false)
    private let logger: Logger
    private let consumerErrors = LogRateLimit(interval: .seconds(10))
    public let groupID: String

    /// Keys that only consumers accept; a producer given them would warn.
    static let consumerOnlyKeys: Set<String> = [
        "session.timeout.ms", "heartbeat.interval.ms", "max.poll.interval.ms", "auto.offset.reset",
        "enable.auto.commit", "enable.auto.offset.store", "auto.commit.interval.ms", "group.id",
        "partition.assignment.strategy", "fetch.wait.max.ms", "group.instance.id", "queued.max.messages.kbytes",
    ]

    /// Joins `groupID` and subscribes to `topics`.
    ///
    /// - Throws: `KafkaError` for an old librdkafka, an invalid property or a failed subscription.
    public init(
        brokers: String,
        groupID: String,
        topics: [String],
        properties: [String: String] = [:],
        logger: Logger
    ) throws {
        try checkKafkaLibraryVersion()
        var all: [String: String] = [
            "bootstrap.servers": brokers,
            "group.id": groupID,
            "enable.auto.commit": "true",
            "enable.auto.offset.store": "false",
            "auto.commit.interval.ms": "1000",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": "50",
            // Prefetched messages wait in librdkafka's queue, 64 MiB by default; a quarter of that still keeps
            // tens of thousands of web events ahead of the batch being applied, at a quarter of the memory.
            "queued.max.messages.kbytes": "16384",
        ]
        for (key, value) in properties where !KafkaConsumer.producerOnlyKeys.contains(key) { all[key] = value }
        all["enable.auto.offset.store"] = "false"
        let conf = try makeConfiguration(all)

        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.configuration, "rd_kafka_new failed: \(errorString(errorBuffer))")
        }
        rd_kafka_poll_set_consumer(handle)

        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, rt_kafka_partition_unassigned())
        }
        let result = rd_kafka_subscribe(handle, list)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(handle)
            throw KafkaError(.consume, error: result)
        }
        self.handle = handle
        self.groupID = groupID
        var enriched = logger
        enriched[metadataKey: "kafka.group"] = groupID
        self.logger = enriched
    }

    static let producerOnlyKeys: Set<String> = [
        "enable.idempotence", "linger.ms", "message.timeout.ms", "queue.buffering.max.messages", "acks",
        "compression.type", "batch.num.messages", "queue.buffering.max.ms", "transactional.id",
    ]

    /// Polls up to `maxCount` messages: waits up to `timeout` for the first, then takes what is ready.
    ///
    /// Runs on the consumer's serial queue. Partition-end events are skipped; other consumer errors are logged.
    public func poll(maxCount: Int, timeout: Duration) async -> [KafkaMessage] {
        await withCheckedContinuation { continuation in
            queue.async { [self] in
                continuation.resume(returning: pollBlocking(maxCount: maxCount, timeoutMs: Int32(timeout.milliseconds)))
            }
        }
    }

    private func pollBlocking(maxCount: Int, timeoutMs: Int32) -> [KafkaMessage] {
        guard !closed.load(ordering: .acquiring) else { return [] }

        var messages: [KafkaMessage] = []
        var wait = timeoutMs
        while messages.count < maxCount, let raw = rd_kafka_consumer_poll(handle, wait) {
            defer { rd_kafka_message_destroy(raw) }
            wait = 0
            let message = raw.pointee
            if message.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                // One such error is the poll interval exceeded: the group then reassigns the partitions, and the
                // batch in hand is delivered again. Repeats of one error are counted, not logged each time.
                if message.err != RD_KAFKA_RESP_ERR__PARTITION_EOF,
                   let suppressed = consumerErrors.due(String(message.err.rawValue))
                {
                    var metadata: Logger.Metadata = ["kafka.error": String(cString: rd_kafka_err2str(message.err))]
                    if suppressed > 0 { metadata["kafka.suppressed"] = String(suppressed) }
                    logger.warning("Consumer error", metadata: metadata)
                }
                continue
            }
            messages.append(copy(raw))
        }
        return messages
    }

    /// Copies a message out of librdkafka's memory; `raw` must be the pointer librdkafka returned, because
    /// `rd_kafka_message_timestamp` finds its private envelope from that address.
    private func copy(_ raw: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaMessage {
        let message = raw.pointee
        let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let key = message.key.map {
            Array(UnsafeRawBufferPointer(start: $0, count: message.key_len).bindMemory(to: UInt8.self))
        }
        let value = message.payload.map {
            Array(UnsafeRawBufferPointer(start: $0, count: message.len).bindMemory(to: UInt8.self))
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
        return KafkaMessage(
            topic: topic,
            partition: message.partition,
            offset: message.offset,
            key: key,
            value: value,
            timestampMilliseconds: timestamp >= 0 ? timestamp : nil
        )
    }

    /// Marks `messages` as processed so the next auto-commit includes them.
    ///
    /// Kafka commits the next offset to read, so this stores the highest offset of each partition plus one.
    /// Call it only after the handler succeeded. A partition revoked meanwhile is logged and skipped: its
    /// messages will be delivered again to the new owner, which the handlers' idempotence makes harmless.
    public func storeOffsets(of messages: [KafkaMessage]) async {
        guard !messages.isEmpty else { return }

        var highest: [String: [Int32: Int64]] = [:]
        for message in messages {
            highest[message.topic, default: [:]][message.partition] = max(
                highest[message.topic]?[message.partition] ?? -1,
                message.offset
            )
        }
        let offsets = highest
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                storeBlocking(offsets)
                continuation.resume()
            }
        }
    }

    private func storeBlocking(_ highest: [String: [Int32: Int64]]) {
        guard !closed.load(ordering: .acquiring) else { return }

        let list = rd_kafka_topic_partition_list_new(Int32(highest.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topic, partitions) in highest {
            for (partition, offset) in partitions {
                rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = offset + 1
            }
        }
        let result = rd_kafka_offsets_store(handle, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.info(
                "Offsets not stored, partitions were probably revoked",
                metadata: ["kafka.error": String(cString: rd_kafka_err2str(result))]
            )
        }
    }

    /// Runs the consume loop until `shutdown` is requested.
    ///
    /// `handler` gets batches of at most `maxBatch` messages, tombstones left out; offsets are stored after it
    /// returns. When it throws
    /// (Redis or the broker unreachable), the same batch is retried with backoff and its offsets stay unstored, so
    /// a process that dies meanwhile gets the batch again after restart. Then the consumer commits and leaves.
    public func run(
        shutdown: ShutdownToken,
        maxBatch: Int = 500,
        handler: @escaping @Sendable ([KafkaMessage]) async throws -> Void
    ) async {
        while !shutdown.isRequested {
            let batch = await poll(maxCount: maxBatch, timeout: .milliseconds(100))
            guard !batch.isEmpty else { continue }

            // Tombstones (null values) mark erased keys for compaction; there is nothing to apply.
            let work = batch.filter { $0.value != nil }
            await apply(batch, shutdown: shutdown) {
                if !work.isEmpty { try await handler(work) }
            }
        }
        await close()
    }

    /// Runs `body` for `batch` and stores the batch's offsets once it succeeds. A failure (Redis or the broker
    /// unreachable) is retried with backoff, and the offsets stay unstored, until it succeeds or shutdown is
    /// requested.
    private func apply(_ batch: [KafkaMessage], shutdown: ShutdownToken, _ body: () async throws -> Void) async {
        var backoff = Duration.milliseconds(100)
        while true {
            do {
                try await body()
                await storeOffsets(of: batch)
                return
            } catch {
                logger.warning(
                    "Batch failed, retrying",
                    metadata: ["error": "\(error)", "kafka.batch.size": "\(batch.count)"]
                )
                Metrics.shared.increment("ringtrail_consumer_retries_total", labels: ["group": groupID])
                if shutdown.isRequested { return }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// Runs the consume loop like `run(shutdown:maxBatch:handler:)`, but reads and prepares the next batch while
    /// `handler` works on the current one.
    ///
    /// `prepare` must only compute (decode, validate): a prepared batch may be dropped unapplied at shutdown, and
    /// its messages are then delivered again. Batches reach `handler` in the order they were read, one at a time,
    /// and each batch's offsets are stored only after `handler` returned for it.
    public func run<Prepared: Sendable>(
        shutdown: ShutdownToken,
        maxBatch: Int,
        prepare: @escaping @Sendable ([KafkaMessage]) async -> Prepared,
        handler: @escaping @Sendable (Prepared) async throws -> Void
    ) async {
        /// Polls until a batch arrives or shutdown is requested, then prepares its messages (tombstones left out).
        @Sendable func next() async -> (batch: [KafkaMessage], prepared: Prepared?)? {
            while !shutdown.isRequested {
                let batch = await poll(maxCount: maxBatch, timeout: .milliseconds(100))
                guard !batch.isEmpty else { continue }
                let work = batch.filter { $0.value != nil }
                return (batch, work.isEmpty ? nil : await prepare(work))
            }
            return nil
        }

        var upcoming = Task { await next() }
        while let current = await upcoming.value {
            upcoming = Task { await next() }
            await apply(current.batch, shutdown: shutdown) {
                if let prepared = current.prepared { try await handler(prepared) }
            }
            if shutdown.isRequested { break }
        }
        _ = await upcoming.value
        await close()
    }

    /// Commits the stored offsets, leaves the group and destroys the handle. Calling it again does nothing.
    public func close() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [self] in
                if !closed.exchange(true, ordering: .acquiringAndReleasing) {
                    rd_kafka_commit(handle, nil, 0)
                    rd_kafka_consumer_close(handle)
                    rd_kafka_destroy(handle)
                }
                continuation.resume()
            }
        }
    }
}
