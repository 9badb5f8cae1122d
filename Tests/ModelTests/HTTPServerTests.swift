import Foundation
import HTTPKit
import ServiceKit
import Synchronization
import Testing

@Suite(.timeLimit(.minutes(1)))
struct HTTPServerTests {
    // MARK: - Routing

    @Test
    func pathParametersAreDecoded() async throws {
        let router = Router()
        router.get("/v1/numbers/:number/history") { request in
            .json([
                "number": request.pathParameters["number"] ?? "",
                "path": request.path,
                "rawPath": request.rawPath,
                "rawTarget": request.rawTarget,
                "since": request.query["since"] ?? "",
                "tag": request.query["tag"] ?? "",
                "items": request.queryItems.map { "\($0.0)=\($0.1)" }.joined(separator: "&"),
            ])
        }

        try await withServer(router) { port in
            let target = "/v1/numbers/%2B15555550101/history?since=2026-01-01T00%3A00%3A00Z&tag=a+b&tag=c"
            let response = try await send(port, "GET", target)
            #expect(response.status == 200)

            let fields = try response.jsonObject()
            #expect(fields["number"] as? String == "+15555550101")
            #expect(fields["path"] as? String == "/v1/numbers/+15555550101/history")
            #expect(fields["rawPath"] as? String == "/v1/numbers/%2B15555550101/history")
            #expect(fields["rawTarget"] as? String == target)
            #expect(fields["since"] as? String == "2026-01-01T00:00:00Z")
            #expect(fields["tag"] as? String == "c")
            #expect(fields["items"] as? String == "since=2026-01-01T00:00:00Z&tag=a b&tag=c")
        }
    }

    @Test
    func literalSegmentWinsOverParameter() async throws {
        let router = Router()
        router.get("/v1/calls/:callId") { request in .text("call \(request.pathParameters["callId"] ?? "")") }
        router.get("/v1/calls/recent") { _ in .text("recent") }

        try await withServer(router) { port in
            let literal = try await send(port, "GET", "/v1/calls/recent")
            #expect(literal.text == "recent")

            let parameter = try await send(port, "GET", "/v1/calls/CA123")
            #expect(parameter.text == "call CA123")
        }
    }

    @Test
    func unknownPathGets404JSON() async throws {
        try await withServer(Router()) { port in
            let response = try await send(port, "GET", "/nowhere")
            #expect(response.status == 404)
            #expect(response.headers["content-type"] == "application/json")
            #expect(try response.jsonObject()["error"] as? String == "not_found")
        }
    }

    @Test
    func wrongMethodGets405WithAllow() async throws {
        let router = Router()
        router.get("/v1/pools/:pool") { _ in .text("pool") }
        router.delete("/v1/pools/:pool") { _ in .text("deleted") }

        try await withServer(router) { port in
            let response = try await send(port, "POST", "/v1/pools/main", body: Array("{}".utf8))
            #expect(response.status == 405)
            #expect(response.headers["allow"] == "DELETE, GET, HEAD")
            #expect(try response.jsonObject()["error"] as? String == "method_not_allowed")
        }
    }

    @Test
    func headFallsBackToGetWithoutBody() async throws {
        let router = Router()
        router.get("/thing") { _ in .text("twelve bytes") }

        try await withServer(router) { port in
            let response = try await send(port, "HEAD", "/thing")
            #expect(response.status == 200)
            #expect(response.headers["content-length"] == "12")
            #expect(response.body.isEmpty)
        }
    }

    @Test(arguments: ["/v1/numbers/%zz/history", "/v1/numbers/%C3%28/history", "/v1/numbers/%2", "/ok?x=%G1"])
    func invalidPercentEncodingGets400(target: String) async throws {
        let router = Router()
        router.get("/v1/numbers/:number/history") { _ in .text("unreachable") }
        router.get("/ok") { _ in .text("unreachable") }

        try await withServer(router) { port in
            let response = try await send(port, "GET", target)
            #expect(response.status == 400)
            #expect(try response.jsonObject()["error"] as? String == "invalid_request")
        }
    }

    @Test(arguments: [
        ("*", 400),
        ("healthz", 400),
        ("http://example.com/thing?x=1", 200),
        ("HTTP://example.com/thing", 200),
        ("/thing#fragment", 200),
        ("//thing", 404),
        ("/thing/", 404),
    ])
    func unusualTargetsGetAnAnswer(target: String, status: Int) async throws {
        let router = Router()
        router.get("/thing") { _ in .text("thing") }

        try await withServer(router) { port in
            let response = try await send(port, "GET", target)
            #expect(response.status == status)
        }
    }

