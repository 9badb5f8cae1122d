import Foundation
import Model
import SecurityKit
import Testing

/// Checks the deployment in `compose/` against the code: the configuration that `docker-compose config` prints,
/// the ports and `RINGTRAIL_*` variables the services read, and the example tenants file.
///
/// Needs the `docker-compose` command (Debian's package, which `make deps` installs) but no Docker engine.
@Suite(.timeLimit(.minutes(1)))
struct ComposeFileTests {
    static let applicationServices = ["number-pool", "activity-ingester", "call-router", "attribution-worker"]
    static let allServices = ["kafka", "redis", "topics"] + applicationServices
    static let tenantsExample = "compose/tenants.example.json"

    // MARK: - docker-compose config

    @Test
    func composeConfigExitsSuccessfully() throws {
        let run = try ComposeConfig.commandResult.get()
        #expect(run.status == 0, "docker-compose config failed: \(run.standardError)")
    }

    @Test
    func composeDeclaresSevenServices() throws {
        let config = try ComposeConfig.shared.get()
        #expect(Set(config.serviceNames) == Set(Self.allServices))
    }

    @Test
    func servicesRunTheirOwnExecutable() throws {
        let config = try ComposeConfig.shared.get()
        for name in Self.applicationServices {
            let service = try config.service(name)
            #expect(service.command == [name], "\(name) runs \(service.command)")
        }
        let topics = try config.service("topics")
        #expect(topics.command.prefix(2) == ["ringtrail", "topics"], "topics runs \(topics.command)")
    }

    @Test
    func publishedPortsMatchDefaultPorts() throws {
        let config = try ComposeConfig.shared.get()
        for name in Self.applicationServices {
            let defaultPort = try SourceFacts.defaultPort(of: name)
            let ports = try config.service(name).ports
            #expect(ports.count == 1, "\(name) publishes \(ports.count) ports")
            #expect(ports.first?.published == String(defaultPort), "\(name) publishes \(ports)")
            #expect(ports.first?.target == String(defaultPort), "\(name) publishes \(ports)")
        }
    }

    @Test
    func publishedPortsBindLoopbackOnly() throws {
        let config = try ComposeConfig.shared.get()
        for name in config.serviceNames {
            for port in try config.service(name).ports {
                #expect(port.hostIP == "127.0.0.1", "\(name) publishes \(port) beyond loopback")
            }
        }
    }

    @Test
    func servicesListenOnDefaultPort() throws {
        let config = try ComposeConfig.shared.get()
        for name in Self.applicationServices {
            let defaultPort = try SourceFacts.defaultPort(of: name)
            let address = try config.service(name).environment["RINGTRAIL_HTTP_ADDR"]
            #expect(address == "0.0.0.0:\(defaultPort)", "\(name) has RINGTRAIL_HTTP_ADDR \(address ?? "unset")")
        }
    }

    @Test
    func servicesSetConnectionVariables() throws {
        let config = try ComposeConfig.shared.get()
        let required = [
            "RINGTRAIL_KAFKA_BROKERS", "RINGTRAIL_REDIS_URL", "RINGTRAIL_TENANTS", "RINGTRAIL_HTTP_ADDR",
            "RINGTRAIL_LOG_LEVEL",
        ]
        for name in Self.applicationServices {
            let environment = try config.service(name).environment
            for variable in required {
                #expect(environment[variable]?.isEmpty == false, "\(name) does not set \(variable)")
            }
        }
    }

    @Test
    func environmentUsesOnlyVariablesCodeReads() throws {
        let known = try SourceFacts.configurationVariables()
        try #require(known.contains("RINGTRAIL_KAFKA_BROKERS"), "found only \(known.sorted()) in the source")

        let config = try ComposeConfig.shared.get()
        for name in config.serviceNames {
            for variable in try config.service(name).environment.keys where variable.hasPrefix("RINGTRAIL_") {
                #expect(known.contains(variable), "\(name) sets \(variable), which ServiceConfiguration never reads")
            }
        }
    }

    @Test
    func servicesStartAfterTopicsKafkaAndRedis() throws {
        let config = try ComposeConfig.shared.get()
        let expected = [
            "kafka": "service_healthy",
            "redis": "service_healthy",
            "topics": "service_completed_successfully",
        ]
        for name in Self.applicationServices {
            let conditions = try config.service(name).dependencyConditions
            #expect(conditions == expected, "\(name) depends on \(conditions)")
        }
        let topics = try config.service("topics").dependencyConditions
        #expect(topics == ["kafka": "service_healthy"], "topics depends on \(topics)")
    }

