import Foundation

/// The p50, p99 and maximum of a set of durations, in milliseconds.
struct LatencySummary: Codable, Sendable {
    var count: Int
    var p50Ms: Double
    var p99Ms: Double
    var maxMs: Double

    /// Summarizes `milliseconds` with nearest-rank percentiles; all zero when it is empty.
    init(_ milliseconds: [Double]) {
        let sorted = milliseconds.sorted()
        count = sorted.count
        p50Ms = Self.rounded(Self.percentile(0.50, of: sorted))
        p99Ms = Self.rounded(Self.percentile(0.99, of: sorted))
        maxMs = Self.rounded(sorted.last ?? 0)
    }

    /// Returns the nearest-rank percentile, which is the smallest value with at least `fraction` of the values at or below it.
    static func percentile(_ fraction: Double, of sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    static func rounded(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}

/// One stage of the webhook-to-screen path, measured from the Kafka timestamps of the two messages.
struct StageLatency: Codable, Sendable {
    var stage: String
    var latency: LatencySummary
}

/// CPU time a process used during the measured calls phase.
struct ProcessCPUUse: Codable, Sendable {
    var name: String
    var pid: Int32
    var cpuSeconds: Double
    /// CPU seconds per wall-clock second, in percent of one core.
    var percentOfOneCore: Double
    /// CPU microseconds per event, where the benchmark counts events.
    var microsecondsPerEvent: Double?
}

/// Everything `bench-calls` measured, written as `.run/bench-calls.json`.
struct BenchCallsReport: Codable, Sendable {
    struct Settings: Codable, Sendable {
        var rate: Double
        var seconds: Double
        var warmupSeconds: Double
        var connections: Int
        var sessionsPerNumber: Int
        var numbers: Int
        var fetchWaitMs: Int
        var lingerMs: String
        var probeBytes: Int
        /// `RINGTRAIL_KAFKA_CONFIG` as the bench saw it, which the services started by the script also read.
        var servicesKafkaConfig: String
        /// Whether the calls went to a number in no pool (`--no-candidates`).
        var noCandidates: Bool
    }

    struct Seeding: Codable, Sendable {
        var sessions: Int
        /// Lease statuses returned while seeding, such as `granted` and `recycled`.
        var leaseStatuses: [String: Int]
        var minSessionsPerNumber: Int
        var maxSessionsPerNumber: Int
    }

    struct Calls: Codable, Sendable {
        var planned: Int
        /// Responses by HTTP status, and `error` for requests without a response.
        var responses: [String: Int]
        var screens: Int
        var missingScreens: Int
        /// How late the load generator sent requests against the schedule (waiting for a thread or a connection).
        var sendLag: LatencySummary
        var minCandidates: Int
        var meanCandidates: Double
        var maxCandidates: Int
        var meanScreenBytes: Int
    }

    struct Broker: Codable, Sendable {
        var topic: String
        var planned: Int
        var received: Int
        var rejected: Int
        var messagesPerSecond: Double
        /// From the produce call to the consumer.
        var latency: LatencySummary
        /// From the produce call to the delivery report, the broker's acknowledgement.
        var acknowledgement: LatencySummary
    }

    var date: String
    var cores: Int
    var loadAverageAtStart: String
    var loadAverageAtEnd: String
    var settings: Settings
    var seeding: Seeding

    var callsPerSecond: Double
    var webhookResponseP50Ms: Double
    var webhookResponseP99Ms: Double
    var webhookToScreenP50Ms: Double
    var webhookToScreenP99Ms: Double
    var brokerP50Ms: Double
    var brokerP99Ms: Double
    /// `webhookToScreenP99Ms / brokerP99Ms`; the target is below 3.
    var ratio: Double
    var screenTargetMet: Bool
    var responseTargetMet: Bool

    var webhookResponse: LatencySummary
    var webhookToScreen: LatencySummary
    var stages: [StageLatency]
    var calls: Calls
    var broker: Broker
    var cpu: [ProcessCPUUse]
    /// Busy time of all cores during the calls phase, in percent of the whole machine, other users included.
    var machineBusyPercent: Double

    /// The p99 webhook-to-screen latency may be at most this many times the broker's own p99.
    static let screenRatioTarget = 3.0
    static let responseP99TargetMs = 20.0

    func write(to path: String) throws {
        try writeReport(self, to: path)
    }

    /// Formats the table printed at the end of a run.
    func table() -> String {
        func row(_ name: String, _ summary: LatencySummary) -> String {
            name.padding(toLength: 52, withPad: " ", startingAt: 0)
                + [summary.p50Ms, summary.p99Ms, summary.maxMs].map { format($0).leftPadded(10) }.joined()
                + String(summary.count).leftPadded(8)
        }
        let verdict = { (met: Bool) in met ? "met" : "NOT met" }
        var lines = [
            "bench-calls: \(format(callsPerSecond)) calls/s achieved (\(format(settings.rate)) planned) for "
                + "\(format(settings.seconds)) s, \(settings.numbers) numbers held by \(seeding.minSessionsPerNumber)"
                + "–\(seeding.maxSessionsPerNumber) sessions each, \(cores) cores, \(date)",
            "",
            "".padding(toLength: 52, withPad: " ", startingAt: 0) + "p50 ms".leftPadded(10) + "p99 ms".leftPadded(10)
                + "max ms".leftPadded(10) + "count".leftPadded(8),
            row("webhook response", webhookResponse),
            row("webhook to screen consumed", webhookToScreen),
            row("broker produce to consume (baseline)", broker.latency),
            row("broker produce to acknowledgement (baseline)", broker.acknowledgement),
            "stages of webhook to screen (Kafka timestamps, 1 ms resolution):",
        ]
        lines += stages.map { row("  " + $0.stage, $0.latency) }
        lines += [
            "",
            "p99 webhook to screen / broker p99: \(format(ratio)) (target below \(format(Self.screenRatioTarget))): "
                + verdict(screenTargetMet),
            "p99 webhook response: \(format(webhookResponseP99Ms)) ms (target below "
                + "\(format(Self.responseP99TargetMs)) ms): \(verdict(responseTargetMet))",
            "responses: " + calls.responses.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", ") + "; screens \(calls.screens) of \(calls.planned), missing "
                + "\(calls.missingScreens); candidates per screen \(calls.minCandidates)–\(calls.maxCandidates) "
                + "(mean \(format(calls.meanCandidates))), mean screen \(calls.meanScreenBytes) bytes",
            "send lag behind schedule: p99 \(format(calls.sendLag.p99Ms)) ms, max \(format(calls.sendLag.maxMs)) ms; "
                + "broker probes \(broker.received) of \(broker.planned) at \(format(broker.messagesPerSecond))/s",
            "CPU in the calls phase (% of one core): "
                + cpu.map { "\($0.name) \(format($0.percentOfOneCore))" }.joined(separator: ", ")
                + "; whole machine \(format(machineBusyPercent))% busy; load average \(loadAverageAtStart) → "
                + loadAverageAtEnd,
        ]
        return lines.joined(separator: "\n")
    }

    private func format(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e9 ? String(Int(value)) : String(format: "%.2f", value)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}

/// CPU accounting from `/proc`, for the processes of the benchmark and the whole machine.
enum ProcessCPU {
    /// User plus system CPU seconds used by `pid` and by its children that it waited for, or nil when it is not
    /// running. Children count because Redis rewrites its append-only file in a child process.
    static func seconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = text.lastIndex(of: ")")
        else { return nil }
        // After the command name in brackets come the state (field 3) and then fields 4 onwards, so utime, stime,
        // cutime and cstime (fields 14 to 17) are at offsets 11 to 14.
        let fields = text[text.index(after: end)...].split(separator: " ")
        guard fields.count > 14 else { return nil }
        let ticks = fields[11...14].compactMap { Double($0) }
        guard ticks.count == 4 else { return nil }
        return ticks.reduce(0, +) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Busy and total jiffies of all cores from the first line of `/proc/stat`.
    static func machineJiffies() -> (busy: Double, total: Double) {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return (0, 0) }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard values.count >= 5 else { return (0, 0) }
        // Fields: user nice system idle iowait irq softirq steal; idle and iowait are not busy.
        let total = values.prefix(8).reduce(0, +)
        return (total - values[3] - values[4], total)
    }

    static func loadAverage() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}

/// Writes a benchmark report as sorted, indented JSON to `path`, creating its directory.
func writeReport<Report: Encodable>(_ report: Report, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let url = URL(fileURLWithPath: path)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try encoder.encode(report).write(to: url)
}
