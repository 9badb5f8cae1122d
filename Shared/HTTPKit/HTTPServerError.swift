/// A failure to start an `HTTPServer`.
public struct HTTPServerError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Kind { case invalidAddress, bind, start }
        fileprivate let kind: Kind

        /// The host is not an IP address or a name that resolves to one.
        public static let invalidAddress = Code(kind: .invalidAddress)
        /// The listening socket could not be created, bound or put into listening state.
        public static let bind = Code(kind: .bind)
        /// libmicrohttpd rejected the configuration or could not start its threads.
        public static let start = Code(kind: .start)

        public var description: String { "\(kind)" }
    }

    public let code: Code
    /// The failure and how to fix it, safe to show.
    public let reason: String
    /// The `errno` of the failed system call, 0 when none applies.
    public let systemErrorCode: Int32
    /// Whether a later retry may succeed: true only for `address in use`, which clears once the other process exits.
    public let isRetriable: Bool
    public let file: String
    public let line: UInt

    init(
        _ code: Code,
        _ reason: String,
        systemErrorCode: Int32 = 0,
        isRetriable: Bool = false,
        file: String = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.reason = reason
        self.systemErrorCode = systemErrorCode
        self.isRetriable = isRetriable
        self.file = file
        self.line = line
    }

    public var description: String { "HTTPServerError(\(code)): \(reason)" }
}