    @Test
    func healthChecksProbeReadyz() throws {
        let config = try ComposeConfig.shared.get()
        for name in Self.applicationServices {
            let defaultPort = try SourceFacts.defaultPort(of: name)
            let check = try config.service(name).healthCheck.joined(separator: " ")
            #expect(check.contains(":\(defaultPort)/readyz"), "\(name) health check is \"\(check)\"")
        }
        for name in ["kafka", "redis"] {
            #expect(try !config.service(name).healthCheck.isEmpty, "\(name) has no health check")
        }
    }

    @Test
    func servicesMountTenantsExample() throws {
        let config = try ComposeConfig.shared.get()
        let example = SourceFacts.packageRoot.appendingPathComponent(Self.tenantsExample).resolvingSymlinksInPath()
        for name in Self.applicationServices {
            let service = try config.service(name)
            let tenantsPath = try #require(service.environment["RINGTRAIL_TENANTS"], "\(name) has no RINGTRAIL_TENANTS")
            let source = service.mounts.first { $0.target == tenantsPath }.map {
                URL(fileURLWithPath: $0.source).resolvingSymlinksInPath()
            }
            #expect(source == example, "\(name) mounts \(service.mounts), not \(example.path) at \(tenantsPath)")
        }
    }

    // MARK: - Tenants example

    @Test
    func tenantsExampleLoadsAndValidates() throws {
        let path = SourceFacts.packageRoot.appendingPathComponent(Self.tenantsExample).path
        let file = try TenantsFile.load(path: path)
        #expect(!file.advertisers.isEmpty)
        #expect(file.advertisers.allSatisfy { !$0.keys.isEmpty }, "an example advertiser has no key")
        #expect(file.advertisers.allSatisfy { !$0.pools.isEmpty }, "an example advertiser has no pool")
    }

    /// Every example key that compose/README.md lists must hash to a key of the tenants example, and every hash in
    /// the example must belong to a listed key, so that the README and the file cannot drift apart.
    @Test
    func readmeKeysMatchTenantsHashes() throws {
        let root = SourceFacts.packageRoot
        let readme = try String(contentsOf: root.appendingPathComponent("compose/README.md"), encoding: .utf8)
        let documentedKeys = Set(
            readme.matches(of: /rt_example-[A-Za-z0-9-]+/).map { String($0.output) }
        )
        try #require(!documentedKeys.isEmpty, "compose/README.md lists no rt_example- keys")

        let file = try TenantsFile.load(path: root.appendingPathComponent(Self.tenantsExample).path)
        let fileKeys = file.advertisers.flatMap(\.keys) + file.callCenters.flatMap(\.keys)
        let fileHashes = Set(fileKeys.map(\.hash))
        let documentedHashes = Set(documentedKeys.map { "sha256:" + Digest.sha256Hex($0) })
        #expect(documentedHashes.subtracting(fileHashes).isEmpty, "README keys missing from the example")
        #expect(fileHashes.subtracting(documentedHashes).isEmpty, "example hashes without a README key")
    }

    // MARK: - Reading the output of both docker-compose versions

    /// PyYAML, in docker-compose 1.x, puts sequences at their key's indentation and wraps long values.
    @Test
    func yamlReaderReadsComposeV1Layout() throws {
        let document = """
            services:
              call-router:
                command:
                - call-router
                environment:
                  RINGTRAIL_PUBLIC_BASE_URL: https://calls.example.com/a/path/long/enough/for/pyyaml/to/wrap/it
                    onto a second line
                  NOTE: 'it''s quoted'
                ports:
                - 127.0.0.1:8083:8083/tcp
                volumes:
                - /srv/tenants.json:/etc/ringtrail/tenants.json:ro
            volumes:
              redis-data: {}
            """
        var parser = YAMLSubsetParser(document)
        let root = try parser.parse()
        let service = try ComposeService(name: "call-router", value: try #require(root["services"]?["call-router"]))

        #expect(service.command == ["call-router"])
        #expect(
            service.environment["RINGTRAIL_PUBLIC_BASE_URL"]
                == "https://calls.example.com/a/path/long/enough/for/pyyaml/to/wrap/it onto a second line"
        )
        #expect(service.environment["NOTE"] == "it's quoted")
        #expect(service.ports.map(\.description) == ["127.0.0.1:8083:8083"])
        #expect(service.mounts.map(\.description) == ["/srv/tenants.json:/etc/ringtrail/tenants.json"])
    }

