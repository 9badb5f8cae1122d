import HTTPKit
import RedisKit
import ServiceKit

extension ServiceContext {
    /// Runs a Redis operation for an HTTP handler, turning an unreachable or loading Redis into 503 with a retry
    /// hint; error replies of scripts and commands are rethrown as they are.
    @discardableResult
    public func withRedis<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RedisError where error.code != .server || error.isRetriable {
            throw redisUnavailable(error)
        }
    }

    /// Logs that Redis failed a request and returns the 503 for it.
    ///
    /// Every request fails while Redis is down, so one line every 10 seconds counts the failures since the last
    /// line.
    public func redisUnavailable(_ error: RedisError) -> HTTPError {
        if let suppressed = redisFailureLog.due() {
            logger.error("Redis unavailable", metadata: ["error": "\(error)", "failures.since.last.log": "\(suppressed)"])
        }
        return HTTPError.unavailable("Redis is unreachable; try again", retryAfterSeconds: 1)
    }
}

/// Rate limit of the "Redis unavailable" line, shared by the handlers of a process.
private let redisFailureLog = LogRateLimit(interval: .seconds(10))
