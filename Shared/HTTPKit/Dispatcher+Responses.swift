import CMicroHTTPD
import ServiceKit
import Synchronization

extension Dispatcher {
    static let requestsMetric = "ringtrail_http_requests_total"
    static let durationMetric = "ringtrail_http_request_duration_seconds"
    static let timeoutsMetric = "ringtrail_http_request_timeouts_total"

    /// Methods that get their own metric label; any other becomes `other`, so clients cannot grow label sets.
    private static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// Headers that libmicrohttpd sets itself from the body and the connection state.
    private static let reservedHeaders: Set<String> = ["content-length", "transfer-encoding", "connection"]

    /// Queues `response` on `connection` and records the request's metrics.
    ///
    /// Runs on the pool thread that owns the connection. Returns libmicrohttpd's verdict; `false` closes the
    /// connection.
    /// With `closing`, the response asks libmicrohttpd to close the connection after sending it.
    func queue(_ response: HTTPResponse, for context: RequestContext, on connection: OpaquePointer,
               closing: Bool = false) -> Bool {
        var status = response.status
        if !(100...599).contains(status) {
            logger.debug("Handler returned an invalid status, sending 500", metadata: ["http.status": "\(status)"])
            status = 500
        }

        let body = response.body
        let created = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(
                bytes.count,
                UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                .RESPMEM_MUST_COPY
            )
        }
        guard let created else {
            logger.info("libmicrohttpd could not allocate a response, closing the connection")
            return false
        }
        defer { MHD_destroy_response(created) }

        addHeaders(of: response, to: created)
        if closing, !isShuttingDown { _ = MHD_add_response_header(created, "Connection", "close") }
        let queued = MHD_queue_response(connection, UInt32(status), created) == MHD_Result.YES
        record(context, status: status)
        return queued
    }

    private func addHeaders(of response: HTTPResponse, to created: OpaquePointer) {
        var hasContentType = false
        for (name, value) in response.headers {
            let lowered = name.lowercased()
            guard !Self.reservedHeaders.contains(lowered) else { continue }

            // libmicrohttpd rejects names and values containing CR or LF, which stops response splitting.
            guard MHD_add_response_header(created, name, value) == MHD_Result.YES else {
                logger.debug("Dropped an invalid response header", metadata: ["http.header": name])
                continue
            }
            hasContentType = hasContentType || lowered == "content-type"
        }
        if !hasContentType {
            _ = MHD_add_response_header(created, "Content-Type", "application/octet-stream")
        }
        if isShuttingDown {
            _ = MHD_add_response_header(created, "Connection", "close")
        }
    }

    private func record(_ context: RequestContext, status: Int) {
        let (method, route) = context.state.withLock { state -> (String, String) in
            if case .found(let route, _) = state.match { return (state.method, route.pattern) }
            return (state.method, "unmatched")
        }
        let methodLabel = Self.knownMethods.contains(method) ? method : "other"
        let elapsed = ContinuousClock.now - context.startedAt
        metrics.increment(Self.requestsMetric, labels: ["route": route, "method": methodLabel, "status": "\(status)"])
        metrics.observe(Self.durationMetric, labels: ["route": route], elapsed.seconds)
    }

    /// Collects the request headers keyed by lower-cased name, joining repeated headers with `", "`.
    static func headers(of connection: OpaquePointer) -> [String: String] {
        var headers: [String: String] = [:]
        withUnsafeMutablePointer(to: &headers) { pointer in
            // The iterator runs synchronously inside this call, so the pointer stays valid while it is used.
            _ = MHD_get_connection_values_n(connection, MHD_ValueKind.HEADER_KIND, collectHeader, pointer)
        }
        return headers
    }
}

/// Adds one header to the `[String: String]` that `context` points to.
private func collectHeader(
    _ context: UnsafeMutableRawPointer?,
    _ kind: MHD_ValueKind,
    _ name: UnsafePointer<CChar>?,
    _ nameLength: Int,
    _ value: UnsafePointer<CChar>?,
    _ valueLength: Int
) -> MHD_Result {
    guard let context, let name else { return MHD_Result.YES }

    let headers = context.assumingMemoryBound(to: [String: String].self)
    let key = decodeBytes(name, nameLength).lowercased()
    let text = value.map { decodeBytes($0, valueLength) } ?? ""
    if let existing = headers.pointee[key] {
        headers.pointee[key] = existing + ", " + text
    } else {
        headers.pointee[key] = text
    }
    return MHD_Result.YES
}

private func decodeBytes(_ pointer: UnsafePointer<CChar>, _ length: Int) -> String {
    let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
    return String(decoding: bytes, as: UTF8.self)
}
