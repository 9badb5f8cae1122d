import Foundation
import Synchronization

/// The process's Prometheus metrics: counters, gauges and latency histograms, rendered by `GET /metrics`.
///
/// Every method is thread-safe (one `Mutex` guards the registry). Label values must not carry personal data.
public final class Metrics: Sendable {
    public static let shared = Metrics()

    /// Latency buckets in seconds, from 0.5 ms to 10 s.
    public static let latencyBuckets: [Double] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ]

    private struct Series: Hashable {
        let name: String
        let labels: String
    }

    private struct Histogram {
        var bucketCounts: [UInt64]
        var sum: Double = 0
        var count: UInt64 = 0
    }

    private struct State {
        var help: [String: (type: String, text: String)] = [:]
        var counters: [Series: Double] = [:]
        var gauges: [Series: Double] = [:]
        var histograms: [Series: Histogram] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Declares a metric's type and help text, shown once above its series.
    public func describe(_ name: String, type: String, help: String) {
        state.withLock { $0.help[name] = (type, help) }
    }

    public func increment(_ name: String, labels: [String: String] = [:], by amount: Double = 1) {
        let series = Series(name: name, labels: Metrics.render(labels))
        state.withLock { $0.counters[series, default: 0] += amount }
    }

    public func set(_ name: String, labels: [String: String] = [:], to value: Double) {
        let series = Series(name: name, labels: Metrics.render(labels))
        state.withLock { $0.gauges[series] = value }
    }

    /// Records one observation, in seconds for latencies.
    public func observe(_ name: String, labels: [String: String] = [:], _ value: Double) {
        let series = Series(name: name, labels: Metrics.render(labels))
        state.withLock { state in
            var histogram = state.histograms[series] ?? Histogram(
                bucketCounts: Array(repeating: 0, count: Metrics.latencyBuckets.count)
            )
            for (index, bound) in Metrics.latencyBuckets.enumerated() where value <= bound {
                histogram.bucketCounts[index] += 1
            }
            histogram.sum += value
            histogram.count += 1
            state.histograms[series] = histogram
        }
    }

    /// The current value of a counter, for tests and reports.
    public func counterValue(_ name: String, labels: [String: String] = [:]) -> Double {
        let series = Series(name: name, labels: Metrics.render(labels))
        return state.withLock { $0.counters[series] ?? 0 }
    }

    /// Renders every series in the Prometheus text exposition format, version 0.0.4.
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var lines: [String] = []
        var described = Set<String>()

        func header(_ name: String, _ fallbackType: String) {
            guard described.insert(name).inserted else { return }
            let help = snapshot.help[name]
            lines.append("# HELP \(name) \(help?.text ?? name)")
            lines.append("# TYPE \(name) \(help?.type ?? fallbackType)")
        }

        for series in snapshot.counters.keys.sorted(by: Metrics.order) {
            header(series.name, "counter")
            lines.append("\(series.name)\(series.labels) \(Metrics.number(snapshot.counters[series] ?? 0))")
        }
        for series in snapshot.gauges.keys.sorted(by: Metrics.order) {
            header(series.name, "gauge")
            lines.append("\(series.name)\(series.labels) \(Metrics.number(snapshot.gauges[series] ?? 0))")
        }
        for series in snapshot.histograms.keys.sorted(by: Metrics.order) {
            header(series.name, "histogram")
            guard let histogram = snapshot.histograms[series] else { continue }
            let inner = series.labels.isEmpty ? "" : String(series.labels.dropFirst().dropLast()) + ","
            for (index, bound) in Metrics.latencyBuckets.enumerated() {
                lines.append(
                    "\(series.name)_bucket{\(inner)le=\"\(bound)\"} \(histogram.bucketCounts[index])"
                )
            }
            lines.append("\(series.name)_bucket{\(inner)le=\"+Inf\"} \(histogram.count)")
            lines.append("\(series.name)_sum\(series.labels) \(histogram.sum)")
            lines.append("\(series.name)_count\(series.labels) \(histogram.count)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func order(_ a: Series, _ b: Series) -> Bool {
        (a.name, a.labels) < (b.name, b.labels)
    }

    private static func render(_ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return "" }
        let pairs = labels.keys.sorted().map { key in
            var value = labels[key] ?? ""
            // Escaping through Foundation is slow, and label values rarely need it.
            if value.utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) {
                value = value
                    .replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "\"", with: "\\\"")
                    .replacingOccurrences(of: "\n", with: "\\n")
            }
            return "\(key)=\"\(value)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    private static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}
