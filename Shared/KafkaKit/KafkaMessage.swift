/// One message read from a topic, copied out of librdkafka's memory.
public struct KafkaMessage: Sendable {
    public let topic: String
    public let partition: Int32
    public let offset: Int64
    public let key: [UInt8]?
    /// The payload; nil for a tombstone.
    public let value: [UInt8]?
    /// Milliseconds since the Unix epoch, as set by the producer or the broker; nil when absent.
    public let timestampMilliseconds: Int64?

    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8]?,
        timestampMilliseconds: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestampMilliseconds = timestampMilliseconds
    }

    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
}
