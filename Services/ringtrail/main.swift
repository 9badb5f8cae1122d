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
      topics [--partitions N]      create the topics (with RINGTRAIL_TOPIC_PREFIX) on RINGTRAIL_KAFKA_BROKERS
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
    static func run(_ arguments: [String]) throws {
        var scopes = ["web", "read"]
        if let index = arguments.firstIndex(of: "--scopes") {
            let known = Scope.allCases.map(\.rawValue).joined(separator: ",")
            guard index + 1 < arguments.count else {
                throw ConfigurationError("--scopes needs a comma-separated list of scopes, such as \(known)")
            }
            scopes = arguments[index + 1].split(separator: ",").map(String.init)
            guard !scopes.isEmpty else {
                throw ConfigurationError("--scopes needs at least one scope; the services reject a key without one")
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
    static func run(_ arguments: [String]) async throws {
        var partitions: Int32 = 4
        if let index = arguments.firstIndex(of: "--partitions"), index + 1 < arguments.count {
            guard let value = Int32(arguments[index + 1]), value > 0 else {
                throw ConfigurationError("--partitions needs a positive number")
            }
            partitions = value
        }
        let configuration = try ServiceConfiguration(defaultPort: 0, arguments: [])
        let admin = try KafkaAdmin(brokers: configuration.kafkaBrokers, properties: configuration.kafkaProperties)
        _ = try await admin.checkConnection(timeout: .seconds(10))
        let names = Topic.allCases.map { $0.name(prefix: configuration.topicPrefix) }
        try await admin.createTopics(names, partitions: partitions)
        say("topics ready on \(configuration.kafkaBrokers): \(names.joined(separator: ", "))")
    }
}

/// Writes a line to standard output at once, also when the output is a pipe (where `print` buffers).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
