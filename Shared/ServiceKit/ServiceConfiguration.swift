import Foundation

/// The settings every Ringtrail service reads from its environment, with flags of the form `--name value`
/// overriding the variables.
public struct ServiceConfiguration: Sendable {
    /// Kafka bootstrap servers. Default: `127.0.0.1:9092` (`RINGTRAIL_KAFKA_BROKERS`).
    public var kafkaBrokers = "127.0.0.1:9092"
    /// Redis URL, `redis://host:port/db`. Default: `redis://127.0.0.1:6379/0` (`RINGTRAIL_REDIS_URL`).
    public var redisURL = "redis://127.0.0.1:6379/0"
    /// Path of the tenants file. Default: `config/tenants.json` (`RINGTRAIL_TENANTS`).
    public var tenantsPath = "config/tenants.json"
    /// Listen address. Default: 127.0.0.1 and the service's own port (`RINGTRAIL_HTTP_ADDR`).
    public var httpHost = "127.0.0.1"
    public var httpPort: UInt16
    /// Prefix of every topic name. Default: empty (`RINGTRAIL_TOPIC_PREFIX`).
    public var topicPrefix = ""
    /// Prefix of every Redis key. Default: `rt:` (`RINGTRAIL_KEY_PREFIX`).
    public var keyPrefix = "rt:"
    /// Default: `.info` (`RINGTRAIL_LOG_LEVEL`).
    public var logLevel: Logger.Level = .info
    /// Scheme and host that carriers call, for webhook signatures behind a proxy (`RINGTRAIL_PUBLIC_BASE_URL`).
    public var publicBaseURL: String?
    /// librdkafka properties passed unchanged to every client, from `RINGTRAIL_KAFKA_CONFIG` as
    /// `key=value` pairs separated by commas, for example `session.timeout.ms=6000,heartbeat.interval.ms=500`.
    public var kafkaProperties: [String: String] = [:]
    /// Redis connections per service. Default: 8, or what the service chose (`RINGTRAIL_REDIS_CONNECTIONS`).
    public var redisConnections = 8
    /// An HTTP connection idle this long is closed. Default: 30 s (`RINGTRAIL_HTTP_IDLE_TIMEOUT`, seconds).
    public var httpIdleTimeout: Duration = .seconds(30)
    /// A request whose headers or body are still arriving this long after its request line is cut off.
    /// Default: 30 s (`RINGTRAIL_HTTP_REQUEST_TIMEOUT`, seconds).
    public var httpRequestTimeout: Duration = .seconds(30)
    /// Open HTTP connections at most. Default: 4096 (`RINGTRAIL_HTTP_MAX_CONNECTIONS`).
    public var httpMaxConnections = 4096
    /// Open HTTP connections from one IP address at most, 0 for no limit. Default: 256
    /// (`RINGTRAIL_HTTP_MAX_CONNECTIONS_PER_IP`).
    public var httpMaxConnectionsPerIP = 256

    /// The defaults alone, without reading the environment.
    public init(port: UInt16) {
        self.httpPort = port
    }

    /// Reads the `RINGTRAIL_*` variables, then the command-line flags.
    ///
    /// - Throws: `ConfigurationError` naming the variable or flag whose value is invalid.
    public init(
        defaultPort: UInt16,
        defaultRedisConnections: Int = 8,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        arguments: [String] = Array(CommandLine.arguments.dropFirst())
    ) throws {
        self.init(port: defaultPort)
        redisConnections = defaultRedisConnections
        var values: [String: String] = [:]
        for (key, value) in environment where key.hasPrefix("RINGTRAIL_") { values[key] = value }
        var index = 0
        while index < arguments.count {
            let flag = arguments[index]
            guard flag.hasPrefix("--"), index + 1 < arguments.count else {
                throw ConfigurationError("unknown argument \(flag); flags take the form --kafka-brokers VALUE")
            }
            let name = "RINGTRAIL_" + flag.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
            values[name] = arguments[index + 1]
            index += 2
        }
        try apply(values)
    }

