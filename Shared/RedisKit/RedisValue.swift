/// A reply from Redis, copied out of hiredis's reply object.
public enum RedisValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case string([UInt8])
    case status(String)
    case array([RedisValue])

    /// The reply as text, for bulk strings and status replies; nil otherwise.
    public var string: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    public var bytes: [UInt8]? {
        if case .string(let bytes) = self { return bytes }
        return nil
    }

    /// The reply as an integer, also parsing bulk strings that hold one.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .string(let bytes): Double(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// An array reply of alternating field and value strings (HGETALL) as a dictionary.
    public var dictionary: [String: String] {
        guard let values = array else { return [:] }

        var result: [String: String] = [:]
        var index = 0
        while index + 1 < values.count {
            if let key = values[index].string, let value = values[index + 1].string { result[key] = value }
            index += 2
        }
        return result
    }
}
