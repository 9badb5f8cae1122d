import CRdKafka
import Foundation
import ServiceKit
import Synchronization

/// An idempotent Kafka producer whose `send` returns once the broker has acknowledged the message.
///
/// One thread polls librdkafka for delivery reports every 100 ms and resumes the waiting senders. The producer is
/// safe to share between tasks: `rd_kafka_t` is thread-safe and the pending sends are kept in a `Mutex`.
///
/// An idempotent producer can hit a fatal error, for example when a restarted broker has lost the state of its
/// producer id (`UNKNOWN_PRODUCER_ID`), and librdkafka then fails every later message. The poll thread notices
/// it, fails the messages still queued so that their senders can retry, and replaces the handle with a new one.
/// It does the same when a message timed out and none was delivered since.
public final class KafkaProducer: Sendable {
    /// The current handle. Produce calls hold the lock, so a handle is destroyed only when no call uses it. The
    /// last one is destroyed by `shutdown()` after the poll thread stopped.
    private let current: Mutex<HandleBox>
    private let properties: [String: String]
    private let tracker: DeliveryTracker
    private let stopped = Atomic<Bool>(false)
    private let pollThreadDone = DispatchSemaphore(value: 0)
    private let logger: Logger

    /// Properties used unless the caller sets them: idempotence on, no linger because HTTP handlers wait for each
    /// acknowledgement, a queue bounded to 200,000 messages and 64 MiB (a send to a full queue fails at once),
    /// and a 30-second delivery timeout so that a send fails instead of waiting for minutes.
    public static let defaultProperties: [String: String] = [
        "enable.idempotence": "true",
        "linger.ms": "0",
        "message.timeout.ms": "30000",
        "queue.buffering.max.messages": "200000",
        "queue.buffering.max.kbytes": "65536",
        "socket.keepalive.enable": "true",
    ]

    /// Creates a producer for `brokers`; `properties` override the defaults.
    ///
    /// - Throws: `KafkaError` with code `.version` for a librdkafka older than 2.1, `.configuration` for an invalid
    ///   property.
    public init(brokers: String, properties: [String: String] = [:], logger: Logger) throws {
        try checkKafkaLibraryVersion()
        var all = KafkaProducer.defaultProperties
        all["bootstrap.servers"] = brokers
        for (key, value) in properties where !KafkaConsumer.consumerOnlyKeys.contains(key) { all[key] = value }
        let tracker = DeliveryTracker()
        let handle = try KafkaProducer.makeHandle(all, tracker: tracker)
        self.current = Mutex(HandleBox(handle: handle))
        self.properties = all
        self.tracker = tracker
        self.logger = logger

        let thread = Thread { [self] in pollLoop() }
        thread.name = "kafka-producer-poll"
        thread.start()
    }

