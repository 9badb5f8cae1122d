import Foundation
import ServiceKit
import Synchronization

/// A fixed set of Redis connections used round-robin, with pipelining and Lua scripts by SHA.
///
/// Each connection is confined to its own serial queue, so commands on different connections run in parallel
/// and commands sent through one `pipeline` call arrive in order on one connection.
public final class RedisClient: Sendable {
    private let connections: [RedisConnection]
    private let next = Atomic<Int>(0)
    public let address: RedisAddress

    /// Prepares `connectionCount` connections to the server at `url`; each connects on first use.
    ///
    /// - Throws: `ConfigurationError` when `url` is not a `redis://host:port/db` URL.
    public init(url: String, connectionCount: Int = 8, timeout: Duration = .seconds(2)) throws {
        guard let address = RedisAddress(url: url) else {
            throw ConfigurationError("invalid Redis URL \(url); expected redis://host:port/db")
        }
        self.address = address
        let failures = RedisFailureGeneration()
        self.connections = (0..<max(1, connectionCount)).map {
            RedisConnection(address: address, timeout: timeout, label: "redis-\($0)", failures: failures)
        }
    }

    private func pick() -> RedisConnection {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return connections[abs(index % connections.count)]
    }

    /// Runs one command.
    ///
    /// - Throws: `RedisError` with code `.server` for an error reply, `.connection` or `.io` when Redis is
    ///   unreachable.
    @discardableResult
    public func command(_ arguments: [String]) async throws -> RedisValue {
        let replies = try await pick().pipeline(RedisCommandBuffer([arguments]))
        return try replies[0].get()
    }

    @discardableResult
    public func command(_ arguments: String...) async throws -> RedisValue {
        try await command(arguments)
    }

    @discardableResult
    public func commandBytes(_ arguments: [[UInt8]]) async throws -> RedisValue {
        var buffer = RedisCommandBuffer()
        buffer.append(arguments)
        let replies = try await pick().pipeline(buffer)
        return try replies[0].get()
    }

    /// Sends `commands` in one round trip on one connection and returns each reply or error reply.
    ///
    /// - Throws: `RedisError` only when the connection failed; error replies come back in the array.
    public func pipeline(_ commands: [[String]]) async throws -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }
        return try await pick().pipeline(RedisCommandBuffer(commands))
    }

    /// Sends commands already encoded in one round trip on one connection and returns each reply or error reply.
    ///
    /// - Throws: `RedisError` only when the connection failed; error replies come back in the array.
    public func pipeline(_ commands: RedisCommandBuffer) async throws -> [Result<RedisValue, RedisError>] {
        guard commands.count > 0 else { return [] }
        return try await pick().pipeline(commands)
    }

    /// Like `pipeline`, but throws the first error reply.
    @discardableResult
    public func pipelineOrThrow(_ commands: [[String]]) async throws -> [RedisValue] {
        try await pipeline(commands).map { try $0.get() }
    }

    /// Runs `script` with EVALSHA, loading it first when Redis replies NOSCRIPT (after a restart or a flush).
    ///
    /// - Throws: `RedisError`, including `.server` for an error the script raised.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        let tail = [String(keys.count)] + keys + arguments
        if let sha1 = script.sha1 {
            do {
                return try await command(["EVALSHA", sha1] + tail)
            } catch let error as RedisError where error.code == .server && error.reason.hasPrefix("NOSCRIPT") {
                // Redis lost its script cache (restart or SCRIPT FLUSH); load it again below.
            }
        }
        guard let sha1 = try await command("SCRIPT", "LOAD", script.source).string else {
            throw RedisError(.protocolViolation, "SCRIPT LOAD returned no SHA-1", isRetriable: false)
        }
        script.remember(sha1: sha1)
        return try await command(["EVALSHA", sha1] + tail)
    }

    /// Checks that Redis answers PING within the client's timeout.
    public func ping() async throws {
        let reply = try await command("PING")
        guard reply.string == "PONG" else {
            throw RedisError(.protocolViolation, "PING returned \(reply)", isRetriable: false)
        }
    }
}

/// A Lua script; its SHA-1 is learned from `SCRIPT LOAD` on first use and kept for EVALSHA.
public final class RedisScript: Sendable {
    public let source: String
    private let cachedSHA1 = Mutex<String?>(nil)

    public init(source: String) {
        self.source = source
    }

    var sha1: String? { cachedSHA1.withLock { $0 } }

    func remember(sha1: String) { cachedSHA1.withLock { $0 = sha1 } }
}