    // MARK: - Bodies

    struct LeaseBody: Decodable {
        struct Item: Decodable { let number: String }
        let pool: String
        let count: Int
        let items: [Item]
    }

    @Test
    func jsonBodyIsDecoded() async throws {
        try await withServer(makeLeaseRouter()) { port in
            let body = #"{"pool":"main","count":2,"items":[{"number":"+1555"}]}"#
            let response = try await send(port, "POST", "/lease", headers: jsonHeader, body: Array(body.utf8))
            #expect(response.status == 200)
            #expect(response.text == "main 2 +1555")
        }
    }

    @Test(arguments: [
        (#"{"pool":"main","count":"two","items":[]}"#, "`count`"),
        (#"{"pool":"main","count":2,"items":[{"number":"+1"},{"num":"+2"}]}"#, "`items[1].number`"),
        (#"{"pool":"main","count":2,"items":[{"number":null}]}"#, "`items[0].number`"),
        (#"{"pool":"main","#, "not valid JSON"),
        ("", "empty"),
    ])
    func invalidJSONGets400NamingTheProblem(body: String, expected: String) async throws {
        try await withServer(makeLeaseRouter()) { port in
            let response = try await send(port, "POST", "/lease", headers: jsonHeader, body: Array(body.utf8))
            #expect(response.status == 400)

            let fields = try response.jsonObject()
            #expect(fields["error"] as? String == "invalid_json")
            let message = fields["message"] as? String ?? ""
            #expect(message.contains(expected), "message: \(message)")
        }
    }

    @Test
    func nonJSONContentTypeGets415() async throws {
        try await withServer(makeLeaseRouter()) { port in
            let headers = [("Content-Type", "text/plain")]
            let response = try await send(port, "POST", "/lease", headers: headers, body: Array("{}".utf8))
            #expect(response.status == 415)
            #expect(try response.jsonObject()["error"] as? String == "unsupported_media_type")
        }
    }

    @Test
    func formBodyIsDecodedInOrder() async throws {
        let router = Router()
        router.post("/form") { request in
            let fields = try request.formParameters()
            return .text(fields.map { "\($0.0)=\($0.1)" }.joined(separator: "|"))
        }

        try await withServer(router) { port in
            let headers = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
            let body = Array("To=%2B15555550101&Caller=hello+world&Empty=&To=second".utf8)
            let response = try await send(port, "POST", "/form", headers: headers, body: body)
            #expect(response.text == "To=+15555550101|Caller=hello world|Empty=|To=second")

            let invalid = try await send(port, "POST", "/form", headers: headers, body: Array("a=%4".utf8))
            #expect(invalid.status == 400)
            #expect(try invalid.jsonObject()["error"] as? String == "invalid_form")
        }
    }

    @Test
    func oversizedBodyGets413() async throws {
        let router = Router()
        router.post("/upload") { request in .text("\(request.body.count)") }

        try await withServer(router, maxBodyBytes: 1024) { port in
            let exact = try await send(port, "POST", "/upload", body: [UInt8](repeating: 65, count: 1024))
            #expect(exact.status == 200)
            #expect(exact.text == "1024")

            // Only the headers are sent: the 413 must arrive without the server waiting for the body.
            let connection = try await RawConnection.open(port: port)
            let headers = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 65536\r\n\r\n"
            let response = try await connection.exchange(Array(headers.utf8))
            #expect(response.status == 413)
            #expect(response.headers["connection"] == "close")
            #expect(try response.jsonObject()["error"] as? String == "payload_too_large")
        }
    }

    @Test
    func oversizedChunkedBodyGets413() async throws {
        let router = Router()
        router.post("/upload") { request in .text("\(request.body.count)") }

        try await withServer(router, maxBodyBytes: 1024) { port in
            let connection = try await RawConnection.open(port: port)
            let chunk = String(repeating: "B", count: 600)
            var text = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            for _ in 0..<3 {
                text += "258\r\n" + chunk + "\r\n"
            }
            text += "0\r\n\r\n"
            let response = try await connection.exchange(Array(text.utf8))
            #expect(response.status == 413)
            #expect(try response.jsonObject()["error"] as? String == "payload_too_large")
        }
    }

    // MARK: - Handler errors

    @Test
    func thrownHTTPErrorBecomesItsResponse() async throws {
        let router = Router()
        router.get("/busy") { _ in
            throw HTTPError.unavailable("Redis is unreachable; retry shortly", retryAfterSeconds: 3)
        }

        try await withServer(router) { port in
            let response = try await send(port, "GET", "/busy")
            #expect(response.status == 503)
            #expect(response.headers["retry-after"] == "3")

            let fields = try response.jsonObject()
            #expect(fields["error"] as? String == "unavailable")
            #expect(fields["message"] as? String == "Redis is unreachable; retry shortly")
        }
    }

    struct SecretFailure: Error {}

    @Test
    func otherErrorGets500AndIsLogged() async throws {
        LogSink.shared.startRecording()
        let router = Router()
        router.post("/v1/explode/:id") { _ in throw SecretFailure() }

        try await withServer(router) { port in
            let response = try await send(port, "POST", "/v1/explode/1", body: Array("private body".utf8))
            #expect(response.status == 500)
            #expect(try response.jsonObject()["error"] as? String == "internal_error")
            #expect(!response.text.contains("SecretFailure"))
        }

        let entries = LogSink.shared.recordedEntries().filter { $0.metadata["http.route"] == "/v1/explode/:id" }
        #expect(entries.count == 1)
        #expect(entries.first?.level == .error)
        #expect(entries.first?.metadata.values.contains { $0.contains("private body") } == false)
    }

    // MARK: - Concurrency and connections

    @Test
    func slowHandlerDoesNotBlockOtherRequests() async throws {
        let gate = Gate()
        let router = Router()
        router.get("/slow") { _ in
            await gate.wait()
            return .text("slow done")
        }
        router.get("/fast") { _ in .text("fast") }

        // One polling thread: a handler that held it would stall every other request.
        try await withServer(router, threads: 1) { port in
            async let slow = send(port, "GET", "/slow")
            try await Task.sleep(for: .milliseconds(100))
            for _ in 0..<20 {
                let fast = try await send(port, "GET", "/fast")
                #expect(fast.text == "fast")
            }
            #expect(!gate.isOpen)

            gate.open()
            let slowResponse = try await slow
            #expect(slowResponse.text == "slow done")
        }
    }

    @Test
    func keepAliveServesTwoRequestsOnOneConnection() async throws {
        let router = Router()
        router.get("/count/:n") { request in .text("n=\(request.pathParameters["n"] ?? "")") }

        try await withServer(router) { port in
            let connection = try await RawConnection.open(port: port)
            let first = try await connection.exchange(requestBytes("GET", "/count/1"))
            #expect(first.status == 200)
            #expect(first.text == "n=1")
            #expect(first.headers["connection"] != "close")

            let second = try await connection.exchange(requestBytes("GET", "/count/2"))
            #expect(second.status == 200)
            #expect(second.text == "n=2")

            let notFound = try await connection.exchange(requestBytes("GET", "/missing"))
            #expect(notFound.status == 404)
            let third = try await connection.exchange(requestBytes("GET", "/count/3"))
            #expect(third.text == "n=3")
        }
    }

    @Test
    func bindingAPortInUseThrows() async throws {
        try await withServer(Router()) { port in
            let second = HTTPServer(host: "127.0.0.1", port: port, router: Router(), logger: Logger(label: "test"))
            #expect {
                try second.start()
            } throws: { error in
                guard let error = error as? HTTPServerError else { return false }
                return error.code == .bind && error.description.contains("Address already in use")
            }
        }
    }

    @Test
    func shutdownReleasesThePort() async throws {
        // A port below the kernel's ephemeral range (32768 and up): a port-0 listener or an outgoing connection
        // of a test running alongside could otherwise take the port between the shutdown and the second bind.
        var started: (server: HTTPServer, port: UInt16)?
        for _ in 0..<100 where started == nil {
            let candidate = UInt16.random(in: 20_000..<32_000)
            let server = HTTPServer(host: "127.0.0.1", port: candidate, router: Router(), logger: Logger(label: "test"))
            if (try? server.start()) != nil { started = (server, candidate) }
        }
        let (first, port) = try #require(started)
        #expect(first.boundPort == port)
        #expect(try await offPool { first.shutdown() })

        let second = HTTPServer(host: "127.0.0.1", port: port, router: Router(), logger: Logger(label: "test"))
        try second.start()
        #expect(second.boundPort == port)
        #expect(try await offPool { second.shutdown() })
    }

    @Test
    func shutdownWaitsForRunningHandler() async throws {
        let gate = Gate()
        let router = Router()
        router.get("/slow") { _ in
            await gate.wait()
            return .text("finished")
        }
        let server = HTTPServer(host: "127.0.0.1", port: 0, router: router, logger: Logger(label: "test"))
        try server.start()
        let port = server.boundPort

        async let slow = send(port, "GET", "/slow")
        try await gate.untilWaiting()
        async let stopped = offPool { server.shutdown() }
        try await Task.sleep(for: .milliseconds(100))
        gate.open()

        let response = try await slow
        #expect(response.status == 200)
        #expect(response.text == "finished")
        #expect(response.headers["connection"] == "close")
        #expect(try await stopped)
        #expect(server.boundPort == 0)
        await #expect(throws: (any Error).self) { try await send(port, "GET", "/slow") }
    }

    @Test
    func shutdownAnswers503AfterGracePeriod() async throws {
        let gate = Gate()
        let router = Router()
        router.get("/stuck") { _ in
            await gate.wait()
            return .text("too late")
        }
        let server = HTTPServer(
            host: "127.0.0.1",
            port: 0,
            router: router,
            logger: Logger(label: "test"),
            shutdownGracePeriod: .milliseconds(200)
        )
        try server.start()

        async let stuck = send(server.boundPort, "GET", "/stuck")
        try await gate.untilWaiting()
        let finishedInTime = try await offPool { server.shutdown() }
        #expect(!finishedInTime)

        let response = try await stuck
        #expect(response.status == 503)
        #expect(try response.jsonObject()["error"] as? String == "unavailable")
        gate.open()
    }

    // MARK: - Standard endpoints

    @Test
    func healthzReturnsOK() async throws {
        let router = Router()
        addStandardEndpoints(to: router) { [:] }

        try await withServer(router) { port in
            let response = try await send(port, "GET", "/healthz")
            #expect(response.status == 200)
            #expect(try response.jsonObject()["status"] as? String == "ok")
        }
    }

    @Test
    func readyzReportsBothStates() async throws {
        let redisFailure = Mutex<String?>(nil)
        let router = Router()
        addStandardEndpoints(to: router) {
            ["redis": redisFailure.withLock { $0 }, "kafka": nil]
        }

        try await withServer(router) { port in
            let ready = try await send(port, "GET", "/readyz")
            #expect(ready.status == 200)
            let readyFields = try ready.jsonObject()
            #expect(readyFields["status"] as? String == "ready")
            #expect(readyFields["checks"] as? [String: String] == ["redis": "ok", "kafka": "ok"])

            redisFailure.withLock { $0 = "connection refused" }
            let notReady = try await send(port, "GET", "/readyz")
            #expect(notReady.status == 503)
            let fields = try notReady.jsonObject()
            #expect(fields["status"] as? String == "not_ready")
            #expect(fields["error"] as? String == "not_ready")
            #expect(fields["checks"] as? [String: String] == ["redis": "connection refused", "kafka": "ok"])
        }
    }

    @Test
    func metricsCountRequestsByRoutePattern() async throws {
        let router = Router()
        addStandardEndpoints(to: router) { [:] }
        router.get("/v1/metered/:id") { _ in .text("ok") }

        try await withServer(router) { port in
            _ = try await send(port, "GET", "/v1/metered/1")
            _ = try await send(port, "GET", "/v1/metered/2")
            _ = try await send(port, "GET", "/v1/unmetered-\(UUID().uuidString)")

            let response = try await send(port, "GET", "/metrics")
            #expect(response.status == 200)
            #expect(response.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)

            let text = response.text
            let counter = #"ringtrail_http_requests_total{method="GET",route="/v1/metered/:id",status="200"} 2"#
            #expect(text.contains(counter))
            #expect(text.contains(#"ringtrail_http_request_duration_seconds_count{route="/v1/metered/:id"} 2"#))
            #expect(text.contains(#"route="unmatched",status="404"}"#))
            #expect(!text.contains("/v1/metered/1"))
        }
    }
}

// MARK: - Fixtures

private let jsonHeader = [("Content-Type", "application/json")]

private func makeLeaseRouter() -> Router {
    let router = Router()
    router.post("/lease") { request in
        let body = try request.decodeJSON(HTTPServerTests.LeaseBody.self)
        return .text("\(body.pool) \(body.count) \(body.items.map(\.number).joined(separator: ","))")
    }
    return router
}

/// Starts a server on a free loopback port, runs `body` with the port, then shuts the server down.
func withServer(
    _ router: Router,
    maxBodyBytes: Int = 1 << 20,
    threads: Int = 2,
    connectionTimeout: Duration = .seconds(30),
    requestTimeout: Duration = .seconds(30),
    maxConnectionsPerClient: Int = 256,
    _ body: (UInt16) async throws -> Void
) async throws {
    let server = HTTPServer(
        host: "127.0.0.1",
        port: 0,
        router: router,
        logger: Logger(label: "http-test"),
        maxBodyBytes: maxBodyBytes,
        threads: threads,
        connectionTimeout: connectionTimeout,
        requestTimeout: requestTimeout,
        maxConnectionsPerClient: maxConnectionsPerClient
    )
    try server.start()
    #expect(server.boundPort != 0)

    do {
        try await body(server.boundPort)
    } catch {
        _ = try await offPool { server.shutdown() }
        throw error
    }
    #expect(try await offPool { server.shutdown() })
}

/// A latch that handlers await until the test opens it.
private final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    var isOpen: Bool { state.withLock { $0.isOpen } }

    /// The number of handlers waiting at the gate.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Polls until `count` handlers wait at the gate, so a test acts only once its request is in flight.
    func untilWaiting(_ count: Int = 1) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while waiting < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }

    func open() {
        let waiters = state.withLock { state in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isOpen = state.withLock { state in
                if !state.isOpen { state.waiters.append(continuation) }
                return state.isOpen
            }
            if isOpen { continuation.resume() }
        }
    }
}

/// Runs blocking work on its own thread, so socket reads and `shutdown()` never hold a thread of the cooperative
/// pool that the server's handler tasks need.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try work() }) }.start()
    }
}

