import Foundation
import KafkaKit
import Model
import SecurityKit
import ServiceKit

/// `ringtrail`: operator commands and the replay driver.
let usage = """
    usage: ringtrail <command> [options]

    commands:
      keygen [--scopes web,read]   print a new API key and the hash to put in the tenants file
      topics [--partitions N]      create the topics (with RINGTRAIL_TOPIC_PREFIX) on RINGTRAIL_KAFKA_BROKERS;
                                   `ringtrail topics --help` lists its options
      replay [options]             drive the running services with an access log or generated traffic;
                                   `ringtrail replay --help` lists its options
      bench-calls [options]        measure webhook-to-screen latency (run through `make bench-calls`)
      bench-ingest [options]       measure the activity-ingester's throughput (run through `make bench-ingest`)
      chaos-check [options]        after a replay under faults, check that nothing acknowledged was lost
                                   (run through `make chaos`); `ringtrail chaos-check --help` lists its options
    """

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(2)
}

do {
    switch command {
    case "keygen":
        try Keygen.run(Array(arguments.dropFirst()))
    case "topics":
        try await TopicsCommand.run(Array(arguments.dropFirst()))
    case "replay":
        try await ReplayCommand.run(Array(arguments.dropFirst()))
    case "bench-calls": try await BenchCallsCommand.run(Array(arguments.dropFirst()))
    case "bench-ingest": try await BenchIngestCommand.run(Array(arguments.dropFirst()))
    case "chaos-check": try await ChaosCheckCommand.run(Array(arguments.dropFirst()))
    case "help", "--help", "-h":
        say(usage)
    default:
        FileHandle.standardError.write(Data("ringtrail: unknown command \(command)\n\(usage)\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("ringtrail \(command): \(error)\n".utf8))
    exit(1)
}

/// Prints a new API key and its hash.
enum Keygen {
    static let usage = """
        usage: ringtrail keygen [--scopes LIST]

          --scopes LIST   comma-separated scopes of the key (default web,read): \
        \(Scope.allCases.map(\.rawValue).joined(separator: ", "))
        """

    static func run(_ arguments: [String]) throws {
        let options = try CommandOptions(arguments, allowed: ["scopes"])
        guard !options.helpRequested else { return say(usage) }

        var scopes = ["web", "read"]
        if let list = options.values["scopes"] {
            scopes = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard !list.isEmpty else {
                throw ConfigurationError("--scopes needs at least one scope; the services reject a key without one")
            }
            guard !scopes.contains(where: \.isEmpty) else {
                throw ConfigurationError("--scopes \(list) has an empty entry; separate scopes with single commas")
            }
            guard Set(scopes).count == scopes.count else {
                throw ConfigurationError("--scopes \(list) names a scope twice")
            }
        }
        for scope in scopes where Scope(rawValue: scope) == nil {
            throw ConfigurationError("unknown scope \(scope); use \(Scope.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let key = RandomBytes.token(prefix: "rt_")
        let hash = "sha256:" + Digest.sha256Hex(key)
        say("key:  \(key)")
        say("hash: \(hash)")
        let quoted = scopes.map { "\"\($0)\"" }.joined(separator: ", ")
        say("tenants file entry: {\"hash\": \"\(hash)\", \"scopes\": [\(quoted)]}")
        say("Give the key to its user once; only the hash is stored.")
    }
}

/// Creates every topic of the deployment.
enum TopicsCommand {
    static let usage = """
        usage: ringtrail topics [--partitions N] [--kafka-brokers LIST] [--topic-prefix PREFIX] [--kafka-config LIST]

          --partitions N        partitions of each new topic (default 4); existing topics are left as they are
          --kafka-brokers LIST  the brokers, host:port,... (default RINGTRAIL_KAFKA_BROKERS, else 127.0.0.1:9092)
          --topic-prefix PREFIX prefix of every topic name (default RINGTRAIL_TOPIC_PREFIX)
          --kafka-config LIST   librdkafka properties, key=value,... (default RINGTRAIL_KAFKA_CONFIG)
        """

    static func run(_ arguments: [String]) async throws {
        let options = try CommandOptions(arguments,
                                         allowed: ["partitions", "kafka-brokers", "topic-prefix", "kafka-config"])
        guard !options.helpRequested else { return say(usage) }

        var partitions: Int32 = 4
        if let text = options.values["partitions"] {
            guard let value = Int32(text), value > 0 else {
                throw ConfigurationError("--partitions needs a positive number, got \(text)")
            }
            partitions = value
        }
        let serviceArguments = ["kafka-brokers", "topic-prefix", "kafka-config"].flatMap { name in
            options.values[name].map { ["--\(name)", $0] } ?? []
        }
        let configuration = try ServiceConfiguration(defaultPort: 0, arguments: serviceArguments)
        let admin = try KafkaAdmin(brokers: configuration.kafkaBrokers, properties: configuration.kafkaProperties)
        _ = try await admin.checkConnection(timeout: .seconds(10))
        let names = Topic.allCases.map { $0.name(prefix: configuration.topicPrefix) }
        try await admin.createTopics(names, partitions: partitions)
        say("topics ready on \(configuration.kafkaBrokers): \(names.joined(separator: ", "))")
    }
}

/// The options of a small command: `--name value` or `--name=value`, each at most once, and `--help`.
struct CommandOptions {
    private(set) var values: [String: String] = [:]
    private(set) var helpRequested = false

    /// - Throws: `ConfigurationError` for an option not in `allowed`, a missing value, a repeated option or an
    ///   argument that is not an option.
    init(_ arguments: [String], allowed: [String]) throws {
        let known = allowed.map { "--" + $0 }.joined(separator: ", ")
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--help" || argument == "-h" {
                helpRequested = true
                continue
            }
            guard argument.hasPrefix("--") else {
                throw ConfigurationError("unexpected argument \(argument); options: \(known)")
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard allowed.contains(name) else { throw ConfigurationError("unknown option --\(name); options: \(known)") }
            if value == nil {
                guard index < arguments.count, !arguments[index].hasPrefix("--") else {
                    throw ConfigurationError("--\(name) needs a value")
                }
                value = arguments[index]
                index += 1
            }
            guard values[name] == nil else { throw ConfigurationError("--\(name) is given twice") }
            values[name] = value
        }
    }
}

/// Writes a line to standard output at once, also when the output is a pipe (where `print` buffers).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