    private static func makeHandle(_ properties: [String: String], tracker: DeliveryTracker) throws -> OpaquePointer {
        let conf = try makeConfiguration(properties)
        rd_kafka_conf_set_dr_msg_cb(conf, onDelivery)
        // The tracker is unretained here; the producer keeps it alive until the handle is destroyed.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(tracker).toOpaque())

        var errorBuffer = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorBuffer, errorBuffer.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(.configuration, "rd_kafka_new failed: \(errorString(errorBuffer))")
        }
        return handle
    }

    private func pollLoop() {
        while !stopped.load(ordering: .acquiring) {
            let handle = current.withLock { $0.handle }
            rd_kafka_poll(handle, 100)
            var reason = [CChar](repeating: 0, count: 512)
            if rd_kafka_fatal_error(handle, &reason, reason.count) != RD_KAFKA_RESP_ERR_NO_ERROR {
                replace(handle, reason: errorString(reason))
            } else if tracker.isStalled {
                // A broker restarted with its state lost can reject every produce request of the old producer id
                // with UNKNOWN_PRODUCER_ID without librdkafka raising a fatal error, so messages only time out. A
                // new handle gets a new producer id. When the broker is simply down, the new handle waits too.
                replace(handle, reason: "messages timed out and none was delivered since")
            }
        }
        pollThreadDone.signal()
    }

    /// Swaps a handle that hit a fatal error or stalled for a new one, then fails what the old one still queued
    /// and destroys it. Runs on the poll thread.
    private func replace(_ failed: OpaquePointer, reason: String) {
        let fresh: OpaquePointer
        do {
            fresh = try KafkaProducer.makeHandle(properties, tracker: tracker)
        } catch {
            logger.error("Kafka producer could not be replaced; retrying in 1 s",
                         metadata: ["error": reason, "replacement.error": "\(error)"])
            Thread.sleep(forTimeInterval: 1)
            return
        }
        current.withLock { $0.handle = fresh }
        tracker.resetOutcomes()
        logger.error("Kafka producer replaced by a new one; the messages it still queued fail",
                     metadata: ["error": reason, "kafka.queued": "\(rd_kafka_outq_len(failed))"])
        // Purged messages get a delivery report with an error, which resumes their senders.
        rd_kafka_purge(failed, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)
        let deadline = ContinuousClock.now + .seconds(5)
        while rd_kafka_outq_len(failed) > 0, ContinuousClock.now < deadline {
            rd_kafka_poll(failed, 100)
        }
        rd_kafka_destroy(failed)
        // A broker that keeps rejecting new producers would otherwise get one every 100 ms.
        Thread.sleep(forTimeInterval: 1)
    }

    /// Sends one message and waits for the broker's acknowledgement.
    ///
    /// Inside an HTTP handler the wait ends at `RequestDeadline.current`. The message then stays queued and may
    /// still be delivered, so a client that retries must be answered idempotently (every topic's consumers are).
    /// - Throws: `KafkaError` with code `.produce` when the queue is full, the broker rejected the message, it
    ///   could not be delivered within `message.timeout.ms`, or the request deadline passed first; `isRetriable`
    ///   tells whether trying again may help.
    public func send(topic: String, key: [UInt8]?, value: [UInt8]) async throws {
        try await produce(topic: topic, key: key, value: value)
    }

    /// Sends a tombstone: a message with `key` and a null value, which tells compaction and consumers that the
    /// key's data was erased.
    public func sendTombstone(topic: String, key: String) async throws {
        try await produce(topic: topic, key: Array(key.utf8), value: nil)
    }

    private func produce(topic: String, key: [UInt8]?, value: [UInt8]?) async throws {
        precondition(!stopped.load(ordering: .acquiring), "KafkaProducer used after shutdown()")
        let id = tracker.nextID()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            tracker.register(id: id, continuation: continuation)
            let result = current.withLock { box in
                key.withOptionalBytes { keyPointer, keyCount in
                    value.withOptionalBytes { valuePointer, valueCount in
                        rt_kafka_produce(
                            box.handle,
                            topic,
                            keyPointer,
                            keyCount,
                            valuePointer,
                            valueCount,
                            UnsafeMutableRawPointer(bitPattern: id)
                        )
                    }
                }
            }
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                tracker.complete(id: id, error: result)
            } else if let deadline = RequestDeadline.current {
                let delay = max(.zero, ContinuousClock.now.duration(to: deadline))
                let tracker = tracker
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(delay.milliseconds))) {
                    tracker.expire(id: id)
                }
            }
        }
    }

    /// Sends `messages` in the given order and waits for every acknowledgement.
    ///
    /// The messages are queued one after another before any report arrives, so those with the same key reach their
    /// partition in this order (the producer is idempotent). When one cannot be queued, the rest are not sent.
    /// - Throws: `KafkaError` with code `.produce` for the first message that failed; others may have been
    ///   delivered, so the caller retries the whole list only when the consumers tolerate duplicates.
    public func send(all messages: [OutgoingMessage]) async throws {
        guard !messages.isEmpty else { return }
        precondition(!stopped.load(ordering: .acquiring), "KafkaProducer used after shutdown()")

        let id = tracker.nextID()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            tracker.register(id: id, continuation: continuation, messages: messages.count)
            // One handle for the whole list, so a replacement cannot split it between two producers.
            let failure = current.withLock { box -> (index: Int, error: rd_kafka_resp_err_t)? in
                for (index, message) in messages.enumerated() {
                    let result = message.key.withOptionalBytes { keyPointer, keyCount in
                        message.value.withOptionalBytes { valuePointer, valueCount in
                            rt_kafka_produce(box.handle, message.topic, keyPointer, keyCount, valuePointer,
                                             valueCount, UnsafeMutableRawPointer(bitPattern: id))
                        }
                    }
                    if result != RD_KAFKA_RESP_ERR_NO_ERROR { return (index, result) }
                }
                return nil
            }
            if let failure {
                // This message and the ones after it never reach librdkafka, so no report will count them.
                for _ in failure.index..<messages.count { tracker.complete(id: id, error: failure.error) }
                return
            }
            // Within a request, the caller stops waiting at the request's deadline, as `produce` does.
            if let deadline = RequestDeadline.current {
                let delay = max(.zero, ContinuousClock.now.duration(to: deadline))
                let tracker = tracker
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(delay.milliseconds))) {
                    tracker.expire(id: id)
                }
            }
        }
    }

    /// Sends a message with a string key.
    public func send(topic: String, key: String, value: [UInt8]) async throws {
        try await send(topic: topic, key: Array(key.utf8), value: value)
    }

    /// Makes librdkafka raise a fatal error on the current handle, as a broker that forgot the producer's id does,
    /// for tests of the replacement.
    public func raiseFatalErrorForTesting() {
        current.withLock { box in
            _ = rd_kafka_test_fatal_error(box.handle, RD_KAFKA_RESP_ERR_UNKNOWN_PRODUCER_ID, "raised by a test")
        }
    }

    /// False while the producer delivers nothing: a message timed out after the last delivery, or a request's
    /// deadline passed unacknowledged in the last 10 seconds with no delivery since. After a timeout the poll
    /// thread replaces the handle, so this clears once the new handle delivers or its messages time out again.
    public var isDelivering: Bool { !tracker.isStalled && !tracker.isMissingDeadlines }

    /// Messages queued in librdkafka and not yet acknowledged.
    public var queuedCount: Int { current.withLock { Int(rd_kafka_outq_len($0.handle)) } }

    /// Waits up to `timeout` for every queued message, then stops the poll thread and destroys the handle.
    ///
    /// Returns false if messages were still queued at the deadline; their senders get a delivery error.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(10)) -> Bool {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return true }

        pollThreadDone.wait()
        let handle = current.withLock { $0.handle }
        let flushed = rd_kafka_flush(handle, Int32(timeout.milliseconds)) == RD_KAFKA_RESP_ERR_NO_ERROR
        if !flushed {
            logger.info("Producer flush timed out", metadata: ["kafka.queued": "\(queuedCount)"])
        }
        rd_kafka_destroy(handle)
        tracker.failAll()
        return flushed
    }
}

