import Foundation
import HTTPKit
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Synchronization

/// Everything a service's handlers and consumers share, built once at start-up.
public struct ServiceContext: Sendable {
    public let name: String
    public let configuration: ServiceConfiguration
    public let logger: Logger
    public let tenants: TenantRegistry
    public let redis: RedisClient
    public let keys: RedisKeys
    public let publisher: EventPublisher
    public let shutdown: ShutdownToken

    /// librdkafka properties of this service's consumers: the configured pass-through properties.
    public var kafkaProperties: [String: String] { configuration.kafkaProperties }

    /// The consumer group of this service's `purpose`, prefixed like the topics so test runs stay apart.
    public func groupID(_ purpose: String) -> String { configuration.topicPrefix + "ringtrail." + purpose }

    public func topicName(_ topic: Topic) -> String { topic.name(prefix: configuration.topicPrefix) }

    /// Creates a consumer of `topics` in the group named by `purpose`.
    ///
    /// - Throws: `KafkaError` when the consumer cannot be created.
    public func makeConsumer(purpose: String, topics: [Topic]) throws -> KafkaConsumer {
        try KafkaConsumer(
            brokers: configuration.kafkaBrokers,
            groupID: groupID(purpose),
            topics: topics.map(topicName),
            properties: kafkaProperties,
            logger: logger
        )
    }
}

/// A long-running part of a service, such as a consumer loop; it returns once `shutdown` was requested.
public typealias ServiceWorker = @Sendable () async -> Void

/// The start-up and shutdown sequence shared by the four services.
public enum ServiceRunner {
    /// Loads configuration, connects to Kafka and Redis, serves HTTP and runs the workers until SIGTERM.
    ///
    /// `setup` registers the service's routes and returns its workers. On SIGTERM the HTTP server stops taking
    /// requests and finishes those in flight, the workers finish their batch and commit, and the producer flushes.
    /// Exits with status 1 when start-up fails, with a message that says what to fix.
    public static func run(
        name: String,
        defaultPort: UInt16,
        defaultRedisConnections: Int = 8,
        setup: @Sendable (ServiceContext, Router) async throws -> [ServiceWorker]
    ) async -> Never {
        var bootstrapLogger = Logger(label: name)
        bootstrapLogger[metadataKey: "service"] = name
        let shutdown = ShutdownToken()
        let signalSources = installTerminationHandlers(token: shutdown, logger: bootstrapLogger)
        defer { _ = signalSources }

        do {
            try await runChecked(name: name, defaultPort: defaultPort, defaultRedisConnections: defaultRedisConnections,
                                 shutdown: shutdown, setup: setup)
            bootstrapLogger.info("Stopped")
            exit(0)
        } catch {
            bootstrapLogger.critical("Service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    private static func runChecked(
        name: String,
        defaultPort: UInt16,
        defaultRedisConnections: Int,
        shutdown: ShutdownToken,
        setup: @Sendable (ServiceContext, Router) async throws -> [ServiceWorker]
    ) async throws {
        let configuration = try ServiceConfiguration(defaultPort: defaultPort,
                                                     defaultRedisConnections: defaultRedisConnections)
        Logger.defaultLevel.store(configuration.logLevel.rawValue, ordering: .relaxed)
        var logger = Logger(label: name)
        logger[metadataKey: "service"] = name
        logger.info("Starting", metadata: configuration.logMetadata.merging(["kafka.library": kafkaLibraryVersion]) { a, _ in a })

        let tenants: TenantRegistry
        do {
            tenants = try TenantRegistry(path: configuration.tenantsPath, logger: logger)
        } catch {
            throw ConfigurationError(error.reason)
        }

        let admin = try KafkaAdmin(brokers: configuration.kafkaBrokers, properties: configuration.kafkaProperties)
        try await waitFor("Kafka at \(configuration.kafkaBrokers)", logger: logger, shutdown: shutdown) {
            _ = try await admin.checkConnection(timeout: .seconds(2))
        }
        let redis = try RedisClient(url: configuration.redisURL, connectionCount: configuration.redisConnections)
        try await waitFor("Redis at \(redis.address.host):\(redis.address.port)", logger: logger, shutdown: shutdown) {
            try await redis.ping()
        }

        let producer = try KafkaProducer(
            brokers: configuration.kafkaBrokers,
            properties: configuration.kafkaProperties,
            logger: logger
        )
        let context = ServiceContext(
            name: name,
            configuration: configuration,
            logger: logger,
            tenants: tenants,
            redis: redis,
            keys: RedisKeys(prefix: configuration.keyPrefix),
            publisher: EventPublisher(producer: producer, topicPrefix: configuration.topicPrefix, service: name,
                                      logger: logger),
            shutdown: shutdown
        )

        let router = Router()
        addStandardEndpoints(to: router) {
            var checks: [String: String?] = [:]
            do { try await redis.ping(); checks["redis"] = .some(nil) } catch { checks["redis"] = "\(error)" }
            do {
                _ = try await admin.checkConnection(timeout: .seconds(1))
                checks["kafka"] = .some(nil)
            } catch {
                checks["kafka"] = "\(error)"
            }
            if !producer.isDelivering {
                checks["kafka"] = "the broker does not acknowledge messages in time"
            }
            return checks
        }
        let workers = try await setup(context, router)

        let server = HTTPServer(
            host: configuration.httpHost,
            port: configuration.httpPort,
            router: router,
            logger: logger,
            connectionTimeout: configuration.httpIdleTimeout,
            requestTimeout: configuration.httpRequestTimeout,
            maxConnections: configuration.httpMaxConnections,
            maxConnectionsPerClient: configuration.httpMaxConnectionsPerIP
        )
        try server.start()
        logger.info("Listening", metadata: ["http.address": "\(configuration.httpHost):\(server.boundPort)"])

        let reloadSource = installReloadHandler { tenants.reload() }
        defer { _ = reloadSource }

        await withTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { await worker() } }
            group.addTask {
                // Picks up edits of the tenants file without a signal.
                while !shutdown.isRequested {
                    try? await Task.sleep(for: .seconds(2))
                    tenants.reloadIfChanged()
                }
            }
            await shutdown.wait()
            logger.info("Stopping: HTTP first, then consumers, then the producer")
            startShutdownDeadline(logger: logger)
            server.shutdown()
            await group.waitForAll()
        }
        if !producer.shutdown(timeout: .seconds(10)) {
            throw ConfigurationError("the producer could not deliver every queued message before the deadline")
        }
    }

