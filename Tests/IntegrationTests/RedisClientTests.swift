import Foundation
import RedisKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Redis client's own encoding against a real server: arguments are sent byte for byte, and the replies of a
/// pipeline come back in order, one per command.
@Suite(.timeLimit(.minutes(1)))
struct RedisClientTests {
    @Test func argumentsRoundTripByteForByte() async throws {
        let stack = try await TestStack.shared()
        let key = "rt:test:client:\(UUID().uuidString)"
        let values: [[UInt8]] = [
            [], [0], Array("\r\n$3\r\n*1\r\n".utf8), Array("café ☎️ 📞".utf8), (0...255).map { UInt8($0) },
            Array(repeating: UInt8(ascii: "x"), count: 70_000),
        ]
        for value in values {
            try await stack.redis.commandBytes([Array("SET".utf8), Array(key.utf8), value])
            let stored = try await stack.redis.commandBytes([Array("GET".utf8), Array(key.utf8)])
            #expect(stored == .string(value), "value of \(value.count) bytes")
        }
        try await stack.redis.command("DEL", key)
    }

    @Test func pipelineRepliesInOrder() async throws {
        let stack = try await TestStack.shared()
        let key = "rt:test:client:\(UUID().uuidString)"
        var buffer = RedisCommandBuffer()
        buffer.append(["RPUSH", key, "a"])
        buffer.appendHeader(3)
        buffer.appendArgument("RPUSH")
        buffer.appendArgument(key)
        buffer.appendArgument(Int64.min)
        buffer.append(["LPOP", key, "not a number"])
        buffer.append(["LRANGE", key, "0", "-1"])
        buffer.append(["DEL", key])

        let replies = try await stack.redis.pipeline(buffer)
        #expect(replies.count == 5)
        #expect(try replies[0].get() == .integer(1))
        #expect(try replies[1].get() == .integer(2))
        #expect(throws: RedisError.self) { try replies[2].get() }
        #expect(try replies[3].get() == .array([.string(Array("a".utf8)), .string(Array("\(Int64.min)".utf8))]))
        #expect(try replies[4].get() == .integer(1))
    }

    /// After a restart every pooled connection is closed, and each one notices before its next command and
    /// reconnects, so no command fails.
    @Test func restartFailsNoCommand() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rt-client-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try TestStack.freePort()
        let arguments = ["--bind", "127.0.0.1", "--port", "\(port)", "--dir", directory.path, "--save", "",
                         "--appendonly", "no"]
        var redis = try TestStack.spawn(binary: "/usr/bin/redis-server", arguments: arguments, environment: [:],
                                        log: directory.appendingPathComponent("redis.log"))
        defer { if redis.isRunning { redis.terminate() } }
        try await Task.sleep(for: .milliseconds(300))

        let client = try RedisClient(url: "redis://127.0.0.1:\(port)/0", connectionCount: 4)
        for _ in 0..<8 { try await client.ping() }

        kill(redis.processIdentifier, SIGKILL)
        redis.waitUntilExit()
        redis = try TestStack.spawn(binary: "/usr/bin/redis-server", arguments: arguments, environment: [:],
                                    log: directory.appendingPathComponent("redis-2.log"))
        try await Task.sleep(for: .milliseconds(300))

        var failures = 0
        for _ in 0..<8 {
            do { try await client.ping() } catch { failures += 1 }
        }
        #expect(failures == 0, "\(failures) of 8 commands failed after the restart")
    }

    /// A user in the URL authenticates as that ACL user; a wrong password is rejected, not ignored.
    @Test func urlUserAuthenticatesAsACLUser() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rt-acl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try TestStack.freePort()
        let arguments = ["--bind", "127.0.0.1", "--port", "\(port)", "--dir", directory.path, "--save", "",
                         "--appendonly", "no", "--user", "default", "off", "--user", "app", "on", ">s3cret", "~*", "&*",
                         "+@all"]
        let redis = try TestStack.spawn(binary: "/usr/bin/redis-server", arguments: arguments, environment: [:],
                                        log: directory.appendingPathComponent("redis.log"))
        defer { if redis.isRunning { redis.terminate() } }
        try await Task.sleep(for: .milliseconds(300))

        let client = try RedisClient(url: "redis://app:s3cret@127.0.0.1:\(port)/0", connectionCount: 1)
        try await client.ping()
        let user = try await client.command("ACL", "WHOAMI")
        #expect(user.string == "app")

        let wrong = try RedisClient(url: "redis://app:wrong@127.0.0.1:\(port)/0", connectionCount: 1)
        await #expect(throws: RedisError.self) { try await wrong.ping() }
    }
}