/// The producer's current librdkafka handle. `rd_kafka_t` is thread-safe, and the box is only read or replaced
/// under `KafkaProducer.current`'s lock.
struct HandleBox: @unchecked Sendable {
    var handle: OpaquePointer
}

/// A message for `KafkaProducer.send(all:)`.
public struct OutgoingMessage: Sendable {
    public var topic: String
    public var key: [UInt8]?
    public var value: [UInt8]?

    public init(topic: String, key: String, value: [UInt8]) {
        self.topic = topic
        self.key = Array(key.utf8)
        self.value = value
    }
}

/// The senders waiting for delivery reports, keyed by the integer carried in each message's opaque. Every
/// message of one `send(all:)` call carries the same integer, and its sender resumes after the last report.
final class DeliveryTracker: Sendable {
    private struct Waiter {
        var continuation: CheckedContinuation<Void, any Error>
        var remaining: Int
        var firstError: rd_kafka_resp_err_t?
    }

    private let nextIdentifier = Atomic<UInt>(1)
    private let pending = Mutex<[UInt: Waiter]>([:])
    /// When a message was last delivered, when one last timed out, and when a sender last stopped waiting at its
    /// request deadline, as `ContinuousClock` instants.
    private let outcomes = Mutex<(delivered: ContinuousClock.Instant, timedOut: ContinuousClock.Instant?,
                                  expired: ContinuousClock.Instant?)>((ContinuousClock.now, nil, nil))

