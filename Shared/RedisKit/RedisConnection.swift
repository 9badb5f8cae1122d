import CHiredis
import Dispatch
import Foundation
import ServiceKit
import Synchronization

/// One hiredis connection, confined to a serial queue because `redisContext` is not thread-safe.
///
/// Commands arrive encoded (`RedisCommandBuffer`), so arguments are binary-safe. After an I/O error the context
/// is freed and the next command opens a new one, since hiredis cannot reuse a context that failed.
///
/// Pipelines that callers send while the connection is busy wait in a queue, and the next turn writes all of them
/// at once and reads their replies in order. Under load, one write and one read then carry many requests, which
/// saves system calls here and in Redis; alone, a pipeline is sent at once.
final class RedisConnection: @unchecked Sendable {
    // @unchecked: `context` is read and written only on `queue`; `waiting` is guarded by its mutex.
    private var context: UnsafeMutablePointer<redisContext>?
    /// The generation of `failures` when `context` connected.
    private var contextGeneration = 0
    private let failures: RedisFailureGeneration
    private let queue: DispatchQueue
    private let address: RedisAddress
    private let timeout: Duration
    private let waiting = Mutex<(pipelines: [Waiting], draining: Bool)>(([], false))

    private struct Waiting {
        var commands: RedisCommandBuffer
        var continuation: CheckedContinuation<[Result<RedisValue, RedisError>], any Error>
    }

    init(address: RedisAddress, timeout: Duration, label: String, failures: RedisFailureGeneration) {
        self.address = address
        self.timeout = timeout
        self.failures = failures
        self.queue = DispatchQueue(label: label)
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Sends `commands` as one pipeline and returns their replies in order; an error reply is returned as
    /// `Result.failure` for its command and does not stop the others.
    ///
    /// - Throws: `RedisError` with code `.connection` or `.io`; the whole pipeline then counts as failed and the
    ///   caller cannot know which commands ran.
    func pipeline(_ commands: RedisCommandBuffer) async throws -> [Result<RedisValue, RedisError>] {
        try await withCheckedThrowingContinuation { continuation in
            let startsTurn = waiting.withLock { state in
                state.pipelines.append(Waiting(commands: commands, continuation: continuation))
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if startsTurn { queue.async { [self] in drain() } }
        }
    }

    /// Sends everything that waits, as one pipeline, until nothing does.
    private func drain() {
        while true {
            let turn: [Waiting] = waiting.withLock { state in
                if state.pipelines.isEmpty { state.draining = false }
                defer { state.pipelines.removeAll() }
                return state.pipelines
            }
            guard !turn.isEmpty else { return }
            send(turn)
        }
    }

    private func send(_ turn: [Waiting]) {
        var answered = 0
        do {
            let context = try connectedContext()
            for pipeline in turn { try append(pipeline.commands, to: context) }
            while answered < turn.count {
                let replies = try readReplies(turn[answered].commands.count, from: context)
                turn[answered].continuation.resume(returning: replies)
                answered += 1
            }
        } catch {
            for pipeline in turn[answered...] { pipeline.continuation.resume(throwing: error) }
        }
    }

    private func readReplies(_ count: Int, from context: UnsafeMutablePointer<redisContext>) throws
        -> [Result<RedisValue, RedisError>]
    {
        var replies: [Result<RedisValue, RedisError>] = []
        replies.reserveCapacity(count)
        for _ in 0..<count {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw dropContext(reason: "reading a reply failed")
            }
            defer { freeReplyObject(raw) }
            replies.append(convert(raw.assumingMemoryBound(to: redisReply.self)))
        }
        return replies
    }

    private func pipelineBlocking(_ commands: RedisCommandBuffer) throws -> [Result<RedisValue, RedisError>] {
        let context = try connectedContext()
        try append(commands, to: context)
        return try readReplies(commands.count, from: context)
    }

    private func append(_ commands: RedisCommandBuffer, to context: UnsafeMutablePointer<redisContext>) throws {
        let status = commands.bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        guard status == REDIS_OK else {
            throw dropContext(reason: "writing a command failed")
        }
    }

    private func convert(_ reply: UnsafeMutablePointer<redisReply>) -> Result<RedisValue, RedisError> {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_ERROR:
            let text = value.str.map { String(cString: $0) } ?? "unknown error"
            return .failure(RedisError(.server, text, isRetriable: text.hasPrefix("LOADING") || text.hasPrefix("BUSY")))
        default:
            return .success(copy(reply))
        }
    }

