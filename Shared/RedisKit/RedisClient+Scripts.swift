/// One command of a pipeline that may run Lua scripts.
public enum PipelinedCommand: Sendable {
    case command([String])
    /// A script run by EVALSHA.
    case script(RedisScript, keys: [String], arguments: [String])
}

extension RedisClient {
    /// Sends `commands` in one round trip on one connection, scripts by EVALSHA, and returns each reply or error
    /// reply in order.
    ///
    /// Scripts whose SHA-1 is not known yet are loaded first. When Redis lost its script cache meanwhile (a
    /// restart or `SCRIPT FLUSH`), the commands that failed with NOSCRIPT did not run, so they are sent again, in
    /// their original order, after the scripts are loaded.
    /// - Throws: `RedisError` only when the connection failed; error replies come back in the array.
    public func pipeline(_ commands: [PipelinedCommand]) async throws -> [Result<RedisValue, RedisError>] {
        guard !commands.isEmpty else { return [] }

        for script in Self.scripts(in: commands) where script.sha1 == nil {
            try await load(script)
        }
        var replies = try await pipeline(Self.encode(commands))

        let missing = replies.indices.filter { index in
            guard case .failure(let error) = replies[index] else { return false }
            return error.code == .server && error.reason.hasPrefix("NOSCRIPT")
        }
        guard !missing.isEmpty else { return replies }

        for script in Self.scripts(in: missing.map { commands[$0] }) {
            try await load(script)
        }
        let retried = try await pipeline(Self.encode(missing.map { commands[$0] }))
        for (position, index) in missing.enumerated() {
            replies[index] = retried[position]
        }
        return replies
    }

    private func load(_ script: RedisScript) async throws {
        guard let sha1 = try await command("SCRIPT", "LOAD", script.source).string else {
            throw RedisError(.protocolViolation, "SCRIPT LOAD returned no SHA-1", isRetriable: false)
        }
        script.remember(sha1: sha1)
    }

    private static func scripts(in commands: [PipelinedCommand]) -> [RedisScript] {
        var seen: Set<ObjectIdentifier> = []
        var scripts: [RedisScript] = []
        for case .script(let script, _, _) in commands where seen.insert(ObjectIdentifier(script)).inserted {
            scripts.append(script)
        }
        return scripts
    }

    /// Encodes `commands`, scripts as EVALSHA; `pipeline` loads every script before, so each `sha1` is set.
    private static func encode(_ commands: [PipelinedCommand]) -> RedisCommandBuffer {
        var buffer = RedisCommandBuffer(capacity: commands.count * 256)
        for command in commands {
            switch command {
            case .command(let arguments):
                buffer.append(arguments)
            case .script(let script, let keys, let arguments):
                buffer.appendHeader(3 + keys.count + arguments.count)
                buffer.appendArgument("EVALSHA")
                buffer.appendArgument(script.sha1 ?? "")
                buffer.appendArgument(Int64(keys.count))
                for key in keys { buffer.appendArgument(key) }
                for argument in arguments { buffer.appendArgument(argument) }
            }
        }
        return buffer
    }
}
