/// Writes compact JSON by hand, for the few messages a service writes on every request, where `JSONEncoder`
/// costs more than the rest of the work.
///
/// Callers give object fields in sorted order, so the bytes are the same as `JSONEncoder` with `.sortedKeys` and
/// `.withoutEscapingSlashes` writes; tests compare the two.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Whether the object being written has a field yet, one flag per open object.
    private var hasField: [Bool] = []

    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        hasField.append(false)
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        hasField.removeLast()
    }

    /// Starts a field of the open object; write its value next.
    public mutating func key(_ name: String) {
        if hasField[hasField.count - 1] { bytes.append(UInt8(ascii: ",")) }
        hasField[hasField.count - 1] = true
        JSONWriter.appendString(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    /// A string field; a nil value leaves the field out, as `encodeIfPresent` does.
    public mutating func field(_ name: String, _ value: String?) {
        guard let value else { return }
        key(name)
        JSONWriter.appendString(value, to: &bytes)
    }

    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    public static func appendString(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0x0A:
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "n"))
            case 0x0D:
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "r"))
            case 0x09:
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "t"))
            case 0x08:
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "b"))
            case 0x0C:
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(UInt8(ascii: "f"))
            case 0..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hexDigits[Int(byte >> 4)])
                bytes.append(hexDigits[Int(byte & 0x0F)])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// A payload that writes itself as a JSON object with `JSONWriter`, so `CloudEvent.encoded()` can skip
/// `JSONEncoder`. The bytes must equal what its `Encodable` conformance gives with sorted keys.
public protocol JSONWritable {
    func write(to writer: inout JSONWriter)
}
