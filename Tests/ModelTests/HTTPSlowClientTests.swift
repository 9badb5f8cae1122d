import Foundation
import HTTPKit
import Testing

/// Clients that send slowly or open too many connections are cut off, and the server goes on serving others.
@Suite(.timeLimit(.minutes(1)))
struct HTTPSlowClientTests {
    @Test
    func bodyAtOneBytePerSecondIsCutOff() async throws {
        let router = Router()
        router.post("/upload") { request in .text("\(request.body.count)") }

        try await withServer(router, requestTimeout: .seconds(2)) { port in
            let connection = try await RawConnection.open(port: port)
            let headers = "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n"
            #expect(try await connection.write(Array(headers.utf8)))

            // Each byte keeps libmicrohttpd's idle timeout (30 s here) from firing, so only the request timeout
            // can end this.
            let started = ContinuousClock.now
            var sentBytes = 0
            while ContinuousClock.now - started < .seconds(15) {
                guard try await connection.write([UInt8(ascii: "x")]) else { break }

                sentBytes += 1
                try await Task.sleep(for: .seconds(1))
            }
            let elapsed = ContinuousClock.now - started
            #expect(sentBytes < 20, "the whole body was accepted at one byte per second")
            #expect(elapsed < .seconds(8), "the slow client was cut off only after \(elapsed)")
            #expect(try await connection.readsEndOfStream(), "the server sent data instead of closing")

            let next = try await send(port, "POST", "/upload", body: Array("ok".utf8))
            #expect(next.status == 200)
            #expect(next.text == "2")
        }
    }

    @Test
    func headersAtOneBytePerSecondAreCutOff() async throws {
        let router = Router()
        router.get("/ping") { _ in .text("pong") }

        try await withServer(router, requestTimeout: .seconds(2)) { port in
            let connection = try await RawConnection.open(port: port)
            #expect(try await connection.write(Array("GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8)))

            let elapsed = try await dribble(Array("X-Padding: abcdefghijklmnopqrstuvwxyz\r\n".utf8), on: connection)
            #expect(elapsed < .seconds(8), "the slow client was cut off only after \(elapsed)")
            #expect(try await connection.readsEndOfStream(), "the server sent data instead of closing")
            #expect(try await send(port, "GET", "/ping").status == 200)
        }
    }

    @Test
    func requestLineAtOneBytePerSecondIsCutOff() async throws {
        let router = Router()
        router.get("/ping") { _ in .text("pong") }

        // Before its request line, a connection has the idle timeout plus the request timeout: 4 s here.
        try await withServer(router, connectionTimeout: .seconds(2), requestTimeout: .seconds(2)) { port in
            let connection = try await RawConnection.open(port: port)
            let elapsed = try await dribble(Array("GET /ping?padding=abcdefghijklmnopqrstuvwxyz".utf8), on: connection)
            #expect(elapsed < .seconds(10), "the slow client was cut off only after \(elapsed)")
            #expect(try await connection.readsEndOfStream(), "the server sent data instead of closing")
            #expect(try await send(port, "GET", "/ping").status == 200)
        }
    }

    @Test
    func idleKeepAliveConnectionIsReused() async throws {
        let router = Router()
        router.get("/ping") { _ in .text("pong") }

        // Idle for longer than the request timeout, but within the idle timeout: the connection stays open.
        try await withServer(router, connectionTimeout: .seconds(10), requestTimeout: .seconds(1)) { port in
            let connection = try await RawConnection.open(port: port)
            #expect(try await connection.exchange(requestBytes("GET", "/ping")).status == 200)
            try await Task.sleep(for: .seconds(3))
            #expect(try await connection.exchange(requestBytes("GET", "/ping")).status == 200)
        }
    }

    /// Sends `bytes` one a second until the server closes the connection or they run out, and returns how long
    /// that took. Sending all of them is recorded as a failure.
    private func dribble(_ bytes: [UInt8], on connection: RawConnection) async throws -> Duration {
        let started = ContinuousClock.now
        var sent = 0
        for byte in bytes {
            guard try await connection.write([byte]) else { break }

            sent += 1
            try await Task.sleep(for: .seconds(1))
        }
        #expect(sent < bytes.count, "the server accepted every byte at one byte per second")
        return ContinuousClock.now - started
    }

    @Test
    func connectionsOverPerClientLimitAreClosed() async throws {
        let router = Router()
        router.get("/ping") { _ in .text("pong") }

        try await withServer(router, maxConnectionsPerClient: 2) { port in
            let first = try await RawConnection.open(port: port)
            let second = try await RawConnection.open(port: port)
            #expect(try await first.exchange(requestBytes("GET", "/ping")).status == 200)
            #expect(try await second.exchange(requestBytes("GET", "/ping")).status == 200)

            // The kernel accepts the third connection; libmicrohttpd closes it at once without reading it.
            let third = try await RawConnection.open(port: port)
            await #expect(throws: TestClientError.self) {
                _ = try await third.exchange(requestBytes("GET", "/ping"))
            }

            #expect(try await first.exchange(requestBytes("GET", "/ping")).status == 200)
        }
    }
}

extension RawConnection {
    /// Writes `bytes`; returns false when the server has closed the connection.
    func write(_ bytes: [UInt8]) async throws -> Bool {
        try await offPool {
            let written = bytes.withUnsafeBytes { buffer in
                Foundation.send(self.descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            }
            return written == bytes.count
        }
    }

    /// Reads once; returns true when the server has closed the connection (end of stream or reset), false when
    /// it sent data or the read timed out with the connection still open.
    func readsEndOfStream() async throws -> Bool {
        try await offPool {
            var byte: UInt8 = 0
            let count = recv(self.descriptor, &byte, 1, 0)
            return count == 0 || (count < 0 && errno == ECONNRESET)
        }
    }
}
