// The libFuzzer entry point. `scripts/fuzz.sh` compiles it with `swiftc -sanitize=fuzzer` together with
// `Tests/ModelTests/FuzzTargets.swift` and the modules that file imports.
import Foundation

/// The target named by `RINGTRAIL_FUZZ_TARGET`, read once, because libFuzzer calls the entry point millions of times.
private let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["RINGTRAIL_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fatalError("RINGTRAIL_FUZZ_TARGET must be one of \(names), got \"\(name)\"")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = selectedTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
