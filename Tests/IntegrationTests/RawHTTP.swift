import Foundation

/// A blocking HTTP/1.1 client over a raw socket, for requests URLSession will not send: invalid bytes in the
/// target or headers, repeated headers, a `Content-Length` without its body, a body sent a byte at a time.
///
/// `@unchecked Sendable` because each test uses its connection from one task at a time.
final class RawHTTP: @unchecked Sendable {
    struct Response: Sendable {
        /// 0 when the server closed the connection without a response.
        var status: Int
        /// Lower-cased names.
        var headers: [String: String]
        var body: [UInt8]

        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    static func connect(port: UInt16) async throws -> RawHTTP {
        try await onThread {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw TestStackError("socket() failed: errno \(errno)") }

            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Foundation.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard status == 0 else {
                close(descriptor)
                throw TestStackError("connecting to port \(port) failed: errno \(errno)")
            }
            return RawHTTP(descriptor: descriptor)
        }
    }

    /// Sends `request` on a new connection and reads one response.
    static func exchange(port: UInt16, _ request: [UInt8]) async throws -> Response {
        let connection = try await connect(port: port)
        _ = try await connection.write(request)
        return try await connection.readResponse()
    }

    /// Builds a request with `Host` and, when there is a body or the method is POST, `Content-Length`.
    static func request(
        _ method: String,
        _ target: String,
        headers: [(String, String)] = [],
        body: [UInt8] = []
    ) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" { text += "Content-Length: \(body.count)\r\n" }
        return Array((text + "\r\n").utf8) + body
    }

    /// Writes `bytes`; returns false when the server has closed the connection.
    func write(_ bytes: [UInt8]) async throws -> Bool {
        try await onThread {
            let written = bytes.withUnsafeBytes { buffer in
                send(self.descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            }
            return written == bytes.count
        }
    }

    /// Reads one response; a connection closed before a complete head gives status 0.
    func readResponse() async throws -> Response {
        try await onThread {
            var buffer: [UInt8] = []
            let separator = Array("\r\n\r\n".utf8)
            while buffer.firstRange(of: separator) == nil {
                guard let chunk = self.receive() else { return Response(status: 0, headers: [:], body: []) }
                buffer += chunk
            }
            let headEnd = buffer.firstRange(of: separator)!
            let head = String(decoding: buffer[..<headEnd.lowerBound], as: UTF8.self)
            var body = Array(buffer[headEnd.upperBound...])

            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...]
                    .trimmingCharacters(in: .whitespaces)
            }
            let length = Int(headers["content-length"] ?? "") ?? 0
            while body.count < length, let chunk = self.receive() { body += chunk }
            let status = statusLine.count >= 2 ? Int(statusLine[1]) ?? 0 : 0
            return Response(status: status, headers: headers, body: Array(body.prefix(length)))
        }
    }

    /// Reads once and returns whether the server has closed the connection, by end of stream or reset. Data, or a
    /// read timeout with the connection still open, gives false.
    func isClosedByServer() async throws -> Bool {
        try await onThread {
            var byte: UInt8 = 0
            let count = recv(self.descriptor, &byte, 1, 0)
            return count == 0 || (count < 0 && errno == ECONNRESET)
        }
    }

    /// The next bytes received, or nil at the end of the stream, on a reset or on the read timeout.
    private func receive() -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(chunk[..<count]) : nil
    }
}

/// Runs blocking socket work on its own thread, off Swift's cooperative pool.
private func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}
