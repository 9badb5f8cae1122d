#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization

/// Gives memory that malloc keeps after large requests back to the system, at most once a second.
///
/// glibc's malloc keeps freed memory in its arenas for reuse, so a burst of large collect requests left the
/// ingester's RSS hundreds of MB high long after the burst ended. `malloc_trim` returns the free part.
public enum MemoryTrim {
    /// When the last trim was scheduled, in milliseconds of `DispatchTime`.
    private static let lastScheduled = Atomic<Int64>(0)
    private static let queue = DispatchQueue(label: "memory-trim")
    /// glibc's `malloc_trim`, looked up at run time because Swift's Glibc module does not import `malloc.h`; nil
    /// with another C library.
    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()

    /// Schedules a trim one second from now, unless one was scheduled less than a second ago. The delay lets the
    /// requests of a burst finish first.
    public static func request() {
        let now = Int64(DispatchTime.now().uptimeNanoseconds / 1_000_000)
        let previous = lastScheduled.load(ordering: .relaxed)
        guard now - previous >= 1000,
              lastScheduled.compareExchange(expected: previous, desired: now, ordering: .relaxed).exchanged
        else { return }
        guard let mallocTrim else { return }
        queue.asyncAfter(deadline: .now() + 1) { _ = mallocTrim(0) }
    }
}
