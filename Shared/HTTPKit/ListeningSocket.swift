import Foundation

/// A TCP socket bound to an address and listening, created before libmicrohttpd starts.
///
/// Binding here instead of inside libmicrohttpd gives `start()` the exact `errno` of a failed bind, and the port the
/// kernel chose when port 0 was requested. The socket is non-blocking because every pool thread of libmicrohttpd
/// waits on it, and all but one lose the race for each new connection.
struct ListeningSocket {
    let descriptor: Int32
    let port: UInt16

    /// Resolves `host`, then creates, binds and listens on a socket with `SO_REUSEADDR` but not `SO_REUSEPORT`,
    /// so a second server on the same port fails instead of sharing it.
    ///
    /// - Throws: `HTTPServerError` `.invalidAddress` when `host` does not resolve, `.bind` when a system call fails.
    static func open(host: String, port: UInt16) throws(HTTPServerError) -> ListeningSocket {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            let detail = String(cString: gai_strerror(status))
            throw HTTPServerError(.invalidAddress, "Could not resolve listen host \(host): \(detail)")
        }
        defer { freeaddrinfo(results) }

        let address = "\(host):\(port)"
        let socketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor = socket(first.pointee.ai_family, socketType, 0)
        guard descriptor >= 0 else {
            throw bindError("Could not create a socket for \(address)")
        }

        do throws(HTTPServerError) {
            try configureAndListen(descriptor, address: first.pointee, text: address)
            return ListeningSocket(descriptor: descriptor, port: try boundPort(descriptor, text: address))
        } catch {
            close(descriptor)
            throw error
        }
    }

    private static func configureAndListen(
        _ descriptor: Int32,
        address: addrinfo,
        text: String
    ) throws(HTTPServerError) {
        var enable: Int32 = 1
        guard setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &enable, socklen_t(MemoryLayout<Int32>.size)) == 0
        else {
            throw bindError("Could not set SO_REUSEADDR on the socket for \(text)")
        }

        guard bind(descriptor, address.ai_addr, address.ai_addrlen) == 0 else {
            throw bindError("Could not bind \(text)", hint: "stop the process using it or choose another port")
        }

        guard listen(descriptor, SOMAXCONN) == 0 else {
            throw bindError("Could not listen on \(text)")
        }

        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw bindError("Could not make the socket for \(text) non-blocking")
        }
    }

    private static func boundPort(_ descriptor: Int32, text: String) throws(HTTPServerError) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard status == 0 else {
            throw bindError("Could not read the bound port of \(text)")
        }

        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            switch family {
            case AF_INET6:
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    UInt16(bigEndian: address.pointee.sin6_port)
                }
            default:
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    UInt16(bigEndian: address.pointee.sin_port)
                }
            }
        }
    }

    /// Makes the error for the system call that just failed, with its `errno` text.
    private static func bindError(_ operation: String, hint: String? = nil) -> HTTPServerError {
        let code = errno
        let reason = String(cString: strerror(code))
        let message = hint.map { "\(operation): \(reason); \($0)" } ?? "\(operation): \(reason)"
        return HTTPServerError(.bind, message, systemErrorCode: code, isRetriable: code == EADDRINUSE)
    }
}