func requestBytes(
    _ method: String,
    _ target: String,
    headers: [(String, String)] = [],
    body: [UInt8] = []
) -> [UInt8] {
    var text = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for (name, value) in headers { text += "\(name): \(value)\r\n" }
    if !body.isEmpty || method == "POST" { text += "Content-Length: \(body.count)\r\n" }
    text += "\r\n"
    return Array(text.utf8) + body
}

/// Sends one request on a new connection and returns the response.
func send(
    _ port: UInt16,
    _ method: String,
    _ target: String,
    headers: [(String, String)] = [],
    body: [UInt8] = []
) async throws -> RawResponse {
    let connection = try await RawConnection.open(port: port)
    return try await connection.exchange(requestBytes(method, target, headers: headers, body: body), method: method)
}

struct RawResponse: Sendable {
    let status: Int
    /// Lower-cased names.
    let headers: [String: String]
    let body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func jsonObject() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body))
        return try #require(object as? [String: Any], "body is not a JSON object: \(text)")
    }
}

struct TestClientError: Error, CustomStringConvertible {
    let description: String
}

/// A blocking HTTP/1.1 client connection over a raw socket, closed when released.
///
/// `@unchecked Sendable` because each test uses its connection from one task at a time, one exchange after another.
final class RawConnection: @unchecked Sendable {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    static func open(port: UInt16) async throws -> RawConnection {
        try await offPool {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { throw TestClientError(description: "socket() failed: \(errno)") }

            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard status == 0 else {
                close(descriptor)
                throw TestClientError(description: "connect to port \(port) failed: errno \(errno)")
            }
            return RawConnection(descriptor: descriptor)
        }
    }