    /// docker-compose 2.x indents sequences and prints ports and volumes as mappings.
    @Test
    func yamlReaderReadsComposeV2Layout() throws {
        let document = """
            name: compose
            services:
              number-pool:
                command:
                  - number-pool
                depends_on:
                  kafka:
                    condition: service_healthy
                    required: true
                environment:
                  RINGTRAIL_HTTP_ADDR: 0.0.0.0:8081
                ports:
                  - mode: ingress
                    host_ip: 127.0.0.1
                    target: 8081
                    published: "8081"
                    protocol: tcp
                volumes:
                  - type: bind
                    source: /srv/tenants.json
                    target: /etc/ringtrail/tenants.json
                    read_only: true
                    bind:
                      create_host_path: true
            """
        var parser = YAMLSubsetParser(document)
        let root = try parser.parse()
        let service = try ComposeService(name: "number-pool", value: try #require(root["services"]?["number-pool"]))

        #expect(service.command == ["number-pool"])
        #expect(service.dependencyConditions == ["kafka": "service_healthy"])
        #expect(service.environment["RINGTRAIL_HTTP_ADDR"] == "0.0.0.0:8081")
        #expect(service.ports.map(\.description) == ["127.0.0.1:8081:8081"])
        #expect(service.mounts.map(\.description) == ["/srv/tenants.json:/etc/ringtrail/tenants.json"])
    }

    @Test
    func yamlReaderRejectsAnchors() {
        var parser = YAMLSubsetParser("services:\n  a: &shared\n    image: x\n")
        #expect(throws: ComposeTestError.self) { try parser.parse() }
    }
}

// MARK: - Facts read from the package's source

/// Values the deployment must agree with, read from the Swift sources so that a change there fails this suite.
enum SourceFacts {
    /// The package root: this file is `Tests/IntegrationTests/ComposeFileTests.swift`.
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Returns the `defaultPort:` argument in `Services/<name>/main.swift`.
    static func defaultPort(of service: String) throws -> Int {
        let path = packageRoot.appendingPathComponent("Services/\(service)/main.swift")
        let source = try String(contentsOf: path, encoding: .utf8)
        guard let match = source.firstMatch(of: /defaultPort:\s*(\d+)/), let port = Int(match.output.1) else {
            throw ComposeTestError("no defaultPort: argument in \(path.path)")
        }
        return port
    }

    /// Returns the `"RINGTRAIL_…"` string literals in ServiceConfiguration.swift, which are the variables the
    /// services read.
    static func configurationVariables() throws -> Set<String> {
        let path = packageRoot.appendingPathComponent("Shared/ServiceKit/ServiceConfiguration.swift")
        let source = try String(contentsOf: path, encoding: .utf8)
        return Set(source.matches(of: /"(RINGTRAIL_[A-Z0-9_]+)"/).map { String($0.output.1) })
    }
}

struct ComposeTestError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

// MARK: - Running docker-compose

/// The output of `docker-compose -f compose/docker-compose.yml config`, run once for the whole suite.
struct ComposeConfig: Sendable {
    struct Run: Sendable {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    static let commandResult = Result { try runComposeConfig() }
    static let shared = Result { () throws -> ComposeConfig in
        let run = try commandResult.get()
        guard run.status == 0 else {
            throw ComposeTestError("docker-compose config exited with \(run.status): \(run.standardError)")
        }
        var parser = YAMLSubsetParser(run.standardOutput)
        return ComposeConfig(root: try parser.parse())
    }

    let root: YAMLValue

    var serviceNames: [String] { root["services"]?.entries?.keys.sorted() ?? [] }

    func service(_ name: String) throws -> ComposeService {
        guard let value = root["services"]?[name] else {
            throw ComposeTestError("docker-compose config shows no service \(name)")
        }
        return try ComposeService(name: name, value: value)
    }

