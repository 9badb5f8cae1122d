import Foundation
import Testing

/// Replays every file of `Tests/FuzzCorpus/<target>/` through the decoders that `make fuzz` exercises.
///
/// A crash of the test process is a failure in itself. Besides not crashing, a file named `valid-…` must be
/// accepted, and any other file (`invalid-…` seeds, and `crash-…` inputs that once crashed the fuzzer) must be
/// rejected with a reason or accepted; a rejection without a reason fails.
@Suite(.timeLimit(.minutes(1)))
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    static func files(of target: FuzzTarget) -> [URL] {
        let folder = corpus.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func corpusFilesDecodeCleanly(target: FuzzTarget) throws {
        let files = Self.files(of: target)
        #expect(files.contains { $0.lastPathComponent.hasPrefix("valid-") }, "no valid- seed for \(target.rawValue)")
        #expect(
            files.contains { $0.lastPathComponent.hasPrefix("invalid-") },
            "no invalid- seed for \(target.rawValue)"
        )

        for file in files {
            let bytes = Array(try Data(contentsOf: file))
            let outcome = target.run(bytes)
            let name = "\(target.rawValue)/\(file.lastPathComponent)"
            if file.lastPathComponent.hasPrefix("valid-") {
                #expect(outcome == .accepted, "\(name) was rejected: \(outcome)")
            } else if file.lastPathComponent.hasPrefix("invalid-") {
                #expect(outcome != .accepted, "\(name) was accepted")
            }
            if case .rejected(let reason) = outcome {
                #expect(!reason.isEmpty, "\(name) was rejected without a reason")
            }
        }
    }

    @Test
    func everyCorpusFolderIsATarget() throws {
        let folders = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
        for folder in folders {
            #expect(FuzzTarget(rawValue: folder) != nil, "Tests/FuzzCorpus/\(folder) names no fuzz target")
        }
    }
}