    /// True when a message timed out after the last delivery: the producer has delivered nothing for at least
    /// `message.timeout.ms`.
    var isStalled: Bool {
        outcomes.withLock { outcome in outcome.timedOut.map { $0 > outcome.delivered } ?? false }
    }

    /// True when, within the last 10 seconds, a sender stopped waiting at its request deadline and nothing was
    /// delivered since. It clears by itself, so a service taken out of a load balancer for it gets traffic again.
    var isMissingDeadlines: Bool {
        outcomes.withLock { outcome in
            guard let expired = outcome.expired, expired > outcome.delivered else { return false }
            return ContinuousClock.now - expired < .seconds(10)
        }
    }

    /// Starts a fresh account, for a new handle.
    func resetOutcomes() {
        outcomes.withLock { $0 = (ContinuousClock.now, nil, nil) }
    }

    func nextID() -> UInt { nextIdentifier.wrappingAdd(1, ordering: .relaxed).oldValue }

    func register(id: UInt, continuation: CheckedContinuation<Void, any Error>, messages: Int = 1) {
        pending.withLock { $0[id] = Waiter(continuation: continuation, remaining: messages) }
    }

    /// Counts one delivery report of `id` and resumes its sender, outside the lock, after the last one.
    func complete(id: UInt, error: rd_kafka_resp_err_t) {
        if error == RD_KAFKA_RESP_ERR_NO_ERROR {
            outcomes.withLock { $0.delivered = ContinuousClock.now }
        } else if error == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT {
            outcomes.withLock { $0.timedOut = ContinuousClock.now }
        }
        let finished = pending.withLock { table -> Waiter? in
            guard var waiter = table[id] else { return nil }
            waiter.remaining -= 1
            if error != RD_KAFKA_RESP_ERR_NO_ERROR, waiter.firstError == nil { waiter.firstError = error }
            if waiter.remaining > 0 {
                table[id] = waiter
                return nil
            }
            table[id] = nil
            return waiter
        }
        guard let finished else { return }

        if let error = finished.firstError {
            finished.continuation.resume(throwing: KafkaError(.produce, error: error))
        } else {
            finished.continuation.resume()
        }
    }

    /// Stops waiting for `id`'s delivery report; a report that arrives later finds no sender and is ignored.
    func expire(id: UInt) {
        guard let waiter = pending.withLock({ $0.removeValue(forKey: id) }) else { return }
        outcomes.withLock { $0.expired = ContinuousClock.now }

        waiter.continuation.resume(throwing: KafkaError(
            .produce, "the broker did not acknowledge the message before the request deadline; it stays queued",
            rawCode: RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue, isRetriable: true
        ))
    }

    func failAll() {
        let all = pending.withLock { table in
            defer { table = [:] }
            return table
        }
        for waiter in all.values {
            waiter.continuation.resume(throwing: KafkaError(.produce, "producer shut down before delivery"))
        }
    }
}

private func onDelivery(
    _ handle: OpaquePointer?,
    _ message: UnsafePointer<rd_kafka_message_t>?,
    _ opaque: UnsafeMutableRawPointer?
) {
    guard let message, let opaque else { return }

    let tracker = Unmanaged<DeliveryTracker>.fromOpaque(opaque).takeUnretainedValue()
    let id = UInt(bitPattern: message.pointee._private)
    tracker.complete(id: id, error: message.pointee.err)
}

extension Optional where Wrapped == [UInt8] {
    fileprivate func withOptionalBytes<R>(_ body: (UnsafeRawPointer?, Int) -> R) -> R {
        switch self {
        case .none: body(nil, 0)
        case .some(let bytes): bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
        }
    }
}
