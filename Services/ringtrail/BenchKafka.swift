import CRdKafka
import Dispatch
import Foundation
import Synchronization

/// When a message reached the bench's consumer, with the timestamp the producer's librdkafka gave it.
struct Arrival: Sendable {
    /// Wall-clock microseconds when `rd_kafka_consumer_poll` returned the message.
    var receivedAt: Int64
    /// The message's Kafka timestamp in milliseconds (the producer's create time), nil when absent.
    var timestampMilliseconds: Int64?
    /// The payload, kept only for the topics the recorder was asked to keep.
    var value: [UInt8]?
}

/// Makes a librdkafka configuration from `properties`; the caller owns it until `rd_kafka_new` succeeds.
private func makeRawConfiguration(_ properties: [String: String]) throws -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else { throw BenchError("rd_kafka_conf_new returned NULL") }
    var errorText = [CChar](repeating: 0, count: 512)
    for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
        guard rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) == RD_KAFKA_CONF_OK else {
            rd_kafka_conf_destroy(conf)
            throw BenchError("invalid librdkafka property \(key)=\(value): \(text(of: errorText))")
        }
    }
    return conf
}

/// Returns the NUL-terminated text librdkafka wrote into `buffer`.
private func text(of buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func makeHandle(_ type: rd_kafka_type_t, _ properties: [String: String],
                        configure: (OpaquePointer) -> Void = { _ in }) throws -> OpaquePointer {
    let conf = try makeRawConfiguration(properties)
    configure(conf)
    var errorText = [CChar](repeating: 0, count: 512)
    guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        throw BenchError("rd_kafka_new failed: \(text(of: errorText))")
    }
    return handle
}

/// A librdkafka consumer outside any consumer group that reads topics from their current end and records when
/// the first message with each key arrived.
///
/// It assigns every partition at its high watermark, queried before `init` returns, so it receives every message
/// produced after that and nothing older, without waiting for a group to form.
final class ArrivalRecorder: Sendable {
    /// Owns the handle; destroyed in `stop()`.
    private nonisolated(unsafe) let handle: OpaquePointer
    private let keptValues: Set<String>
    private let arrivals = Mutex<[String: [String: Arrival]]>([:])
    private let stopped = Atomic<Bool>(false)
    private let pollThreadDone = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - fetchWaitMilliseconds: librdkafka's `fetch.wait.max.ms`, the longest the broker may hold a fetch
    ///     request that found no new message.
    ///   - keepValuesOf: topics whose payloads are kept in each `Arrival`.
    init(brokers: String, topics: [String], fetchWaitMilliseconds: Int, keepValuesOf: Set<String> = []) throws {
        handle = try makeHandle(RD_KAFKA_CONSUMER, [
            "bootstrap.servers": brokers,
            "group.id": "ringtrail.bench-calls",
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "fetch.wait.max.ms": String(fetchWaitMilliseconds),
        ])
        keptValues = keepValuesOf
        rd_kafka_poll_set_consumer(handle)
        do {
            try assignAtEnd(topics)
        } catch {
            rd_kafka_destroy(handle)
            throw error
        }
        let thread = Thread { [self] in pollLoop() }
        thread.name = "bench-consumer"
        thread.start()
    }

    private func assignAtEnd(_ topics: [String]) throws {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(handle, 1, nil, &metadata, 10_000)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw BenchError("broker metadata request failed: \(String(cString: rd_kafka_err2str(result)))")
        }
        defer { rd_kafka_metadata_destroy(metadata) }

        var partitionCounts: [String: Int32] = [:]
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let topic = metadata.pointee.topics[index]
            partitionCounts[String(cString: topic.topic)] = topic.partition_cnt
        }
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count * 4))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            guard let count = partitionCounts[topic], count > 0 else {
                throw BenchError("topic \(topic) does not exist; run `ringtrail topics` first")
            }
            for partition in 0..<count {
                var low: Int64 = 0
                var high: Int64 = 0
                let watermarks = rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, 10_000)
                guard watermarks == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw BenchError("watermarks of \(topic)/\(partition) not available: "
                        + String(cString: rd_kafka_err2str(watermarks)))
                }
                rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = high
            }
        }
        let assigned = rd_kafka_assign(handle, list)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw BenchError("assigning partitions failed: \(String(cString: rd_kafka_err2str(assigned)))")
        }
    }

    private func pollLoop() {
        while !stopped.load(ordering: .acquiring) {
            guard let raw = rd_kafka_consumer_poll(handle, 100) else { continue }
            let receivedAt = wallClockMicroseconds()
            record(raw, receivedAt: receivedAt)
            rd_kafka_message_destroy(raw)
        }
        pollThreadDone.signal()
    }

    private func record(_ raw: UnsafeMutablePointer<rd_kafka_message_t>, receivedAt: Int64) {
        let message = raw.pointee
        guard message.err == RD_KAFKA_RESP_ERR_NO_ERROR, let key = message.key, let rkt = message.rkt else { return }

        let topic = String(cString: rd_kafka_topic_name(rkt))
        let keyText = String(decoding: UnsafeRawBufferPointer(start: key, count: message.key_len), as: UTF8.self)
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(raw, &timestampType)
        var value: [UInt8]?
        if keptValues.contains(topic), let payload = message.payload {
            value = Array(UnsafeRawBufferPointer(start: payload, count: message.len))
        }
        let arrival = Arrival(receivedAt: receivedAt, timestampMilliseconds: timestamp >= 0 ? timestamp : nil,
                              value: value)
        arrivals.withLock { table in
            if table[topic]?[keyText] == nil { table[topic, default: [:]][keyText] = arrival }
        }
    }

    /// Returns the first arrival of each key on `topic` so far.
    func arrivals(on topic: String) -> [String: Arrival] {
        arrivals.withLock { $0[topic] ?? [:] }
    }

    /// Stops the poll thread and destroys the consumer. Call it once.
    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        pollThreadDone.wait()
        rd_kafka_consumer_close(handle)
        rd_kafka_destroy(handle)
    }
}

