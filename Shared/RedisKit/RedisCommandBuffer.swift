/// Commands encoded in the Redis protocol (RESP arrays of bulk strings), ready to be written as they are.
///
/// Encoding straight from the arguments into one buffer skips a byte array per argument and the copy that hiredis
/// makes when it formats a command. A busy ingester sends about ten thousand arguments per batch.
public struct RedisCommandBuffer: Sendable {
    public private(set) var bytes: [UInt8] = []
    /// The number of commands encoded, which is the number of replies to read.
    public private(set) var count = 0

    public init(capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    public init(_ commands: [[String]]) {
        self.init(capacity: commands.count * 64)
        for command in commands { append(command) }
    }

    public mutating func append(_ arguments: [String]) {
        appendHeader(arguments.count)
        for argument in arguments { appendArgument(argument) }
    }

    public mutating func append(_ arguments: [[UInt8]]) {
        appendHeader(arguments.count)
        for argument in arguments { appendArgument(argument) }
    }

    /// Starts a command of `argumentCount` arguments; exactly that many `appendArgument` calls must follow.
    public mutating func appendHeader(_ argumentCount: Int) {
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(argumentCount)
        bytes.append(contentsOf: [13, 10])
        count += 1
    }

    public mutating func appendArgument(_ argument: String) {
        var argument = argument
        argument.withUTF8 { appendArgument(UnsafeRawBufferPointer($0)) }
    }

    public mutating func appendArgument(_ argument: [UInt8]) {
        argument.withUnsafeBytes { appendArgument($0) }
    }

    public mutating func appendArgument(_ argument: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(argument.count)
        bytes.append(contentsOf: [13, 10])
        bytes.append(contentsOf: argument)
        bytes.append(contentsOf: [13, 10])
    }

    /// Appends an integer argument in decimal without making a string of it.
    public mutating func appendArgument(_ argument: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let length = withUnsafeMutableBytes(of: &digits) { buffer in Self.writeDecimal(argument, into: buffer) }
        withUnsafeBytes(of: &digits) { appendArgument(UnsafeRawBufferPointer(rebasing: $0[(20 - length)...])) }
    }

    private mutating func appendDecimal(_ value: Int) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let length = withUnsafeMutableBytes(of: &digits) { buffer in Self.writeDecimal(Int64(value), into: buffer) }
        withUnsafeBytes(of: &digits) { bytes.append(contentsOf: $0[(20 - length)...]) }
    }

    /// Writes `value` in decimal at the end of `buffer` (20 bytes hold any Int64) and returns its length.
    private static func writeDecimal(_ value: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var magnitude = value.magnitude
        var position = buffer.count
        repeat {
            position -= 1
            buffer[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            position -= 1
            buffer[position] = UInt8(ascii: "-")
        }
        return buffer.count - position
    }
}
