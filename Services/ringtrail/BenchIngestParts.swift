import CRdKafka
import Foundation
import Model
import RedisKit
import Store
import Synchronization

/// Counts failed deliveries of `BulkProducer`; librdkafka's delivery callback reaches it through the opaque.
private final class DeliveryFailures: Sendable {
    let count = Atomic<Int>(0)
}

private func onBulkDelivery(
    _ handle: OpaquePointer?,
    _ message: UnsafePointer<rd_kafka_message_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR, let opaque else { return }
    Unmanaged<DeliveryFailures>.fromOpaque(opaque).takeUnretainedValue().count.add(1, ordering: .relaxed)
}

/// Produces a list of messages as fast as librdkafka takes them.
enum BulkProducer {
    /// Produces every message, waits until the broker acknowledged all of them and returns how many there were.
    ///
    /// - Throws: when a produce call or a delivery failed, or messages were still queued after a minute.
    static func produce(_ messages: [(key: String, value: [UInt8])], topic: String, brokers: String) throws -> Int {
        let failures = DeliveryFailures()
        let handle = try makeHandle(RD_KAFKA_PRODUCER, [
            "bootstrap.servers": brokers,
            "linger.ms": "5",
            "batch.num.messages": "10000",
            "queue.buffering.max.messages": "200000",
        ]) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, onBulkDelivery)
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(failures).toOpaque())
        }
        defer { rd_kafka_destroy(handle) }

        for message in messages {
            while true {
                let key = Array(message.key.utf8)
                let result = key.withUnsafeBytes { keyBytes in
                    message.value.withUnsafeBytes { valueBytes in
                        rt_kafka_produce(handle, topic, keyBytes.baseAddress, keyBytes.count, valueBytes.baseAddress,
                                         valueBytes.count, nil)
                    }
                }
                if result == RD_KAFKA_RESP_ERR_NO_ERROR { break }
                guard result == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                    throw BenchError("producing to \(topic) failed: \(String(cString: rd_kafka_err2str(result)))")
                }
                rd_kafka_poll(handle, 10)
            }
            rd_kafka_poll(handle, 0)
        }
        rd_kafka_flush(handle, 60_000)
        let left = Int(rd_kafka_outq_len(handle))
        let failed = failures.count.load(ordering: .relaxed)
        guard left == 0, failed == 0 else {
            throw BenchError("\(failed) deliveries failed and \(left) messages were still queued after a minute")
        }
        return messages.count
    }
}

/// A librdkafka consumer outside any group that reads a topic from the beginning and times it.
enum RawTopicReader {
    /// Reads `count` messages from the start of every partition of `topic` and returns the time it took, from
    /// the assignment to the last message.
    static func read(topic: String, count: Int, brokers: String) throws -> (messages: Int, seconds: Double) {
        let handle = try makeConsumer(brokers: brokers, topic: topic, group: "ringtrail.bench-ingest.raw")
        defer { rd_kafka_destroy(handle) }
        let started = wallClockMicroseconds()
        var received = 0
        var last = started
        var quietSince = started
        while received < count {
            guard let message = rd_kafka_consumer_poll(handle, 100) else {
                if wallClockMicroseconds() - quietSince > 30_000_000 { break }
                continue
            }
            if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                received += 1
                last = wallClockMicroseconds()
                quietSince = last
            }
            rd_kafka_message_destroy(message)
        }
        rd_kafka_consumer_close(handle)
        guard received >= count else {
            throw BenchError("the raw consumer read \(received) of \(count) messages and then none for 30 s")
        }
        return (received, Double(last - started) / 1_000_000)
    }

    /// Returns a consumer that commits nothing, with every partition of `topic` assigned from its first message.
    static func makeConsumer(brokers: String, topic: String, group: String) throws -> OpaquePointer {
        let handle = try makeHandle(RD_KAFKA_CONSUMER, [
            "bootstrap.servers": brokers,
            "group.id": group,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
        ])
        rd_kafka_poll_set_consumer(handle)
        do {
            try assignFromBeginning(handle, topic: topic)
        } catch {
            rd_kafka_destroy(handle)
            throw error
        }
        return handle
    }

    /// Assigns every partition of `topic` to the consumer `handle`, each from its first message.
    static func assignFromBeginning(_ handle: OpaquePointer, topic: String) throws {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let result = rd_kafka_metadata(handle, 1, nil, &metadata, 10_000)
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw BenchError("broker metadata request failed: \(String(cString: rd_kafka_err2str(result)))")
        }
        var partitions: Int32 = 0
        for index in 0..<Int(metadata.pointee.topic_cnt) where String(cString: metadata.pointee.topics[index].topic)
            == topic
        {
            partitions = metadata.pointee.topics[index].partition_cnt
        }
        rd_kafka_metadata_destroy(metadata)
        guard partitions > 0 else { throw BenchError("topic \(topic) does not exist") }

        let list = rd_kafka_topic_partition_list_new(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in 0..<partitions {
            rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
        }
        guard rd_kafka_assign(handle, list) == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw BenchError("assigning the partitions of \(topic) failed")
        }
    }
}

