import Foundation

/// What the services acknowledged with 200 during a replay: the work they promised to keep.
///
/// The replay writes it to `acknowledged.json` in its directory; `ringtrail chaos-check` compares it with what
/// Redis and the topics hold afterwards. A request that failed or got no response is left out, even though the
/// service may have applied it.
struct AcknowledgedTraffic: Codable, Sendable {
    struct Event: Codable, Sendable {
        var sessionId: String
        var messageId: String
    }

    struct Match: Codable, Sendable {
        var callId: String
        /// The session the agent confirmed, or nil for "none of these".
        var sessionId: String?
    }

    struct Outcome: Codable, Sendable {
        var callId: String
        var disposition: String
    }

    /// Web events accepted by `POST /v1/collect`.
    var events: [Event] = []
    /// Calls whose voice webhook returned 200, so their `calls.events` message was published.
    var calls: [String] = []
    /// Agent decisions accepted by `POST /v1/calls/{callId}/match`, the latest per call last.
    var matches: [Match] = []
    /// Outcomes accepted by `POST /v1/calls/{callId}/outcome`, the latest per call last.
    var outcomes: [Outcome] = []

    static let fileName = "acknowledged.json"

    func write(directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/" + Self.fileName))
    }

    static func read(directory: String) throws -> AcknowledgedTraffic {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReplayError("no \(path); run `ringtrail replay --dir \(directory)` first")
        }
        return try JSONDecoder().decode(AcknowledgedTraffic.self, from: data)
    }
}
