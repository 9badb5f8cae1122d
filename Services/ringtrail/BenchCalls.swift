import Foundation
import KafkaKit
import Model
import ServiceKit

/// `ringtrail bench-calls`: Twilio voice webhooks at a fixed rate against the running call-router, their response
/// time and the time until each call's screen is on `calls.screens`, beside the broker's own produce-to-consume
/// latency at the same rate.
enum BenchCallsCommand {
    static let help = """
        usage: ringtrail bench-calls [options]

        Measures running services (`make bench-calls` starts them and runs this). It seeds sessions that hold
        each tracking number in turn, measures the broker's own produce-to-consume latency with probe messages,
        then sends Twilio voice webhooks on a fixed schedule (an open loop) and records each response time and
        the moment each call's screen arrives on calls.screens. Reads RINGTRAIL_KAFKA_BROKERS and
        RINGTRAIL_TOPIC_PREFIX like the services.

          --dir PATH               where `ringtrail replay --prepare` wrote settings.json (default .run/bench-calls)
          --number-pool URL, --ingester URL, --call-router URL
                                   the services (default http://127.0.0.1:18281, :18282 and :18283)
          --rate N                 webhooks per second, and probe messages per second (default 200)
          --seconds N              length of each measured phase in seconds (default 20)
          --warmup-seconds N       webhooks and probes sent before each measured phase, not counted (default 2)
          --sessions-per-number N  sessions that lease each tracking number in turn (default 5)
          --connections N          HTTP connections of the load generator (default 128)
          --fetch-wait-ms N        fetch.wait.max.ms of the bench's consumers (default 50, as in KafkaKit)
          --probe-bytes N          size of each probe message in bytes (default 1024)
          --process NAME=PID       report the CPU time of this process during the calls phase; repeatable
          --broker-only            measure only the broker's produce-to-consume latency and print it; needs
                                   the broker alone, and writes no report
          --output PATH            the JSON report (default .run/bench-calls.json)
          --samples PATH           also write each measured call's times as CSV, in ms from the first send
          --no-candidates          call a number in no pool, so that the call-router ranks no sessions and
                                   publishes empty screens; shows the cost of the webhook and the two hops alone
        """