    private func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            guard let str = value.str else { return .string([]) }
            return .string(Array(UnsafeRawBufferPointer(start: str, count: value.len).bindMemory(to: UInt8.self)))
        case REDIS_REPLY_STATUS:
            return .status(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var items: [RedisValue] = []
            items.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                if let element = value.element[index] { items.append(copy(element)) }
            }
            return .array(items)
        case REDIS_REPLY_ERROR:
            return .status(value.str.map { String(cString: $0) } ?? "")
        default:
            // Reply types added by hiredis 1.x (double, bool, map) are not produced by RESP2 servers.
            return .null
        }
    }

    private func connectedContext() throws -> UnsafeMutablePointer<redisContext> {
        if let context {
            // Another connection of this client failed since this one connected, or Redis closed this one (it
            // restarted, or dropped an idle client). Reconnecting now keeps a request from failing on it.
            guard contextGeneration < failures.current || Self.peerClosed(context) else { return context }
            redisFree(context)
            self.context = nil
        }
        let generation = failures.current

        var connectTimeout = timeval(tv_sec: 2, tv_usec: 0)
        guard let fresh = redisConnectWithTimeout(address.host, address.port, connectTimeout) else {
            throw RedisError(.connection, "cannot allocate a hiredis context", isRetriable: true)
        }
        if fresh.pointee.err != 0 {
            let reason = RedisConnection.errorText(fresh)
            redisFree(fresh)
            throw RedisError(
                .connection,
                "connecting to Redis at \(address.host):\(address.port) failed: \(reason)",
                isRetriable: true
            )
        }
        let micros = timeout.milliseconds * 1000
        connectTimeout = timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
        redisSetTimeout(fresh, connectTimeout)
        context = fresh
        contextGeneration = generation
        try handshake(fresh)
        return fresh
    }

    /// Checks whether the socket is readable between pipelines. Every reply has been read by then, so readable
    /// means the server closed the connection or the socket failed. It costs one `poll` call with no wait.
    private static func peerClosed(_ context: UnsafeMutablePointer<redisContext>) -> Bool {
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    private func handshake(_ context: UnsafeMutablePointer<redisContext>) throws {
        var setup = RedisCommandBuffer()
        if let password = address.password { setup.append(["AUTH"] + (address.user.map { [$0] } ?? []) + [password]) }
        if address.database != 0 { setup.append(["SELECT", String(address.database)]) }
        guard setup.count > 0 else { return }

        for result in try pipelineBlocking(setup) {
            if case .failure(let error) = result {
                redisFree(context)
                self.context = nil
                throw RedisError(.connection, "Redis rejected the connection set-up: \(error.reason)", isRetriable: false)
            }
        }
    }

    private func dropContext(reason: String) -> RedisError {
        let detail = context.map { RedisConnection.errorText($0) } ?? ""
        if let context {
            redisFree(context)
            failures.record(sinceGeneration: contextGeneration)
        }
        context = nil
        return RedisError(.io, "\(reason): \(detail)", isRetriable: true)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

/// A counter of I/O failures shared by a client's connections. After a Redis restart every pooled connection is
/// closed at once, so when one fails, the others reconnect before their next command instead of failing it.
final class RedisFailureGeneration: Sendable {
    private let generation = Atomic<Int>(0)

    var current: Int { generation.load(ordering: .acquiring) }

    /// Starts a new generation, once for all connections that connected in `generation`.
    func record(sinceGeneration generation: Int) {
        _ = self.generation.compareExchange(expected: generation, desired: generation + 1, ordering: .acquiringAndReleasing)
    }
}
