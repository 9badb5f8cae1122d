import CMicroHTTPD
import Foundation
import ServiceKit
import Synchronization

// The C callbacks that libmicrohttpd calls on its pool threads.
//
// Ownership of the two kinds of pointer they receive:
// - The `cls` of every callback is the `Dispatcher`, passed unretained: `HTTPServer` holds the dispatcher strongly
//   and releases it only after `MHD_stop_daemon` has returned, after which libmicrohttpd calls nothing.
// - A request's `con_cls` is its `RequestContext`, retained once in `logURI` (or in `handleAccess` if that did not
//   run) and released once in `completeRequest`. In libmicrohttpd's connection.c, calling the URI log callback
//   marks the request `client_aware`, and the completion callback runs once while that flag is set, then clears it.

/// The `MHD_OPTION_URI_LOG_CALLBACK`: creates the request's context from the target exactly as received.
///
/// Its return value becomes the request's `con_cls`. It is the only callback that receives the target still
/// percent-encoded and with its query, because the access handler gets a decoded URL without the query.
func logURI(
    _ cls: UnsafeMutableRawPointer?,
    _ uri: UnsafePointer<CChar>?,
    _ connection: OpaquePointer?
) -> UnsafeMutableRawPointer? {
    guard let cls else { return nil }

    let dispatcher = Unmanaged<Dispatcher>.fromOpaque(cls).takeUnretainedValue()
    let context = RequestContext(rawTarget: uri.map { String(cString: $0) } ?? "")
    dispatcher.activeRequests.add(1, ordering: .relaxed)
    if let connection { dispatcher.deadlines.requestLineReceived(connection) }
    // Retained once here; `completeRequest` balances it.
    return Unmanaged.passRetained(context).toOpaque()
}

/// The `MHD_AccessHandlerCallback`.
func handleAccess(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ url: UnsafePointer<CChar>?,
    _ method: UnsafePointer<CChar>?,
    _ version: UnsafePointer<CChar>?,
    _ uploadData: UnsafePointer<CChar>?,
    _ uploadDataSize: UnsafeMutablePointer<Int>?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> MHD_Result {
    guard let cls, let connection, let requestContext, let uploadDataSize else { return MHD_Result.NO }

    let dispatcher = Unmanaged<Dispatcher>.fromOpaque(cls).takeUnretainedValue()
    let context: RequestContext
    if let existing = requestContext.pointee {
        // Borrowed: the retain from `logURI` is released only in `completeRequest`.
        context = Unmanaged<RequestContext>.fromOpaque(existing).takeUnretainedValue()
    } else {
        // libmicrohttpd always calls `logURI` first; this covers a request it somehow skipped. Retained once,
        // balanced in `completeRequest` like the one from `logURI`.
        context = RequestContext(rawTarget: url.map { String(cString: $0) } ?? "/")
        dispatcher.activeRequests.add(1, ordering: .relaxed)
        requestContext.pointee = Unmanaged.passRetained(context).toOpaque()
    }

    let isFirstCall = context.state.withLock { !$0.sawHeaders }
    let accepted: Bool
    if isFirstCall {
        accepted = dispatcher.receiveHeaders(context, connection: connection, method: method.map(String.init) ?? "")
    } else if uploadDataSize.pointee > 0, let uploadData {
        let chunk = UnsafeRawBufferPointer(start: uploadData, count: uploadDataSize.pointee)
        accepted = dispatcher.receiveBody(context, chunk: chunk)
        uploadDataSize.pointee = 0
    } else {
        accepted = dispatcher.receiveEnd(context, connection: connection)
    }
    return accepted ? MHD_Result.YES : MHD_Result.NO
}

/// Releases the request's context when libmicrohttpd reports it completed, with or without a response sent.
func completeRequest(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ termination: MHD_RequestTerminationCode
) {
    guard let requestContext, let pointer = requestContext.pointee else { return }

    requestContext.pointee = nil
    // Takes back the retain from `logURI` or `handleAccess`; a handler task still running keeps its own reference.
    let context = Unmanaged<RequestContext>.fromOpaque(pointer).takeRetainedValue()
    context.finish()
    if let cls {
        let dispatcher = Unmanaged<Dispatcher>.fromOpaque(cls).takeUnretainedValue()
        dispatcher.activeRequests.subtract(1, ordering: .relaxed)
        if let connection { dispatcher.deadlines.requestCompleted(connection) }
    }
}

/// Formats a message of libmicrohttpd's `MHD_OPTION_EXTERNAL_LOGGER` and passes it to the rate-limited log.
func logLibraryMessage(
    _ cls: UnsafeMutableRawPointer?,
    _ format: UnsafePointer<CChar>?,
    _ arguments: CVaListPointer?
) {
    guard let cls, let format, let arguments else { return }

    var buffer = [CChar](repeating: 0, count: 512)
    _ = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
    let end = buffer.firstIndex(of: 0) ?? buffer.endIndex
    let message = String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let dispatcher = Unmanaged<Dispatcher>.fromOpaque(cls).takeUnretainedValue()
    dispatcher.libraryLog.log(message.trimmingCharacters(in: .whitespacesAndNewlines), to: dispatcher.logger)
}