    /// The maximum time a service takes to stop after SIGTERM; when it passes, the service exits with status 1.
    ///
    /// Stopping normally takes well under a second. It takes longer when a dependency is down: a consumer's batch
    /// then waits for deliveries for up to `message.timeout.ms` (30 seconds), and the producer's flush for up to
    /// 10 seconds. Exiting at the deadline is safe because offsets are stored only after a batch finished, so an
    /// unfinished batch is delivered again to the next consumer. It is shorter than the 20 seconds that
    /// scripts/stack.sh waits before SIGKILL.
    public static let shutdownDeadline: Duration = .seconds(15)

    private static func startShutdownDeadline(logger: Logger) {
        let seconds = Double(shutdownDeadline.milliseconds) / 1000
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            logger.critical("Shutdown deadline missed, exiting without finishing",
                            metadata: ["deadline.seconds": "\(Int(seconds))"])
            exit(1)
        }
    }

    /// Retries `check` for up to 30 seconds, logging each failure, then throws a message that says what to start.
    private static func waitFor(
        _ what: String,
        logger: Logger,
        shutdown: ShutdownToken,
        check: () async throws -> Void
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                try await check()
                return
            } catch {
                guard ContinuousClock.now < deadline, !shutdown.isRequested else {
                    throw ConfigurationError(
                        "\(what) is unreachable (\(error)); start it (`make up` starts Redis and the broker on "
                            + "loopback) or point RINGTRAIL_KAFKA_BROKERS / RINGTRAIL_REDIS_URL at it"
                    )
                }
                logger.warning("Waiting for a dependency", metadata: ["dependency": what, "error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
