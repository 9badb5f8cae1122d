import CMicroHTTPD
import Foundation
import ServiceKit
import Synchronization

/// Closes connections whose request takes too long to arrive, which libmicrohttpd's idle timeout cannot do for a
/// client that sends a byte now and then.
///
/// A connection has a deadline from the moment it opens or its previous response completes: the idle timeout plus
/// the request timeout, so an idle connection still meets libmicrohttpd's own idle timeout first. Once its request
/// line arrives, the deadline becomes the request timeout from then. While a handler runs there is none. A sweep
/// once a second shuts down the socket of every connection past its deadline, and libmicrohttpd then sees the end of
/// the stream and closes the connection on its own thread.
final class ConnectionDeadlines: Sendable {
    struct Entry {
        let socket: Int32
        var deadline: ContinuousClock.Instant?
        var isShutDown = false
    }

    let idleTimeout: Duration
    let requestTimeout: Duration
    let logger: Logger
    /// Keyed by the `MHD_Connection` pointer. libmicrohttpd reports a connection closed before it closes the socket,
    /// and `closed(_:)` removes the entry under this lock, so `sweep` never shuts down a socket number that a newer
    /// connection reuses.
    /// NOTE: that order was read in the daemon.c of other libmicrohttpd releases, not in 0.9.75's.
    private let entries = Mutex<[UInt: Entry]>([:])
    private let isStopped = Atomic<Bool>(false)

    init(idleTimeout: Duration, requestTimeout: Duration, logger: Logger) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    func opened(_ connection: OpaquePointer) {
        let socket = rt_mhd_connection_socket(connection)
        guard socket >= 0 else { return }

        let deadline = ContinuousClock.now + idleTimeout + requestTimeout
        entries.withLock { $0[Self.key(connection)] = Entry(socket: socket, deadline: deadline) }
    }

    func requestLineReceived(_ connection: OpaquePointer) {
        setDeadline(ContinuousClock.now + requestTimeout, of: connection)
    }

    func handlerStarted(_ connection: OpaquePointer) {
        setDeadline(nil, of: connection)
    }

    func requestCompleted(_ connection: OpaquePointer) {
        setDeadline(ContinuousClock.now + idleTimeout + requestTimeout, of: connection)
    }

    func closed(_ connection: OpaquePointer) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(connection)) }
    }

    /// Shuts down the socket of every connection past its deadline and returns how many it shut down.
    func sweep(now: ContinuousClock.Instant = .now) -> Int {
        entries.withLock { entries in
            var count = 0
            for (key, entry) in entries where !entry.isShutDown {
                guard let deadline = entry.deadline, deadline < now else { continue }

                // shutdown(2), not close(2): the socket stays libmicrohttpd's to close.
                Foundation.shutdown(entry.socket, Int32(SHUT_RDWR))
                entries[key]?.isShutDown = true
                count += 1
            }
            return count
        }
    }

    /// Starts the thread that sweeps once a second until `stop()`.
    func start(metrics: Metrics, metric: String) {
        let thread = Thread { [self] in
            while !isStopped.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 1)
                let count = sweep()
                guard count > 0 else { continue }

                metrics.increment(metric, by: Double(count))
                logger.debug(
                    "Closed connections past their request deadline",
                    metadata: [LogKey.closedConnections: "\(count)"]
                )
            }
        }
        thread.name = "http-deadlines"
        thread.start()
    }

    func stop() {
        isStopped.store(true, ordering: .relaxed)
    }

    private func setDeadline(_ deadline: ContinuousClock.Instant?, of connection: OpaquePointer) {
        entries.withLock { $0[Self.key(connection)]?.deadline = deadline }
    }

    private static func key(_ connection: OpaquePointer) -> UInt {
        UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection)))
    }
}

/// The `MHD_OPTION_NOTIFY_CONNECTION` callback: tracks each connection from its start to its close.
func notifyConnection(
    _ cls: UnsafeMutableRawPointer?,
    _ connection: OpaquePointer?,
    _ socketContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
    _ code: MHD_ConnectionNotificationCode
) {
    guard let cls, let connection else { return }

    let dispatcher = Unmanaged<Dispatcher>.fromOpaque(cls).takeUnretainedValue()
    // MHD_CONNECTION_NOTIFY_STARTED is 0 and MHD_CONNECTION_NOTIFY_CLOSED is 1 in microhttpd.h.
    switch code.rawValue {
    case 0: dispatcher.deadlines.opened(connection)
    case 1: dispatcher.deadlines.closed(connection)
    default: break
    }
}
