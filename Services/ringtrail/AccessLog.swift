import Foundation

/// One request of an Apache or nginx access log in the combined format.
struct LogRequest: Sendable {
    var client: String
    /// Milliseconds since the Unix epoch.
    var time: Int64
    var method: String
    var path: String
    var status: Int
    var referrer: String?
    var userAgent: String
}

/// Reads access logs in the combined format: `host ident user [time] "request" status bytes "referrer" "agent"`.
enum AccessLog {
    struct Summary {
        var requests: [LogRequest]
        var skippedLines: Int
    }

    /// Parses every line of `path`; lines that do not parse are counted, not fatal.
    ///
    /// - Throws: when the file cannot be read.
    static func read(path: String) throws -> Summary {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReplayError("cannot read the access log \(path)")
        }
        var requests: [LogRequest] = []
        var skipped = 0
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            if let request = parse(Substring(line)) { requests.append(request) } else { skipped += 1 }
        }
        requests.sort { $0.time < $1.time }
        return Summary(requests: requests, skippedLines: skipped)
    }

    /// Parses one line, or returns nil when it is not in the combined format.
    static func parse(_ line: Substring) -> LogRequest? {
        guard let space = line.firstIndex(of: " "),
            let open = line.firstIndex(of: "["),
            let close = line[open...].firstIndex(of: "]")
        else { return nil }

        let client = String(line[..<space])
        guard let time = parseTime(line[line.index(after: open)..<close]) else { return nil }

        var rest = line[line.index(after: close)...]
        let quoted = quotedFields(&rest)
        guard quoted.count >= 3 else { return nil }

        let requestParts = quoted[0].split(separator: " ")
        guard requestParts.count >= 2 else { return nil }

        let numbers = line[line.index(after: close)...].split(separator: "\"")
        let statusText = numbers.count > 2 ? numbers[2].split(separator: " ").first : nil
        let referrer = quoted[1] == "-" || quoted[1].isEmpty ? nil : String(quoted[1])
        return LogRequest(
            client: client,
            time: time,
            method: String(requestParts[0]),
            path: String(requestParts[1]),
            status: statusText.flatMap { Int($0) } ?? 0,
            referrer: referrer,
            userAgent: String(quoted[2])
        )
    }

    /// The contents of each double-quoted field, honouring backslash escapes.
    private static func quotedFields(_ text: inout Substring) -> [Substring] {
        var fields: [Substring] = []
        var index = text.startIndex
        while let start = text[index...].firstIndex(of: "\"") {
            var end = text.index(after: start)
            while end < text.endIndex, text[end] != "\"" {
                if text[end] == "\\" { end = text.index(after: end) }
                if end < text.endIndex { end = text.index(after: end) }
            }
            guard end < text.endIndex else { break }
            fields.append(text[text.index(after: start)..<end])
            index = text.index(after: end)
        }
        return fields
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Parses `17/May/2015:10:05:03 +0000`.
    static func parseTime(_ text: Substring) -> Int64? {
        let parts = text.split(whereSeparator: { $0 == "/" || $0 == ":" || $0 == " " })
        guard parts.count == 7, let day = Int(parts[0]), let monthIndex = months.firstIndex(of: String(parts[1])),
            let year = Int(parts[2]), let hour = Int(parts[3]), let minute = Int(parts[4]), let second = Int(parts[5])
        else { return nil }

        let zone = parts[6]
        guard zone.count == 5, let zoneHours = Int(zone.dropFirst().prefix(2)), let zoneMinutes = Int(zone.suffix(2))
        else { return nil }

        let sign = zone.first == "-" ? -1 : 1
        let iso = String(format: "%04d-%02d-%02dT%02d:%02d:%02d.000Z", year, monthIndex + 1, day, hour, minute, second)
        guard let utc = Model.Timestamp.parseMilliseconds(iso) else { return nil }
        return utc - Int64(sign * (zoneHours * 3600 + zoneMinutes * 60)) * 1000
    }

    /// True for requests a browser makes for page resources rather than pages.
    static func isStaticAsset(_ path: String) -> Bool {
        let bare = path.split(separator: "?", maxSplits: 1).first.map(String.init)?.lowercased() ?? ""
        let extensions = [".png", ".jpg", ".jpeg", ".gif", ".css", ".js", ".ico", ".svg", ".woff", ".woff2", ".ttf",
                          ".eot", ".map", ".otf", ".webp", ".bmp", ".swf", ".mp4", ".mp3", ".pdf", ".zip", ".gz",
                          ".tar", ".bz2", ".deb", ".rpm", ".iso", ".dmg", ".exe", ".jar", ".txt", ".xml", ".json"]
        return extensions.contains { bare.hasSuffix($0) }
    }
}

import Model