    /// Writes `request` and reads one response. A `HEAD` response has no body, whatever its `Content-Length`.
    func exchange(_ request: [UInt8], method: String = "GET") async throws -> RawResponse {
        try await offPool { try self.exchangeBlocking(request, method: method) }
    }

    private func exchangeBlocking(_ request: [UInt8], method: String) throws -> RawResponse {
        let written = request.withUnsafeBytes { bytes in
            Foundation.send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        }
        guard written == request.count else { throw TestClientError(description: "send wrote \(written) bytes") }

        let separator = Array("\r\n\r\n".utf8)
        var headerEnd = buffer.firstRange(of: separator)
        while headerEnd == nil {
            try fill()
            headerEnd = buffer.firstRange(of: separator)
        }
        let head = String(decoding: buffer[..<headerEnd!.lowerBound], as: UTF8.self)
        buffer.removeSubrange(..<headerEnd!.upperBound)

        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestClientError(description: "invalid status line in \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }

        let length = method == "HEAD" ? 0 : Int(headers["content-length"] ?? "") ?? 0
        while buffer.count < length { try fill() }
        let body = Array(buffer[..<length])
        buffer.removeSubrange(..<length)
        #expect(headers["content-type"] != nil, "every response has a Content-Type")
        #expect(headers["content-length"] != nil || status == 204, "every response has a Content-Length")
        return RawResponse(status: status, headers: headers, body: body)
    }

    private func fill() throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else {
            throw TestClientError(description: "connection closed or timed out while reading (errno \(errno))")
        }
        buffer.append(contentsOf: chunk[..<count])
    }
}
