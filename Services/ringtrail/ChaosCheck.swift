import Foundation
import KafkaKit
import Model
import RedisKit
import ServiceKit
import Store

/// `ringtrail chaos-check`: compares what the services acknowledged during a replay with what Redis and the
/// topics hold, after the faults of `make chaos` stopped.
enum ChaosCheckCommand {
    static let help = """
        usage: ringtrail chaos-check [options]

          --dir PATH           the replay's directory, with settings.json and acknowledged.json
                               (default .run/chaos/replay)
          --faults PATH        a JSON object of faults injected by kind, copied into the result
          --drain SECONDS      how long to wait for the pipeline to catch up before counting a
                               message as lost (default 120)
          --output PATH        where the result goes as JSON (default .run/chaos.json)

        Reads RINGTRAIL_REDIS_URL, RINGTRAIL_KAFKA_BROKERS and the prefixes like the services. Exits with
        status 1 when lost, duplicateAttributions, leaseViolations or unexpectedDeadletters is not 0.
        """

    struct Options {
        var directory = ".run/chaos/replay"
        var faultsPath: String?
        var drainSeconds = 120.0
        var output = ".run/chaos.json"
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value() throws -> String {
            guard index + 1 < arguments.count else { throw ReplayError("\(arguments[index]) needs a value") }
            index += 1
            return arguments[index]
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--dir": options.directory = try value()
            case "--faults": options.faultsPath = try value()
            case "--drain":
                let text = try value()
                guard let seconds = Double(text), seconds >= 0 else {
                    throw ReplayError("--drain needs a number of seconds, got \(text)")
                }
                options.drainSeconds = seconds
            case "--output": options.output = try value()
            case "--help", "-h":
                say(help)
                exit(0)
            default: throw ReplayError("unknown option \(arguments[index])\n\(help)")
            }
            index += 1
        }
        return options
    }

    static func run(_ arguments: [String]) async throws {
        let options = try parse(arguments)
        let settingsPath = options.directory + "/settings.json"
        guard let settingsData = FileManager.default.contents(atPath: settingsPath) else {
            throw ReplayError("no \(settingsPath); run `ringtrail replay --prepare --dir \(options.directory)` first")
        }
        let settings = try JSONDecoder().decode(ReplaySettings.self, from: settingsData)
        let acknowledged = try AcknowledgedTraffic.read(directory: options.directory)
        var faults: [String: Int] = [:]
        if let path = options.faultsPath {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ReplayError("no faults file \(path)")
            }
            faults = try JSONDecoder().decode([String: Int].self, from: data)
        }

        let configuration = try ServiceConfiguration(defaultPort: 0, arguments: [])
        let checker = try ChaosChecker(configuration: configuration, settings: settings, acknowledged: acknowledged)

        // The services may still be catching up on what was published during the last fault.
        let deadline = ContinuousClock.now + .seconds(options.drainSeconds)
        var result: ChaosResult
        while true {
            await checker.reader.catchUp()
            result = try await checker.evaluate(faults: faults)
            if result.lost == 0 || ContinuousClock.now >= deadline { break }
            say("chaos-check: \(result.lost) acknowledged messages not found yet, waiting for the pipeline")
            try await Task.sleep(for: .seconds(5))
        }
        await checker.reader.close()
        for line in checker.details { say("chaos-check: " + line) }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let outputDirectory = (options.output as NSString).deletingLastPathComponent
        if !outputDirectory.isEmpty {
            try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
        }
        try encoder.encode(result).write(to: URL(fileURLWithPath: options.output))
        say(result.table(output: options.output))
        if !result.passed { exit(1) }
    }
}

/// The figures of one chaos run, written to `.run/chaos.json`.
struct ChaosResult: Codable {
    struct Sent: Codable {
        var events = 0
        var calls = 0
        var matches = 0
        var outcomes = 0
    }

    struct Found: Codable {
        var events = 0
        var calls = 0
        var matches = 0
        var outcomes = 0
        /// Sessions with an acknowledged event whose session record exists.
        var records = 0
        /// Acknowledged calls whose latest message on `attributions` exists.
        var attributions = 0
    }

    var seed: UInt64
    var faults: [String: Int]
    var sent: Sent
    var found: Found
    /// Acknowledged events, calls, agent matches and outcomes that are missing or wrong at the end.
    var lost: Int
    /// Calls listed under more than one session, or under a session other than their current attribution's.
    var duplicateAttributions: Int
    /// Pairs of leases of one number that overlapped although the later one was not `recycled`.
    var leaseViolations: Int
    /// Messages on `deadletter`; the replay sends no invalid message, so every one is unexpected.
    var unexpectedDeadletters: Int

    var passed: Bool { lost == 0 && duplicateAttributions == 0 && leaseViolations == 0 && unexpectedDeadletters == 0 }

    func table(output: String) -> String {
        let faultList = faults.keys.sorted().map { "\($0) \(faults[$0] ?? 0)" }.joined(separator: ", ")
        func row(_ name: String, _ value: Int) -> String {
            name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(value).leftPadded(8)
                + (value == 0 ? "   ok" : "   FAILED, must be 0")
        }
        return """

            Ringtrail chaos check (seed \(seed))
              faults injected           \(faultList.isEmpty ? "none" : faultList)
              sent and acknowledged     events \(sent.events), calls \(sent.calls), matches \(sent.matches), \
            outcomes \(sent.outcomes)
              found                     events \(found.events), calls \(found.calls), matches \(found.matches), \
            outcomes \(found.outcomes)
              records, attributions     \(found.records) session records, \(found.attributions) attributions
              \(row("lost", lost))
              \(row("duplicate attributions", duplicateAttributions))
              \(row("lease violations", leaseViolations))
              \(row("unexpected deadletters", unexpectedDeadletters))
              written to                \(output)

            """
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