/// The activity-ingester's count of processed web events, from its Prometheus metrics.
struct IngesterMetrics {
    let url: String

    /// Events applied, found to be duplicates or rejected so far.
    func processed() async throws -> Double {
        let response = try await ReplayClient().send("GET", url)
        guard response.status == 200 else { throw BenchError("GET \(url) returned \(response.status)") }
        var total = 0.0
        for line in String(decoding: response.body, as: UTF8.self).split(separator: "\n")
        where line.hasPrefix("ringtrail_web_events_total{") {
            total += line.split(separator: " ").last.flatMap { Double($0) } ?? 0
        }
        return total
    }

    /// The growth of the count: wall-clock microseconds and the count then, one sample per change.
    struct Progress {
        var samples: [(micros: Int64, count: Double)]

        var finishedAt: Int64 { samples.last?.micros ?? wallClockMicroseconds() }

        /// Returns the time of the first sample at which at least `share` of the `total` events after `base` were
        /// counted.
        func time(reaching share: Double, of total: Double, after base: Double) -> Int64? {
            samples.first { $0.count - base >= share * total }?.micros
        }
    }

    /// Polls every 20 ms until `processed` reaches `target`, and returns how the count grew.
    ///
    /// - Throws: when the count does not move for `timeout`.
    func waitUntil(processed target: Double, timeout: Duration) async throws -> Progress {
        var last = try await processed()
        var progress = Progress(samples: [(wallClockMicroseconds(), last)])
        var lastChange = ContinuousClock.now
        while last < target {
            try await Task.sleep(for: .milliseconds(20))
            let current = try await processed()
            if current != last {
                last = current
                lastChange = .now
                progress.samples.append((wallClockMicroseconds(), current))
            } else if ContinuousClock.now - lastChange > timeout {
                throw BenchError("the ingester processed \(Int(current)) of \(Int(target)) events and then stopped")
            }
        }
        return progress
    }
}

/// Checks that Redis contains every event of every session.
enum RedisCheck {
    struct Result {
        var eventsExpected: Int
        var eventsFound: Int
        var incompleteSessions: Int
    }

    static func sessions(_ expected: [String: Int], advertiser: String, redisURL: String,
                         keyPrefix: String) async throws -> Result {
        let redis = try RedisClient(url: redisURL, connectionCount: 1, timeout: .seconds(10))
        let keys = RedisKeys(prefix: keyPrefix)
        let sessions = Array(expected.keys)
        var result = Result(eventsExpected: expected.values.reduce(0, +), eventsFound: 0, incompleteSessions: 0)
        for start in stride(from: 0, to: sessions.count, by: 1000) {
            let chunk = sessions[start..<min(start + 1000, sessions.count)]
            let replies = try await redis.pipelineOrThrow(chunk.map {
                ["LLEN", keys.sessionEvents(advertiser: advertiser, session: $0)]
            })
            for (session, reply) in zip(chunk, replies) {
                let found = Int(reply.integer ?? 0)
                result.eventsFound += min(found, expected[session] ?? 0)
                if found < expected[session] ?? 0 { result.incompleteSessions += 1 }
            }
        }
        return result
    }
}

/// Closed-loop load on `POST /v1/collect`: each connection sends its next batch as soon as the last one returned.
enum CollectLoad {
    struct Result {
        var requestsPerSecond: Double
        var latency: LatencySummary
        var errors: Int
    }

    static func run(url: String, webKey: String, seconds: Double, connections: Int, batch: Int) async throws
        -> Result
    {
        guard let components = URLComponents(string: url), let host = components.host,
            let port = components.port.flatMap(UInt16.init(exactly:))
        else { throw BenchError("--ingester needs http://host:port, got \(url)") }
        let run = String(UUID().uuidString.prefix(8)).lowercased()
        let started = wallClockMicroseconds()
        let deadline = started + Int64(seconds * 1_000_000)

        let perConnection = await withTaskGroup(of: (latencies: [Double], errors: Int).self) { group in
            for connection in 0..<connections {
                group.addTask {
                    await onDedicatedThread(name: "bench-collect-\(connection)") {
                        post(host: host, port: port, webKey: webKey, batch: batch, deadline: deadline,
                             prefix: "collect-\(run)-\(connection)")
                    }
                }
            }
            var all: [(latencies: [Double], errors: Int)] = []
            for await result in group { all.append(result) }
            return all
        }
        let elapsed = Double(wallClockMicroseconds() - started) / 1_000_000
        let latencies = perConnection.flatMap(\.latencies)
        return Result(requestsPerSecond: Double(latencies.count) / elapsed, latency: LatencySummary(latencies),
                      errors: perConnection.reduce(0) { $0 + $1.errors })
    }

