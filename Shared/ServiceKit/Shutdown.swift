import Dispatch
import Foundation
import Synchronization

/// A one-way flag that tells every loop of the process to stop taking new work.
public final class ShutdownToken: Sendable {
    private let requested = Atomic<Bool>(false)
    private let waiters = Mutex<[CheckedContinuation<Void, Never>]>([])

    public init() {}

    public var isRequested: Bool { requested.load(ordering: .acquiring) }

    /// Flips the flag and wakes everything waiting in `wait()`. Calling it again does nothing.
    public func request() {
        guard !requested.exchange(true, ordering: .acquiringAndReleasing) else { return }

        let pending = waiters.withLock { list in
            defer { list = [] }
            return list
        }
        for continuation in pending { continuation.resume() }
    }

    /// Suspends until `request()` is called; returns at once if it already was.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = waiters.withLock { list -> Bool in
                if requested.load(ordering: .acquiring) { return true }
                list.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

/// Turns SIGTERM and SIGINT into a shutdown request; a second signal exits at once with status 1.
///
/// Call it first thing in `main`, before any thread starts, because it blocks the signals' default action.
public func installTerminationHandlers(token: ShutdownToken, logger: Logger) -> [any DispatchSourceSignal] {
    [SIGTERM, SIGINT].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            if token.isRequested {
                logger.warning("Second termination signal, exiting at once", metadata: ["signal": "\(number)"])
                exit(1)
            }
            logger.info("Shutdown requested", metadata: ["signal": "\(number)"])
            token.request()
        }
        source.resume()
        return source
    }
}

/// Calls `handler` on every SIGHUP, for reloading configuration.
public func installReloadHandler(_ handler: @escaping @Sendable () -> Void) -> any DispatchSourceSignal {
    signal(SIGHUP, SIG_IGN)
    let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
    source.setEventHandler(handler: handler)
    source.resume()
    return source
}
