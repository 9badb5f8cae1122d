import CRdKafka

/// A failure reported by librdkafka or by the broker.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        fileprivate enum Kind { case configuration, connection, produce, consume, admin, version }
        fileprivate let kind: Kind

        public static let configuration = Code(kind: .configuration)
        public static let connection = Code(kind: .connection)
        public static let produce = Code(kind: .produce)
        public static let consume = Code(kind: .consume)
        public static let admin = Code(kind: .admin)
        public static let version = Code(kind: .version)
    }

    public let code: Code
    public let reason: String
    /// The raw `rd_kafka_resp_err_t`, 0 when the failure did not come from librdkafka.
    public let rawCode: Int32
    public let isRetriable: Bool
    public let file: String
    public let line: UInt

    public init(
        _ code: Code,
        _ reason: String,
        rawCode: Int32 = 0,
        isRetriable: Bool = false,
        file: String = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.reason = reason
        self.rawCode = rawCode
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    init(_ code: Code, error: rd_kafka_resp_err_t, file: String = #fileID, line: UInt = #line) {
        self.init(
            code,
            String(cString: rd_kafka_err2str(error)),
            rawCode: error.rawValue,
            isRetriable: KafkaError.retriable(error),
            file: file,
            line: line
        )
    }

    public var description: String { "KafkaError(\(code.kind)): \(reason)" }

    static func retriable(_ error: rd_kafka_resp_err_t) -> Bool {
        switch error {
        case RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
            true
        default:
            false
        }
    }
}
