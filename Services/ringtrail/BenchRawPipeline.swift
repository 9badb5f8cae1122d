import CHiredis
import CRdKafka
import Foundation
import RedisKit
import ServiceKit

/// A baseline ingester of `web.activity` built from the raw tools: a librdkafka consumer that stores every message in
/// Redis with plain pipelined hiredis commands, batch after batch, without parsing the messages.
///
/// Per message it writes what a new session with one event needs at the least: a hash holding the event, its
/// expiry, and an entry in a sorted-set index. It reads the next batch from librdkafka while Redis writes the one
/// before, and, as an at-least-once consumer would before storing offsets, reads every reply of a batch before it
/// sends the next. Its rate is the ceiling for the ingester on this machine: what is left between the two is the
/// ingester's own work (parsing, validating, sessions, de-duplication).
enum RawPipeline {
    /// Messages per batch, as the ingester takes them.
    static let batchSize = 1000

    /// Reads `count` messages of `topic` from the start and writes each to Redis under `keyPrefix`. Returns the
    /// time from the assignment to the last batch's replies.
    static func run(topic: String, count: Int, brokers: String, redisURL: String,
                    keyPrefix: String) throws -> (messages: Int, seconds: Double)
    {
        guard let address = RedisAddress(url: redisURL) else { throw BenchError("invalid Redis URL \(redisURL)") }
        let redis = try connect(address)
        defer { redisFree(redis) }

        let handle = try RawTopicReader.makeConsumer(brokers: brokers, topic: topic,
                                                     group: "ringtrail.bench-ingest.raw-pipeline")
        defer { rd_kafka_destroy(handle) }
        let started = wallClockMicroseconds()

        let index = Array((keyPrefix + "raw-pipeline:index").utf8)
        let expiry = Array("600000".utf8)
        var written = 0
        var last = started
        var quietSince = started
        // Replies still to read for the batch sent last.
        var pending = 0
        while written < count {
            var commands = RedisCommandBuffer(capacity: batchSize * 1024)
            var batchCount = 0
            while batchCount < batchSize, let message = rd_kafka_consumer_poll(handle, batchCount == 0 ? 100 : 0) {
                defer { rd_kafka_message_destroy(message) }
                guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
                let key = Array("\(keyPrefix)raw-pipeline:\(message.pointee.partition):\(message.pointee.offset)".utf8)
                let value = UnsafeRawBufferPointer(start: message.pointee.payload, count: message.pointee.len)
                var type = rd_kafka_timestamp_type_t(0)
                let timestamp = rd_kafka_message_timestamp(message, &type)
                commands.appendHeader(4)
                commands.appendArgument(Array("HSET".utf8))
                commands.appendArgument(key)
                commands.appendArgument(Array("event".utf8))
                commands.appendArgument(value)
                commands.append([Array("PEXPIRE".utf8), key, expiry])
                commands.appendHeader(4)
                commands.appendArgument(Array("ZADD".utf8))
                commands.appendArgument(index)
                commands.appendArgument(timestamp)
                commands.appendArgument(key)
                batchCount += 1
            }
            guard batchCount > 0 else {
                if wallClockMicroseconds() - quietSince > 30_000_000 { break }
                continue
            }
            try readReplies(pending, from: redis)
            try send(commands, to: redis)
            pending = commands.count
            written += batchCount
            last = wallClockMicroseconds()
            quietSince = last
        }
        try readReplies(pending, from: redis)
        last = wallClockMicroseconds()
        rd_kafka_consumer_close(handle)
        guard written >= count else {
            throw BenchError("the raw pipeline wrote \(written) of \(count) messages and then read none for 30 s")
        }
        return (written, Double(last - started) / 1_000_000)
    }

    private static func connect(_ address: RedisAddress) throws -> UnsafeMutablePointer<redisContext> {
        guard let context = redisConnect(address.host, address.port) else {
            throw BenchError("cannot allocate a hiredis context")
        }
        guard context.pointee.err == 0 else {
            redisFree(context)
            throw BenchError("connecting to Redis at \(address.host):\(address.port) failed")
        }
        var setup = RedisCommandBuffer()
        if let password = address.password { setup.append(["AUTH"] + (address.user.map { [$0] } ?? []) + [password]) }
        if address.database != 0 { setup.append(["SELECT", String(address.database)]) }
        if setup.count > 0 {
            do {
                try write(setup, to: context)
            } catch {
                redisFree(context)
                throw error
            }
        }
        return context
    }

    /// Sends every command of `commands` at once and reads all their replies. Throws if any reply is an error.
    private static func write(_ commands: RedisCommandBuffer, to context: UnsafeMutablePointer<redisContext>) throws {
        try send(commands, to: context)
        try readReplies(commands.count, from: context)
    }

    /// Writes every command of `commands` to the connection without waiting for replies.
    private static func send(_ commands: RedisCommandBuffer, to context: UnsafeMutablePointer<redisContext>) throws {
        let appended = commands.bytes.withUnsafeBufferPointer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard appended == REDIS_OK else { throw BenchError("hiredis could not queue the raw pipeline's commands") }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else {
                throw BenchError("the raw pipeline lost its Redis connection")
            }
        }
    }

    /// Reads `count` replies, then throws if any of them was an error reply.
    private static func readReplies(_ count: Int, from context: UnsafeMutablePointer<redisContext>) throws {
        var firstError: String?
        for _ in 0..<count {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(context, &reply) == REDIS_OK, let reply else {
                throw BenchError("the raw pipeline lost its Redis connection")
            }
            let value = reply.assumingMemoryBound(to: redisReply.self)
            if value.pointee.type == REDIS_REPLY_ERROR, firstError == nil {
                firstError = value.pointee.str.map { String(cString: $0) } ?? "unknown error"
            }
            freeReplyObject(reply)
        }
        if let firstError { throw BenchError("Redis rejected a raw pipeline command: \(firstError)") }
    }
}