    /// Runs the command with the package root as working directory and without `RINGTRAIL_*` or `COMPOSE_*`
    /// variables, so the test's own environment cannot change what the file interpolates.
    private static func runComposeConfig() throws -> Run {
        guard let executable = findExecutable("docker-compose") else {
            throw ComposeTestError(
                "docker-compose is not installed or not on PATH; run `make deps`, which installs Debian's "
                    + "docker-compose package"
            )
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["-f", "compose/docker-compose.yml", "config"]
        process.currentDirectoryURL = SourceFacts.packageRoot
        process.environment = ProcessInfo.processInfo.environment.filter { key, _ in
            !key.hasPrefix("RINGTRAIL_") && !key.hasPrefix("COMPOSE_")
        }

        // Files instead of pipes, so that a full pipe cannot block the child while the test waits for it.
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("compose-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outputURL = directory.appendingPathComponent("stdout")
        let errorURL = directory.appendingPathComponent("stderr")
        let output = try makeEmptyFile(at: outputURL)
        let error = try makeEmptyFile(at: errorURL)
        process.standardOutput = output
        process.standardError = error

        try process.run()
        process.waitUntilExit()
        try output.close()
        try error.close()
        return Run(
            status: process.terminationStatus,
            standardOutput: try String(contentsOf: outputURL, encoding: .utf8),
            standardError: try String(contentsOf: errorURL, encoding: .utf8)
        )
    }

    private static func makeEmptyFile(at url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw ComposeTestError("cannot create \(url.path) for the output of docker-compose")
        }
        return try FileHandle(forWritingTo: url)
    }

    private static func findExecutable(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }
}

/// One service of the normalized configuration, in the forms docker-compose 1.x and 2.x print.
struct ComposeService {
    struct Port: CustomStringConvertible {
        var hostIP: String?
        var published: String?
        var target: String
        var description: String { "\(hostIP ?? "*"):\(published ?? "-"):\(target)" }
    }

    struct Mount: CustomStringConvertible {
        var source: String
        var target: String
        var description: String { "\(source):\(target)" }
    }

    let command: [String]
    let environment: [String: String]
    let ports: [Port]
    let mounts: [Mount]
    let healthCheck: [String]
    let dependencyConditions: [String: String]

    init(name: String, value: YAMLValue) throws {
        command = Self.strings(value["command"])
        healthCheck = Self.strings(value["healthcheck"]?["test"])
        environment = try Self.environment(value["environment"], service: name)
        ports = try (value["ports"]?.items ?? []).map { try Self.port($0, service: name) }
        mounts = try (value["volumes"]?.items ?? []).map { try Self.mount($0, service: name) }
        var conditions: [String: String] = [:]
        for (dependency, settings) in value["depends_on"]?.entries ?? [:] {
            conditions[dependency] = settings["condition"]?.string ?? ""
        }
        dependencyConditions = conditions
    }

    /// Reads a sequence of strings, or one string split at spaces. Compose splits a string command like a shell
    /// would, but the commands in this file are sequences, so splitting at spaces is enough here.
    private static func strings(_ value: YAMLValue?) -> [String] {
        if let items = value?.items { return items.compactMap(\.string) }
        if let text = value?.string { return text.split(separator: " ").map(String.init) }
        return []
    }

    /// Reads a mapping of names to values, or a sequence of `NAME=value` strings.
    private static func environment(_ value: YAMLValue?, service: String) throws -> [String: String] {
        guard let value else { return [:] }
        if let entries = value.entries { return entries.mapValues { $0.string ?? "" } }
        var result: [String: String] = [:]
        for item in value.items ?? [] {
            guard let text = item.string else { throw ComposeTestError("\(service): invalid environment entry") }
            let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            result[String(parts[0])] = parts.count == 2 ? String(parts[1]) : ""
        }
        return result
    }

    /// Reads `[host_ip:][published:]target[/protocol]` as 1.x prints it, or the long mapping that 2.x prints.
    private static func port(_ value: YAMLValue, service: String) throws -> Port {
        if let entries = value.entries {
            guard let target = entries["target"]?.string else {
                throw ComposeTestError("\(service): port without target")
            }
            return Port(hostIP: entries["host_ip"]?.string, published: entries["published"]?.string, target: target)
        }
        guard let text = value.string else { throw ComposeTestError("\(service): invalid port entry") }
        let withoutProtocol = text.split(separator: "/").first.map(String.init) ?? text
        let parts = withoutProtocol.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        switch parts.count {
        case 1: return Port(hostIP: nil, published: nil, target: parts[0])
        case 2: return Port(hostIP: nil, published: parts[0], target: parts[1])
        case 3: return Port(hostIP: parts[0], published: parts[1], target: parts[2])
        default: throw ComposeTestError("\(service): cannot read port \(text)")
        }
    }