    /// Sends batches on one connection until `deadline`; returns the latency of each 200 response and the count
    /// of other outcomes.
    private static func post(host: String, port: UInt16, webKey: String, batch: Int, deadline: Int64,
                             prefix: String) -> (latencies: [Double], errors: Int) {
        let connection = HTTPConnection(host: host, port: port)
        var latencies: [Double] = []
        var errors = 0
        var sequence = 0
        while wallClockMicroseconds() < deadline {
            let session = "\(prefix)-\(sequence)"
            let now = Timestamp.format(Date())
            let events = (0..<batch).map { index in
                "{\"type\":\"page\",\"messageId\":\"\(session)-\(index)\",\"anonymousId\":\"v-\(session)\","
                    + "\"sessionId\":\"\(session)\",\"timestamp\":\"\(now)\","
                    + "\"properties\":{\"url\":\"https://shop.example.com/p\(index)\"}}"
            }
            let body = "{\"batch\":[\(events.joined(separator: ","))]}"
            let request = "POST /v1/collect HTTP/1.1\r\nHost: \(host):\(port)\r\n"
                + "Authorization: Bearer \(webKey)\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            sequence += 1
            let sent = wallClockMicroseconds()
            let status = (try? connection.exchange(Array(request.utf8))) ?? 0
            if status == 200 {
                latencies.append(Double(wallClockMicroseconds() - sent) / 1000)
            } else {
                errors += 1
            }
        }
        connection.disconnect()
        return (latencies, errors)
    }
}

/// Everything `bench-ingest` measured, written as `.run/bench-ingest.json`.
struct BenchIngestReport: Codable, Sendable {
    /// The share of the raw consume rate the ingester must reach.
    static let ratioTarget = 0.3
    static let rssTargetMB = 128.0

    var date: String
    var cores: Int
    var loadAverageAtStart: String
    var loadAverageAtEnd: String
    var copies: Int
    var sessions: Int
    var events: Int
    var produceSeconds: Double
    /// From the first event produced to the ingester's metrics counting the last one.
    var ingestSeconds: Double
    var eventsPerSecond: Double
    /// From the first event produced until the ingester counted its first event.
    var firstAppliedSeconds: Double?
    /// The rate between the moments 10% and 90% of the events were counted, without start and end.
    var middleEventsPerSecond: Double?
    var rawConsumePerSecond: Double
    /// `eventsPerSecond / rawConsumePerSecond`.
    var ratio: Double
    /// The raw consumer writing each message to Redis with plain commands (`RawPipeline`): the ingester's ceiling.
    var rawPipelinePerSecond: Double
    /// `eventsPerSecond` over `rawPipelinePerSecond`: the share of the ceiling the ingester reaches.
    var pipelineRatio: Double
    /// CPU used by each watched process while the raw pipeline ran, per message.
    var rawPipelineCPU: [ProcessCPUUse]
    var eventsInRedis: Int
    var incompleteSessions: Int
    var collectRps: Double
    var collectEventsPerRequest: Int
    var collectConnections: Int
    var collectLatency: LatencySummary
    var collectErrors: Int
    /// CPU used by each watched process from the first event produced to the last one applied.
    var cpu: [ProcessCPUUse]
    /// The ingester's peak resident set (VmHWM), nil when no process id was given.
    var peakRssMB: Double?

    func write(to path: String) throws {
        try writeReport(self, to: path)
    }

    private static func describe(_ use: ProcessCPUUse) -> String {
        let share = "\(use.name) \(use.percentOfOneCore)%"
        guard let micros = use.microsecondsPerEvent else { return share }
        return share + " (\(micros) µs per event)"
    }

    func table() -> String {
        let verdict = { (met: Bool) in met ? "met" : "NOT met" }
        let rss = peakRssMB.map { "\($0) MB" } ?? "not measured"
        return [
            "bench-ingest: \(events) events in \(sessions) sessions (\(copies) copies of the log), \(cores) cores, "
                + "load \(loadAverageAtStart) at start, \(date)",
            "  ingester            \(Int(eventsPerSecond)) events/s (\(ingestSeconds) s from first produce to last "
                + "applied); \(eventsInRedis) events in Redis, \(incompleteSessions) sessions incomplete",
            "  ingester progress   first event counted after "
                + (firstAppliedSeconds.map { "\($0) s" } ?? "unknown") + "; 10% to 90% of them at "
                + (middleEventsPerSecond.map { "\(Int($0)) events/s" } ?? "unknown"),
            "  raw consumer        \(Int(rawConsumePerSecond)) messages/s",
            "  raw pipeline        \(Int(rawPipelinePerSecond)) messages/s consumed and written to Redis with plain "
                + "commands; the ingester reaches \(pipelineRatio) of it",
            "  CPU in raw pipeline " + rawPipelineCPU.map(Self.describe).joined(separator: ", "),
            "  ratio               \(ratio) (target at least \(Self.ratioTarget): "
                + "\(verdict(ratio >= Self.ratioTarget && incompleteSessions == 0)))",
            "  collect             \(Int(collectRps)) requests/s of \(collectEventsPerRequest) events on "
                + "\(collectConnections) connections, p50 \(collectLatency.p50Ms) ms, p99 \(collectLatency.p99Ms) ms, "
                + "\(collectErrors) errors",
            "  CPU while ingesting " + cpu.map(Self.describe).joined(separator: ", "),
            "  ingester peak RSS   \(rss) (target under \(Self.rssTargetMB) MB: "
                + "\(verdict((peakRssMB ?? .infinity) < Self.rssTargetMB)))",
        ].joined(separator: "\n")
    }
}
