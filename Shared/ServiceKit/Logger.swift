import Foundation
import Model
import Synchronization

/// A structured logger with the call shape of swift-log, writing one JSON object a line to standard error.
///
/// Safe to use from any thread: each entry is formatted on the calling thread and written with one `write(2)`.
/// Messages are constant phrases; data goes into metadata, which must never carry secrets or personal data.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case trace, debug, info, notice, warning, error, critical

        public init?(name: String) {
            switch name.lowercased() {
            case "trace": self = .trace
            case "debug": self = .debug
            case "info": self = .info
            case "notice": self = .notice
            case "warning", "warn": self = .warning
            case "error": self = .error
            case "critical": self = .critical
            default: return nil
            }
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .trace: "trace"
            case .debug: "debug"
            case .info: "info"
            case .notice: "notice"
            case .warning: "warning"
            case .error: "error"
            case .critical: "critical"
            }
        }
    }

    public typealias Metadata = [String: String]

    public let label: String
    public var logLevel: Level
    public var metadata: Metadata = [:]

    /// The level every new logger starts with; services set it once from `RINGTRAIL_LOG_LEVEL`.
    public static let defaultLevel = Atomic<Int>(Level.info.rawValue)

    public init(label: String) {
        self.label = label
        self.logLevel = Level(rawValue: Logger.defaultLevel.load(ordering: .relaxed)) ?? .info
    }

    public subscript(metadataKey key: String) -> String? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func trace(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.trace, message(), metadata())
    }

    public func debug(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.debug, message(), metadata())
    }

    public func info(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.info, message(), metadata())
    }

    public func warning(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.warning, message(), metadata())
    }

    public func error(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.error, message(), metadata())
    }

    public func critical(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.critical, message(), metadata())
    }

    private func log(_ level: Level, _ message: @autoclosure () -> String, _ extra: @autoclosure () -> Metadata) {
        guard level >= logLevel else { return }

        var fields = metadata
        for (key, value) in extra() { fields[key] = value }
        LogSink.shared.write(level: level, label: label, message: message(), metadata: fields)
    }
}

/// The destination of every log entry: standard error, or a recorder that tests install.
public final class LogSink: Sendable {
    public static let shared = LogSink()

    public struct Entry: Sendable {
        public let level: Logger.Level
        public let label: String
        public let message: String
        public let metadata: Logger.Metadata
    }

    private let recorder = Mutex<[Entry]?>(nil)

    /// Starts keeping entries in memory in addition to writing them, for log assertions in tests.
    public func startRecording() { recorder.withLock { $0 = [] } }

    /// The entries kept since `startRecording()`.
    public func recordedEntries() -> [Entry] { recorder.withLock { $0 ?? [] } }

    func write(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) {
        recorder.withLock { entries in
            entries?.append(Entry(level: level, label: label, message: message, metadata: metadata))
        }
        var line = "{\"time\":\"\(Timestamp.format(Date()))\",\"level\":\"\(level)\",\"logger\":"
        line += JSONText.quote(label) + ",\"message\":" + JSONText.quote(message)
        for key in metadata.keys.sorted() {
            line += "," + JSONText.quote(key) + ":" + JSONText.quote(metadata[key] ?? "")
        }
        line += "}\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            _ = Foundation.write(2, buffer.baseAddress, buffer.count)
        }
    }
}