    /// Reads `source:target[:mode]` as 1.x prints it, or the long mapping that 2.x prints.
    private static func mount(_ value: YAMLValue, service: String) throws -> Mount {
        if let entries = value.entries {
            guard let source = entries["source"]?.string, let target = entries["target"]?.string else {
                throw ComposeTestError("\(service): volume without source or target")
            }
            return Mount(source: source, target: target)
        }
        guard let text = value.string else { throw ComposeTestError("\(service): invalid volume entry") }
        let parts = text.split(separator: ":").map(String.init)
        guard parts.count >= 2 else { return Mount(source: "", target: text) }
        return Mount(source: parts[0], target: parts[1])
    }
}

// MARK: - Reading the YAML that docker-compose prints

/// A value in a YAML document: a scalar as text, a mapping or a sequence.
enum YAMLValue: Sendable, Equatable {
    case scalar(String)
    case mapping([String: YAMLValue])
    case sequence([YAMLValue])

    subscript(key: String) -> YAMLValue? { entries?[key] }

    var string: String? {
        if case .scalar(let text) = self { return text }
        return nil
    }

    var entries: [String: YAMLValue]? {
        if case .mapping(let entries) = self { return entries }
        return nil
    }

    var items: [YAMLValue]? {
        if case .sequence(let items) = self { return items }
        return nil
    }
}

/// A reader for the block-style YAML that `docker-compose config` prints (PyYAML in 1.x, go-yaml in 2.x).
///
/// It reads nested block mappings and sequences, also sequences at the same indentation as their key. It reads
/// plain, single-quoted and double-quoted scalars, also when they continue on more-indented lines, and the empty
/// collections `{}` and `[]`. Anything else (anchors, aliases, tags, block scalars, other flow collections,
/// comments after a value) throws, so that the suite fails instead of checking a misread value.
struct YAMLSubsetParser {
    private struct Line {
        let number: Int
        var indent: Int
        var text: String
    }

    private var lines: [Line]
    private var index = 0

    init(_ document: String) {
        var lines: [Line] = []
        for (offset, raw) in document.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let content = line.drop { $0 == " " }
            let text = content.trimmingCharacters(in: .whitespaces)
            if text.isEmpty || text.hasPrefix("#") || text == "---" || text == "..." { continue }
            lines.append(Line(number: offset + 1, indent: line.count - content.count, text: text))
        }
        self.lines = lines
    }

    mutating func parse() throws -> YAMLValue {
        guard let first = lines.first else { return .mapping([:]) }
        let value = try parseBlock(indent: first.indent)
        if index < lines.count { throw failure("unexpected indentation", at: lines[index]) }
        return value
    }

    private static func isSequenceItem(_ text: String) -> Bool { text == "-" || text.hasPrefix("- ") }

    private mutating func parseBlock(indent: Int) throws -> YAMLValue {
        Self.isSequenceItem(lines[index].text) ? try parseSequence(indent: indent) : try parseMapping(indent: indent)
    }

    private mutating func parseMapping(indent: Int) throws -> YAMLValue {
        var entries: [String: YAMLValue] = [:]
        while index < lines.count, lines[index].indent == indent, !Self.isSequenceItem(lines[index].text) {
            let line = lines[index]
            guard let (key, rest) = try splitKey(line) else { throw failure("expected \"key: value\"", at: line) }
            guard entries[key] == nil else { throw failure("duplicate key \(key)", at: line) }

            index += 1
            entries[key] = try parseValue(rest, ownerIndent: indent, at: line, allowsIndentlessSequence: true)
        }
        return .mapping(entries)
    }

    private mutating func parseSequence(indent: Int) throws -> YAMLValue {
        var items: [YAMLValue] = []
        while index < lines.count, lines[index].indent == indent, Self.isSequenceItem(lines[index].text) {
            let line = lines[index]
            let item = String(line.text.dropFirst().drop { $0 == " " })
            let startsBlock = try !item.isEmpty && (Self.isSequenceItem(item) || splitKey(line, text: item) != nil)
            if startsBlock {
                // Reads a block that starts on the dash's line as if it began on a line of its own, indented to
                // the column after the dash.
                lines[index] = Line(number: line.number, indent: indent + line.text.count - item.count, text: item)
                items.append(try parseBlock(indent: lines[index].indent))
            } else {
                index += 1
                items.append(try parseValue(item, ownerIndent: indent, at: line, allowsIndentlessSequence: false))
            }
        }
        return .sequence(items)
    }