    struct Options {
        var directory = ".run/bench-calls"
        var numberPool = "http://127.0.0.1:18281"
        var ingester = "http://127.0.0.1:18282"
        var callRouter = "http://127.0.0.1:18283"
        var rate = 200.0
        var seconds = 20.0
        var warmupSeconds = 2.0
        var sessionsPerNumber = 5
        /// Enough that a 0.5 s stall at 200 calls/s does not make requests wait for a free connection.
        var connections = 128
        /// The value KafkaKit's consumer sets, so that the bench's consumers read like the services'.
        var fetchWaitMilliseconds = 50
        var probeBytes = 1024
        var processes: [(name: String, pid: Int32)] = []
        var output = ".run/bench-calls.json"
        var brokerOnly = false
        var samplesPath: String?
        var noCandidates = false
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value() throws -> String {
            guard index + 1 < arguments.count else { throw BenchError("\(arguments[index]) needs a value") }
            index += 1
            return arguments[index]
        }
        func number<T: LosslessStringConvertible & Comparable & Numeric>(_ flag: String) throws -> T {
            let text = try value()
            guard let parsed = T(text), parsed > 0 else { throw BenchError("\(flag) needs a positive number, got \(text)") }
            return parsed
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "--dir": options.directory = try value()
            case "--number-pool": options.numberPool = try value()
            case "--ingester": options.ingester = try value()
            case "--call-router": options.callRouter = try value()
            case "--rate": options.rate = try number(flag)
            case "--seconds": options.seconds = try number(flag)
            case "--warmup-seconds": options.warmupSeconds = try number(flag)
            case "--sessions-per-number": options.sessionsPerNumber = try number(flag)
            case "--connections": options.connections = try number(flag)
            case "--fetch-wait-ms": options.fetchWaitMilliseconds = try number(flag)
            case "--probe-bytes": options.probeBytes = try number(flag)
            case "--output": options.output = try value()
            case "--broker-only": options.brokerOnly = true
            case "--samples": options.samplesPath = try value()
            case "--no-candidates": options.noCandidates = true
            case "--process":
                let text = try value()
                let parts = text.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let pid = Int32(parts[1]) else {
                    throw BenchError("--process needs NAME=PID, got \(text)")
                }
                options.processes.append((String(parts[0]), pid))
            case "--help", "-h":
                say(help)
                exit(0)
            default: throw BenchError("unknown option \(flag)\n\(help)")
            }
            index += 1
        }
        return options
    }

    static func run(_ arguments: [String]) async throws {
        let options = try parse(arguments)
        let configuration = try ServiceConfiguration(defaultPort: 0, arguments: [])
        if options.brokerOnly {
            let broker = try await measureBroker(options: options, brokers: configuration.kafkaBrokers,
                                                 topicPrefix: configuration.topicPrefix)
            say("broker produce to consume: p50 \(broker.latency.p50Ms) ms, p99 \(broker.latency.p99Ms) ms, "
                + "max \(broker.latency.maxMs) ms; acknowledgement p50 \(broker.acknowledgement.p50Ms) ms, p99 "
                + "\(broker.acknowledgement.p99Ms) ms; \(broker.received) of \(broker.planned) probes at "
                + "\(broker.messagesPerSecond)/s, fetch.wait.max.ms \(options.fetchWaitMilliseconds)")
            return
        }
        let settingsPath = options.directory + "/settings.json"
        guard let data = FileManager.default.contents(atPath: settingsPath) else {
            throw BenchError("no \(settingsPath); run `ringtrail replay --prepare --dir \(options.directory)` first")
        }
        let settings = try JSONDecoder().decode(ReplaySettings.self, from: data)
        let loadAtStart = ProcessCPU.loadAverage()

        say("bench-calls: seeding \(settings.numbers.count * options.sessionsPerNumber) sessions on "
            + "\(settings.numbers.count) numbers")
        let seeding = try await seed(settings: settings, options: options)
        say("bench-calls: lease statuses \(seeding.leaseStatuses), \(seeding.minSessionsPerNumber)–"
            + "\(seeding.maxSessionsPerNumber) sessions per number")

        say("bench-calls: broker baseline, \(Int(options.rate)) probe messages/s for \(Int(options.seconds)) s")
        let broker = try await measureBroker(options: options, brokers: configuration.kafkaBrokers,
                                             topicPrefix: configuration.topicPrefix)

        say("bench-calls: \(Int(options.rate)) webhooks/s for \(Int(options.seconds)) s")
        let calls = try await measureCalls(settings: settings, options: options, brokers: configuration.kafkaBrokers,
                                           topicPrefix: configuration.topicPrefix)

        let ratio = broker.latency.p99Ms > 0 ? calls.toScreen.p99Ms / broker.latency.p99Ms : 0
        let report = BenchCallsReport(
            date: Timestamp.format(Date()),
            cores: ProcessInfo.processInfo.activeProcessorCount,
            loadAverageAtStart: loadAtStart,
            loadAverageAtEnd: ProcessCPU.loadAverage(),
            settings: .init(rate: options.rate, seconds: options.seconds, warmupSeconds: options.warmupSeconds,
                            connections: options.connections, sessionsPerNumber: options.sessionsPerNumber,
                            numbers: settings.numbers.count, fetchWaitMs: options.fetchWaitMilliseconds,
                            lingerMs: KafkaProducer.defaultProperties["linger.ms"] ?? "librdkafka default",
                            probeBytes: options.probeBytes,
                            servicesKafkaConfig: ProcessInfo.processInfo.environment["RINGTRAIL_KAFKA_CONFIG"] ?? "",
                            noCandidates: options.noCandidates),
            seeding: seeding,
            callsPerSecond: LatencySummary.rounded(calls.achievedRate),
            webhookResponseP50Ms: calls.response.p50Ms,
            webhookResponseP99Ms: calls.response.p99Ms,
            webhookToScreenP50Ms: calls.toScreen.p50Ms,
            webhookToScreenP99Ms: calls.toScreen.p99Ms,
            brokerP50Ms: broker.latency.p50Ms,
            brokerP99Ms: broker.latency.p99Ms,
            ratio: LatencySummary.rounded(ratio),
            screenTargetMet: ratio > 0 && ratio < BenchCallsReport.screenRatioTarget,
            responseTargetMet: calls.response.p99Ms < BenchCallsReport.responseP99TargetMs,
            webhookResponse: calls.response,
            webhookToScreen: calls.toScreen,
            stages: calls.stages,
            calls: calls.summary,
            broker: broker,
            cpu: calls.cpu,
            machineBusyPercent: calls.machineBusyPercent
        )
        try report.write(to: options.output)
        say("")
        say(report.table())
        say("bench-calls: report written to \(options.output)")
    }
}
