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
            logger.error("Redis unavailable", metadata: ["error": "\(error)"])
            throw HTTPError.unavailable("Redis is unreachable; try again", retryAfterSeconds: 1)
        }
    }
}
