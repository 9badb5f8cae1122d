import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A failure of `bench-calls`, whose message names what failed and what to do next.
struct BenchError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Microseconds since the Unix epoch on `CLOCK_REALTIME`, the clock librdkafka stamps messages with.
func wallClockMicroseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// Blocks the calling thread until the wall clock reaches `micros`.
func sleepUntil(wallClockMicroseconds micros: Int64) {
    var target = timespec(tv_sec: Int(micros / 1_000_000), tv_nsec: Int(micros % 1_000_000) * 1000)
    while clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, nil) == EINTR {}
}

/// Runs `body` on a thread of its own, so that blocking calls stay off Swift's concurrency pool.
func onDedicatedThread<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.name = name
        thread.start()
    }
}

/// One keep-alive HTTP/1.1 connection to an IPv4 server, used by one thread at a time.
///
/// It reads responses framed by `Content-Length` only, which is how libmicrohttpd frames the webhook's responses.
/// A chunked response is reported as an error.
final class HTTPConnection {
    private let host: String
    private let port: UInt16
    private var socket: Int32 = -1
    private var buffer: [UInt8] = []

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    deinit {
        disconnect()
    }

    func connect() throws {
        disconnect()
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            throw BenchError("invalid IPv4 address \(host); give the service URL with a numeric address")
        }
        let descriptor = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw BenchError("socket() failed: \(String(cString: strerror(errno)))") }

        var enabled: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &enabled, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw BenchError("connecting to \(host):\(port) failed: \(reason)")
        }
        socket = descriptor
        buffer.removeAll(keepingCapacity: true)
    }

    func disconnect() {
        if socket >= 0 { close(socket) }
        socket = -1
    }

    /// Sends a complete request and returns the response status.
    ///
    /// The server may have closed a kept-alive connection while it was idle, so a request that fails before any
    /// response byte arrived is sent once more on a new connection.
    func exchange(_ request: [UInt8]) throws -> Int {
        if socket < 0 { try connect() }
        do {
            return try sendAndReceive(request)
        } catch let failure as ConnectionClosed where !failure.receivedAnyByte {
            try connect()
            return try sendAndReceive(request)
        }
    }

    private struct ConnectionClosed: Error {
        var receivedAnyByte: Bool
    }

    private func sendAndReceive(_ request: [UInt8]) throws -> Int {
        var written = 0
        while written < request.count {
            let count = request.withUnsafeBytes { send(socket, $0.baseAddress! + written, request.count - written,
                                                       Int32(MSG_NOSIGNAL)) }
            guard count > 0 else {
                disconnect()
                throw ConnectionClosed(receivedAnyByte: false)
            }
            written += count
        }

        buffer.removeAll(keepingCapacity: true)
        var headerEnd: Int?
        while headerEnd == nil {
            try receiveMore()
            headerEnd = Self.endOfHeaders(in: buffer)
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        let statusParts = lines.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
            disconnect()
            throw BenchError("invalid HTTP status line: \(lines.first ?? "")")
        }
        var contentLength: Int?
        var closes = false
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
            if name == "content-length" { contentLength = Int(value) }
            if name == "transfer-encoding", value.contains("chunked") {
                disconnect()
                throw BenchError("the server sent a chunked response, which this client does not read")
            }
            if name == "connection", value == "close" { closes = true }
        }
        let total = headerEnd! + 4 + (contentLength ?? 0)
        while buffer.count < total { try receiveMore() }
        if closes || contentLength == nil { disconnect() }
        return status
    }

    private func receiveMore() throws {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        guard count > 0 else {
            let receivedAnyByte = !buffer.isEmpty
            disconnect()
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                throw BenchError("no response within 30 s")
            }
            throw ConnectionClosed(receivedAnyByte: receivedAnyByte)
        }
        buffer.append(contentsOf: chunk[0..<count])
    }

    /// Finds the `\r\n\r\n` that ends the response head and returns its index, or nil while it has not arrived.
    private static func endOfHeaders(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// The timings of one run, filled in by the worker threads.
private final class TimingTable: Sendable {
    let timings: Mutex<[RequestTiming?]>

    init(count: Int) {
        timings = Mutex([RequestTiming?](repeating: nil, count: count))
    }
}

/// When one request of an open-loop run was due, sent and completed, in wall-clock microseconds.
struct RequestTiming: Sendable {
    var scheduledAt: Int64
    var sentAt: Int64
    var completedAt: Int64
    /// The HTTP status, or 0 when the request failed without a response.
    var status: Int
    var failure: String?
}

/// Sends prepared HTTP requests on a fixed schedule, whether or not earlier ones have completed (an open loop).
///
/// A pacing thread hands each request, when it falls due, to whichever of `connections` worker threads is idle;
/// each worker owns one keep-alive connection. A request waits for a worker only when every connection is busy,
/// and `RequestTiming` shows that wait as `sentAt - scheduledAt`.
final class OpenLoopSender: Sendable {
    private struct Job {
        var index: Int
        var scheduledAt: Int64
    }

    private struct Queue {
        var jobs: [Job] = []
        var next = 0
        var finished = false
    }

    private let host: String
    private let port: UInt16
    private let connections: Int
    private let queue = Mutex(Queue())
    private let jobsReady = DispatchSemaphore(value: 0)

    init(host: String, port: UInt16, connections: Int) {
        self.host = host
        self.port = port
        self.connections = connections
    }

    /// Sends `requests[i]` at `start + i / rate` seconds and returns every request's timing, in order.
    ///
    /// Blocks the calling thread until the last response arrived or failed.
    func run(_ requests: [[UInt8]], rate: Double, start: Int64) -> [RequestTiming] {
        let results = TimingTable(count: requests.count)
        let workersDone = DispatchGroup()
        for worker in 0..<connections {
            workersDone.enter()
            let thread = Thread { [self] in
                work(requests, results: results)
                workersDone.leave()
            }
            thread.name = "bench-http-\(worker)"
            thread.start()
        }

        let interval = 1_000_000 / rate
        for index in requests.indices {
            let due = start + Int64((Double(index) * interval).rounded())
            sleepUntil(wallClockMicroseconds: due)
            queue.withLock { $0.jobs.append(Job(index: index, scheduledAt: due)) }
            jobsReady.signal()
        }
        queue.withLock { $0.finished = true }
        for _ in 0..<connections { jobsReady.signal() }
        workersDone.wait()

        return results.timings.withLock { timings in
            timings.enumerated().map { index, timing in
                timing ?? RequestTiming(scheduledAt: 0, sentAt: 0, completedAt: 0, status: 0,
                                        failure: "request \(index) was never sent")
            }
        }
    }

    private func work(_ requests: [[UInt8]], results: TimingTable) {
        let connection = HTTPConnection(host: host, port: port)
        try? connection.connect()
        while true {
            jobsReady.wait()
            let job: Job? = queue.withLock { state in
                guard state.next < state.jobs.count else { return nil }
                defer { state.next += 1 }
                return state.jobs[state.next]
            }
            guard let job else {
                if queue.withLock({ $0.finished && $0.next >= $0.jobs.count }) { return }
                continue
            }

            let sentAt = wallClockMicroseconds()
            var timing = RequestTiming(scheduledAt: job.scheduledAt, sentAt: sentAt, completedAt: 0, status: 0)
            do {
                timing.status = try connection.exchange(requests[job.index])
            } catch {
                timing.failure = "\(error)"
            }
            timing.completedAt = wallClockMicroseconds()
            results.timings.withLock { $0[job.index] = timing }
        }
    }
}
