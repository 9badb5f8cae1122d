/// A failure to reach Redis or an error reply from it.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        fileprivate enum Kind { case connection, io, server, protocolViolation }
        fileprivate let kind: Kind

        /// Connecting failed.
        public static let connection = Code(kind: .connection)
        /// A read or write failed or timed out; the connection was dropped and will be reopened.
        public static let io = Code(kind: .io)
        /// Redis answered with an error reply, such as `NOSCRIPT` or `WRONGTYPE`.
        public static let server = Code(kind: .server)
        /// The reply had a shape the caller did not expect.
        public static let protocolViolation = Code(kind: .protocolViolation)
    }

    public let code: Code
    public let reason: String
    public let isRetriable: Bool
    public let file: String
    public let line: UInt

    public init(_ code: Code, _ reason: String, isRetriable: Bool, file: String = #fileID, line: UInt = #line) {
        self.code = code
        self.reason = reason
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    public var description: String { "RedisError(\(code.kind)): \(reason)" }
}