    private mutating func apply(_ values: [String: String]) throws {
        if let value = values["RINGTRAIL_KAFKA_BROKERS"], !value.isEmpty { kafkaBrokers = value }
        if let value = values["RINGTRAIL_REDIS_URL"], !value.isEmpty {
            guard RedisAddress(url: value) != nil else {
                throw ConfigurationError(
                    "RINGTRAIL_REDIS_URL is invalid: \(value); expected redis://host:port/db"
                )
            }
            redisURL = value
        }
        if let value = values["RINGTRAIL_TENANTS"], !value.isEmpty { tenantsPath = value }
        if let value = values["RINGTRAIL_HTTP_ADDR"], !value.isEmpty {
            guard let colon = value.lastIndex(of: ":"), let port = UInt16(value[value.index(after: colon)...])
            else {
                throw ConfigurationError("RINGTRAIL_HTTP_ADDR is invalid: \(value); expected host:port")
            }
            let host = String(value[..<colon])
            httpHost = host.isEmpty ? "0.0.0.0" : host
            httpPort = port
        }
        if let value = values["RINGTRAIL_TOPIC_PREFIX"] { topicPrefix = value }
        if let value = values["RINGTRAIL_KEY_PREFIX"], !value.isEmpty { keyPrefix = value }
        if let value = values["RINGTRAIL_LOG_LEVEL"], !value.isEmpty {
            guard let level = Logger.Level(name: value) else {
                throw ConfigurationError(
                    "RINGTRAIL_LOG_LEVEL is invalid: \(value); use debug, info, warning or error"
                )
            }
            logLevel = level
        }
        if let value = values["RINGTRAIL_PUBLIC_BASE_URL"], !value.isEmpty {
            guard value.hasPrefix("http://") || value.hasPrefix("https://") else {
                throw ConfigurationError(
                    "RINGTRAIL_PUBLIC_BASE_URL is invalid: \(value); expected https://host[:port]"
                )
            }
            publicBaseURL = value.hasSuffix("/") ? String(value.dropLast()) : value
        }
        if let value = values["RINGTRAIL_KAFKA_CONFIG"], !value.isEmpty {
            for pair in value.split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ConfigurationError("RINGTRAIL_KAFKA_CONFIG has an invalid entry: \(pair); use key=value")
                }
                kafkaProperties[parts[0]] = parts[1]
            }
        }
        if let value = values["RINGTRAIL_REDIS_CONNECTIONS"], !value.isEmpty {
            guard let count = Int(value), (1...256).contains(count) else {
                throw ConfigurationError("RINGTRAIL_REDIS_CONNECTIONS is invalid: \(value); use 1 to 256")
            }
            redisConnections = count
        }
        if let value = values["RINGTRAIL_HTTP_IDLE_TIMEOUT"], !value.isEmpty {
            httpIdleTimeout = try Self.seconds(value, variable: "RINGTRAIL_HTTP_IDLE_TIMEOUT")
        }
        if let value = values["RINGTRAIL_HTTP_REQUEST_TIMEOUT"], !value.isEmpty {
            httpRequestTimeout = try Self.seconds(value, variable: "RINGTRAIL_HTTP_REQUEST_TIMEOUT")
        }
        if let value = values["RINGTRAIL_HTTP_MAX_CONNECTIONS"], !value.isEmpty {
            guard let count = Int(value), (1...1_000_000).contains(count) else {
                throw ConfigurationError("RINGTRAIL_HTTP_MAX_CONNECTIONS is invalid: \(value); use 1 to 1000000")
            }
            httpMaxConnections = count
        }
        if let value = values["RINGTRAIL_HTTP_MAX_CONNECTIONS_PER_IP"], !value.isEmpty {
            guard let count = Int(value), (0...1_000_000).contains(count) else {
                throw ConfigurationError(
                    "RINGTRAIL_HTTP_MAX_CONNECTIONS_PER_IP is invalid: \(value); use 0 (no limit) to 1000000"
                )
            }
            httpMaxConnectionsPerIP = count
        }
    }

    /// Parses a whole number of seconds from 1 to 3600.
    private static func seconds(_ value: String, variable: String) throws -> Duration {
        guard let seconds = Int(value), (1...3600).contains(seconds) else {
            throw ConfigurationError("\(variable) is invalid: \(value); use whole seconds from 1 to 3600")
        }
        return .seconds(seconds)
    }

    /// The effective settings for the start-up log line; holds no secrets, since none of these are.
    public var logMetadata: Logger.Metadata {
        [
            "kafka.brokers": kafkaBrokers,
            "redis.url": redisURL,
            "tenants": tenantsPath,
            "http.address": "\(httpHost):\(httpPort)",
            "topic.prefix": topicPrefix,
            "key.prefix": keyPrefix,
            "log.level": "\(logLevel)",
            "http.idle_timeout": "\(httpIdleTimeout)",
            "http.request_timeout": "\(httpRequestTimeout)",
            "http.max_connections": "\(httpMaxConnections)",
            "http.max_connections_per_ip": "\(httpMaxConnectionsPerIP)",
        ]
    }
}

/// An invalid setting; the message names the variable and the expected form.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Host, port and database number of a `redis://` URL.
public struct RedisAddress: Sendable, Equatable {
    public var host: String
    public var port: Int32
    public var database: Int
    /// The ACL user of `redis://user:password@host`; nil for `redis://:password@host`, which authenticates as the
    /// default user.
    public var user: String?
    public var password: String?

    public init?(url: String) {
        guard let components = URLComponents(string: url), components.scheme == "redis",
            let host = components.host, !host.isEmpty
        else { return nil }

        self.host = host
        self.port = Int32(components.port ?? 6379)
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard let database = path.isEmpty ? 0 : Int(path) else { return nil }

        self.database = database
        // URLComponents has already decoded percent escapes in both.
        self.user = components.user.flatMap { $0.isEmpty ? nil : $0 }
        self.password = components.password
    }
}