    /// Parses what follows `key:` or `- `: a scalar on the same line, maybe continued on more-indented lines,
    /// or a block on the lines below.
    private mutating func parseValue(
        _ rest: String,
        ownerIndent: Int,
        at line: Line,
        allowsIndentlessSequence: Bool
    ) throws -> YAMLValue {
        guard rest.isEmpty else {
            var continued = [rest]
            while index < lines.count, lines[index].indent > ownerIndent {
                continued.append(lines[index].text)
                index += 1
            }
            return try scalar(continued, at: line)
        }

        guard index < lines.count else { return .scalar("") }
        let next = lines[index]
        if next.indent > ownerIndent { return try parseBlock(indent: next.indent) }
        if allowsIndentlessSequence, next.indent == ownerIndent, Self.isSequenceItem(next.text) {
            return try parseSequence(indent: ownerIndent)
        }
        return .scalar("")
    }

    /// Splits `key: value` or `key:`, or returns nil when `text` is not a mapping entry.
    private func splitKey(_ line: Line, text: String? = nil) throws -> (key: String, rest: String)? {
        let text = text ?? line.text
        if text.hasPrefix("'") || text.hasPrefix("\"") {
            let (key, remainder) = try Self.readQuoted(text, at: line)
            guard remainder == ":" || remainder.hasPrefix(": ") else { return nil }
            return (key, remainder.dropFirst().trimmingCharacters(in: .whitespaces))
        }
        if let separator = text.range(of: ": ") {
            let rest = text[separator.upperBound...].trimmingCharacters(in: .whitespaces)
            return (String(text[..<separator.lowerBound]), rest)
        }
        if text.hasSuffix(":") { return (String(text.dropLast()), "") }
        return nil
    }

    /// Builds a scalar from its first line and continuation lines, which YAML folds into one line joined by spaces.
    private func scalar(_ lines: [String], at line: Line) throws -> YAMLValue {
        let first = lines[0]
        if lines.count == 1, first == "{}" { return .mapping([:]) }
        if lines.count == 1, first == "[]" { return .sequence([]) }
        if let marker = first.first, "[{&*!|>%@`".contains(marker) {
            throw failure("unsupported YAML value \(first)", at: line)
        }
        if first.hasPrefix("'") || first.hasPrefix("\"") {
            var folded = first
            for part in lines.dropFirst() {
                // In a double-quoted value, an unescaped backslash at the end of a line joins it without a space.
                let trailingBackslashes = folded.reversed().prefix { $0 == "\\" }.count
                if first.hasPrefix("\""), trailingBackslashes % 2 == 1 {
                    folded.removeLast()
                    folded += part
                } else {
                    folded += " " + part
                }
            }
            let (text, remainder) = try Self.readQuoted(folded, at: line)
            guard remainder.isEmpty else { throw failure("text after a quoted value", at: line) }
            return .scalar(text)
        }
        if lines.contains(where: { $0.contains(" #") }) { throw failure("comment after a value", at: line) }
        return .scalar(lines.joined(separator: " "))
    }

    /// Reads the quoted string at the start of `text` and returns it unescaped with the text after it.
    private static func readQuoted(_ text: String, at line: Line) throws -> (String, String) {
        let quote = text.first!
        var result = ""
        var position = text.index(after: text.startIndex)
        while position < text.endIndex {
            let character = text[position]
            position = text.index(after: position)
            if quote == "'", character == "'" {
                guard position < text.endIndex, text[position] == "'" else {
                    return (result, String(text[position...]))
                }
                result.append("'")
                position = text.index(after: position)
            } else if quote == "\"", character == "\"" {
                return (result, String(text[position...]))
            } else if quote == "\"", character == "\\" {
                guard position < text.endIndex else { break }
                let escaped = text[position]
                position = text.index(after: position)
                switch escaped {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "0": result.append("\0")
                case "\\", "\"", "/", " ": result.append(escaped)
                default: throw failure("unsupported escape \\\(escaped)", at: line)
                }
            } else {
                result.append(character)
            }
        }
        throw failure("unterminated quoted value", at: line)
    }

    private static func failure(_ message: String, at line: Line) -> ComposeTestError {
        ComposeTestError("docker-compose config output, line \(line.number): \(message): \(line.text)")
    }

    private func failure(_ message: String, at line: Line) -> ComposeTestError {
        Self.failure(message, at: line)
    }
}