/// The acknowledgement latency of each probe message, from its produce call to its delivery report.
final class AcknowledgementLog: Sendable {
    /// Probe index and latency in milliseconds, in the order the reports arrived.
    let latencies = Mutex<[(index: Int, milliseconds: Double)]>([])
    let failures = Atomic<Int>(0)
}

/// Reads the probe's index from its key and its produce time from its payload, and logs the latency.
private func onProbeDelivery(
    _ handle: OpaquePointer?,
    _ message: UnsafePointer<rd_kafka_message_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, let opaque else { return }

    let acknowledgedAt = wallClockMicroseconds()
    let log = Unmanaged<AcknowledgementLog>.fromOpaque(opaque).takeUnretainedValue()
    let report = message.pointee
    guard report.err == RD_KAFKA_RESP_ERR_NO_ERROR, let key = report.key, let payload = report.payload else {
        log.failures.add(1, ordering: .relaxed)
        return
    }
    let keyText = String(decoding: UnsafeRawBufferPointer(start: key, count: report.key_len), as: UTF8.self)
    let digits = UnsafeRawBufferPointer(start: payload, count: report.len).prefix { $0 != 0x20 }
    guard let index = Int(keyText.dropFirst("probe-".count)),
        let producedAt = Int64(String(decoding: digits, as: UTF8.self))
    else { return }
    log.latencies.withLock { $0.append((index, Double(acknowledgedAt - producedAt) / 1000)) }
}

/// A librdkafka producer that sends timestamped probe messages on a fixed schedule, for the broker's own
/// produce-to-acknowledgement and produce-to-consume latency.
///
/// One thread polls for delivery reports, as KafkaKit's producer does, so an acknowledgement is logged when it
/// arrives.
final class ProbeProducer: Sendable {
    /// Owns the handle; destroyed in `finish()` after the poll thread stopped.
    private nonisolated(unsafe) let handle: OpaquePointer
    let acknowledgements: AcknowledgementLog
    private let stopped = Atomic<Bool>(false)
    private let pollThreadDone = DispatchSemaphore(value: 0)

    init(brokers: String, properties: [String: String]) throws {
        var all = properties
        all["bootstrap.servers"] = brokers
        let log = AcknowledgementLog()
        handle = try makeHandle(RD_KAFKA_PRODUCER, all) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, onProbeDelivery)
            // Unretained: the producer keeps the log alive until the handle is destroyed in `finish()`.
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(log).toOpaque())
        }
        acknowledgements = log
        let thread = Thread { [self] in
            while !stopped.load(ordering: .acquiring) { rd_kafka_poll(handle, 100) }
            pollThreadDone.signal()
        }
        thread.name = "bench-probe-poll"
        thread.start()
    }

    /// Produces `count` messages, one every `1 / rate` seconds from `start`, each keyed `probe-<n>` and carrying
    /// the wall-clock microseconds of its produce call in decimal, padded with spaces to `payloadBytes`.
    ///
    /// Blocks the calling thread. Returns how many produce calls librdkafka rejected at once.
    func run(topic: String, count: Int, rate: Double, start: Int64, payloadBytes: Int) -> Int {
        var rejected = 0
        let interval = 1_000_000 / rate
        for index in 0..<count {
            sleepUntil(wallClockMicroseconds: start + Int64((Double(index) * interval).rounded()))
            var payload = Array(String(wallClockMicroseconds()).utf8)
            if payload.count < payloadBytes { payload += [UInt8](repeating: 0x20, count: payloadBytes - payload.count) }
            let key = Array("probe-\(index)".utf8)
            let result = key.withUnsafeBytes { keyBytes in
                payload.withUnsafeBytes { valueBytes in
                    rt_kafka_produce(handle, topic, keyBytes.baseAddress, keyBytes.count, valueBytes.baseAddress,
                                     valueBytes.count, nil)
                }
            }
            if result != RD_KAFKA_RESP_ERR_NO_ERROR { rejected += 1 }
        }
        return rejected
    }

    /// Waits up to 10 s for queued messages and destroys the producer. Returns how many were still queued.
    func finish() -> Int {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return 0 }
        pollThreadDone.wait()
        rd_kafka_flush(handle, 10_000)
        let left = Int(rd_kafka_outq_len(handle))
        rd_kafka_destroy(handle)
        return left
    }
}
