import CRdKafka
import ServiceKit

/// The oldest librdkafka that can talk to the Tansu broker: 2.0.2 misreads ApiVersions v3 tagged fields.
let minimumLibraryVersion: Int32 = 0x0201_00ff

/// The version string of the librdkafka the process loaded, for logs and start-up checks.
public var kafkaLibraryVersion: String { String(cString: rd_kafka_version_str()) }

/// Throws unless the loaded librdkafka is 2.1 or later.
///
/// - Throws: `KafkaError` with code `.version`, saying how to install a current library.
public func checkKafkaLibraryVersion() throws {
    guard rd_kafka_version() >= minimumLibraryVersion else {
        throw KafkaError(
            .version,
            "librdkafka \(kafkaLibraryVersion) is too old to talk to the broker (2.1 or later is needed); "
                + "run `make deps`, which puts a current librdkafka in .deps/lib where the binaries look first"
        )
    }
}

/// Builds a librdkafka configuration; the caller owns the result until `rd_kafka_new` succeeds.
///
/// - Throws: `KafkaError` with code `.configuration` naming the rejected property.
func makeConfiguration(_ properties: [String: String]) throws -> OpaquePointer {
    guard let conf = rd_kafka_conf_new() else {
        throw KafkaError(.configuration, "rd_kafka_conf_new returned NULL")
    }
    var errorBuffer = [CChar](repeating: 0, count: 512)
    for key in properties.keys.sorted() {
        let value = properties[key] ?? ""
        let result = rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count)
        guard result == RD_KAFKA_CONF_OK else {
            rd_kafka_conf_destroy(conf)
            let reason = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(.configuration, "invalid librdkafka property \(key): \(reason)")
        }
    }
    rd_kafka_conf_set_log_cb(conf, forwardLibraryLog)
    return conf
}

private let libraryLogger = Logger(label: "librdkafka")

/// librdkafka repeats a failure many times a second while a broker is down (every connection attempt of every
/// handle), so each facility's warnings pass once per 10 seconds with the count held back.
private let libraryWarnings = LogRateLimit(interval: .seconds(10))

/// Passes librdkafka's own log lines on: syslog levels 0–4 as warnings, at most one per facility every 10
/// seconds, and the rest at debug.
private func forwardLibraryLog(
    _ handle: OpaquePointer?,
    _ level: Int32,
    _ facility: UnsafePointer<CChar>?,
    _ message: UnsafePointer<CChar>?
) {
    let text = message.map { String(cString: $0) } ?? ""
    let facilityName = facility.map { String(cString: $0) } ?? ""
    var metadata = ["kafka.facility": facilityName, "kafka.detail": text]
    if level <= 4 {
        guard let suppressed = libraryWarnings.due(facilityName) else { return }
        if suppressed > 0 { metadata["kafka.suppressed"] = String(suppressed) }
        libraryLogger.warning("librdkafka reported a problem", metadata: metadata)
    } else {
        libraryLogger.debug("librdkafka log", metadata: metadata)
    }
}

func errorString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
