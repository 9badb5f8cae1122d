import CMicroHTTPD
import Foundation
import ServiceKit
import Synchronization

extension HTTPServer {
    /// The polling method libmicrohttpd uses on this system, for the start-up log.
    static var pollingName: String {
        MHD_is_feature_supported(.FEATURE_EPOLL) == MHD_Result.YES ? "epoll" : "poll"
    }

    /// Starts libmicrohttpd on `socket`; returns `nil` when it refuses, after logging its reason through the
    /// dispatcher's library log.
    func startDaemon(socket: ListeningSocket, dispatcher: Dispatcher) -> OpaquePointer? {
        let polling = MHD_is_feature_supported(.FEATURE_EPOLL) == MHD_Result.YES ? MHD_USE_EPOLL : MHD_USE_POLL
        let flags =
            MHD_USE_INTERNAL_POLLING_THREAD.rawValue | polling.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
            | MHD_USE_ERROR_LOG.rawValue
        // Unretained: `HTTPServer` keeps the dispatcher in its `RunningDaemon` until `MHD_stop_daemon` returns.
        let context = Unmanaged.passUnretained(dispatcher).toOpaque()
        let timeoutSeconds = max(1, connectionTimeout.seconds.rounded(.up))

        var options = rt_mhd_options()
        options.flags = flags
        options.listen_socket = socket.descriptor
        options.handler = handleAccess
        options.handler_context = context
        options.completed = completeRequest
        options.completed_context = context
        options.uri_logger = logURI
        options.uri_logger_context = context
        options.error_logger = logLibraryMessage
        options.error_logger_context = context
        // libmicrohttpd warns about a pool of 1 and runs its single internal thread either way.
        options.thread_pool_size = threads > 1 ? UInt32(clamping: threads) : 0
        options.connection_timeout_seconds = UInt32(min(timeoutSeconds, Double(UInt32.max)))
        // libmicrohttpd's own default: the memory for one connection's headers and read and write buffers.
        options.connection_memory_limit = 32 * 1024
        options.connection_limit = UInt32(clamping: maxConnections)
        options.per_ip_connection_limit = UInt32(clamping: maxConnectionsPerClient)
        options.notify_connection = notifyConnection
        options.notify_connection_context = context
        return rt_mhd_start(&options)
    }

    /// Drains and stops a running daemon; returns whether every request finished within `gracePeriod`.
    func stop(_ running: RunningDaemon, gracePeriod: Duration) -> Bool {
        let dispatcher = running.dispatcher
        dispatcher.beginShutdown()
        // libmicrohttpd stops listening but leaves the socket open; this server closes it after the daemon stops.
        let quiesced = MHD_quiesce_daemon(running.daemon)

        let isDrained = { dispatcher.activeRequests.load(ordering: .relaxed) == 0 }
        let finishedInTime = Self.wait(until: isDrained, for: gracePeriod)
        if !finishedInTime {
            let cutShort = dispatcher.failRunningRequests()
            logger.info(
                "HTTP server shutdown grace period ended with handlers still running",
                metadata: [LogKey.inFlight: "\(cutShort)"]
            )
            // Give libmicrohttpd a moment to send the 503s before its connections close.
            _ = Self.wait(until: isDrained, for: .seconds(1))
        }

        // Every running handler's connection was resumed above. microhttpd.h calls stopping with a suspended
        // connection an API violation that leaks or leads to undefined behaviour.
        // NOTE: polling threads process resumes asynchronously. A resume still pending after the extra second is
        // left to `MHD_stop_daemon`, and that path is untested.
        MHD_stop_daemon(running.daemon)
        dispatcher.deadlines.stop()
        if quiesced >= 0 {
            close(running.socket.descriptor)
        }
        boundPortValue.store(0, ordering: .releasing)
        logger.debug("HTTP server stopped", metadata: [LogKey.port: "\(running.socket.port)"])
        return finishedInTime
    }

    /// Polls `condition` every 5 ms until it is true or `timeout` passes, and returns its last value.
    private static func wait(until condition: () -> Bool, for timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }

            usleep(5_000)
        }
        return true
    }
}
