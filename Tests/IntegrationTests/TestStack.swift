import Foundation
import KafkaKit
import Model
import RedisKit
import SecurityKit
import ServiceKit
import Synchronization
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The four services started from the built binaries against the Redis and broker that `make test` starts, with a
/// topic prefix, key prefix, ports and tenants file of their own. One stack serves every integration test of the
/// process; tests keep apart by using their own session and call ids.
final class TestStack: Sendable {
    static let advertiser = "acme"
    static let otherAdvertiser = "globex"
    static let numbers = ["+15555550100", "+15555550101", "+15555550102"]
    static let otherNumbers = ["+15555550200"]
    /// A pool of 20 numbers with half-second leases, for the concurrency test.
    static let stressNumbers = (0..<20).map { String(format: "+1555555%04d", 300 + $0) }
    /// Numbers whose lease history the call scenarios write themselves, one number per scenario.
    static let scenarioNumbers = (0..<13).map { String(format: "+1555555%04d", 500 + $0) }
    /// The Telnyx account key of the test advertiser; tests sign with its private half.
    static let telnyxKeys = Ed25519.makeKeyPair()

    let redisURL: String
    let brokers: String
    let topicPrefix: String
    let keyPrefix: String
    let ports: [String: UInt16]
    let keys: [String: String]
    let twilioToken = "test-twilio-token"
    let redis: RedisClient
    let tenantsPath: String
    let binaries: String
    private let processes: [Process]

    /// The stack of this test process, started on first use.
    static func shared() async throws -> TestStack {
        try await SharedStack.instance.get()
    }

    fileprivate init() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let redisURL = environment["RINGTRAIL_TEST_REDIS_URL"], let brokers = environment["RINGTRAIL_TEST_KAFKA_BROKERS"],
            let binaries = environment["RINGTRAIL_TEST_BIN"]
        else {
            throw TestStackError(
                "RINGTRAIL_TEST_REDIS_URL, RINGTRAIL_TEST_KAFKA_BROKERS and RINGTRAIL_TEST_BIN are not set: run the "
                    + "tests with `make test`, which builds the services and starts Redis and the broker on loopback"
            )
        }
        self.redisURL = redisURL
        self.brokers = brokers
        let run = String(UUID().uuidString.lowercased().prefix(8))
        let topicPrefix = "t\(run)."
        self.topicPrefix = topicPrefix
        keyPrefix = "rt:t\(run):"
        redis = try RedisClient(url: redisURL, connectionCount: 2)
        do {
            try await redis.ping()
        } catch {
            throw TestStackError("Redis at \(redisURL) is unreachable (\(error)); `make test` starts it")
        }
        let admin = try KafkaAdmin(brokers: brokers)
        do {
            _ = try await admin.checkConnection(timeout: .seconds(5))
        } catch {
            throw TestStackError("the broker at \(brokers) is unreachable (\(error)); `make test` starts it")
        }
        try await admin.createTopics(Topic.allCases.map { $0.name(prefix: topicPrefix) }, partitions: 2)

        var keys: [String: String] = [:]
        for name in ["web", "read", "admin", "agent", "carrier", "otherRead", "otherAgent", "centerAgent"] {
            keys[name] = RandomBytes.token(prefix: "rt_")
        }
        self.keys = keys
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ringtrail-test-\(run)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tenantsPath = directory.appendingPathComponent("tenants.json").path
        self.tenantsPath = tenantsPath
        self.binaries = binaries
        try Self.tenants(keys: keys, twilioToken: twilioToken).write(to: URL(fileURLWithPath: tenantsPath))

        var ports: [String: UInt16] = [:]
        var processes: [Process] = []
        for service in ["number-pool", "activity-ingester", "call-router", "attribution-worker"] {
            let port = try Self.freePort()
            ports[service] = port
            processes.append(try Self.spawn(
                binary: binaries + "/" + service,
                environment: [
                    "RINGTRAIL_REDIS_URL": redisURL, "RINGTRAIL_KAFKA_BROKERS": brokers,
                    "RINGTRAIL_TOPIC_PREFIX": topicPrefix, "RINGTRAIL_KEY_PREFIX": keyPrefix,
                    "RINGTRAIL_TENANTS": tenantsPath, "RINGTRAIL_HTTP_ADDR": "127.0.0.1:\(port)",
                    "RINGTRAIL_LOG_LEVEL": "warning",
                    // Short, so the slow-client test is cut off within seconds; real requests take milliseconds.
                    "RINGTRAIL_HTTP_REQUEST_TIMEOUT": "5",
                    "RINGTRAIL_KAFKA_CONFIG": "session.timeout.ms=6000,heartbeat.interval.ms=500,max.poll.interval.ms=10000",
                ],
                log: directory.appendingPathComponent("\(service).log")
            ))
        }
        self.ports = ports
        self.processes = processes
        for (service, port) in ports {
            try await Self.waitUntilReady(service: service, port: port, logDirectory: directory.path)
        }
        // Consumers join their groups after the HTTP server is ready; give the broker time to assign partitions.
        try await Task.sleep(for: .seconds(4))
    }

    deinit {
        for process in processes where process.isRunning { process.terminate() }
    }

    /// Starts `binary` with exactly `environment`, its output going to `log`.
    static func spawn(binary: String, arguments: [String] = [], environment: [String: String], log: URL) throws
        -> Process
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: log)
        process.standardOutput = process.standardError
        try process.run()
        ChildProcesses.shared.track(process)
        return process
    }

    static func tenants(keys: [String: String], twilioToken: String) throws -> Data {
        func key(_ name: String, _ scopes: [Scope]) -> APIKeyEntry {
            APIKeyEntry(hash: "sha256:" + Digest.sha256Hex(keys[name]!), scopes: scopes)
        }
        var acme = Advertiser(
            id: advertiser,
            keys: [key("web", [.web]), key("read", [.read]), key("admin", [.admin]), key("agent", [.agent]),
                   key("carrier", [.carrier])],
            pools: [Pool(id: "main", numbers: numbers, leaseSeconds: 60, exhaustion: .recycle,
                         fallbackNumber: "+15555550199", forwardTo: "+15555550111"),
                    Pool(id: "stress", numbers: stressNumbers, leaseSeconds: 0.5, exhaustion: .recycle,
                         fallbackNumber: "+15555550399"),
                    Pool(id: "scenarios", numbers: scenarioNumbers, forwardTo: "+15555550111")],
            carriers: Carriers(twilio: .init(authToken: twilioToken),
                               telnyx: .init(publicKey: Base64.encode(telnyxKeys.publicKey))),
            callCenters: ["cc-east"]
        )
        acme.matching.phoneClickWindowSeconds = 300
        var globex = Advertiser(
            id: otherAdvertiser,
            keys: [key("otherRead", [.read, .web]), key("otherAgent", [.agent])],
            pools: [Pool(id: "main", numbers: otherNumbers, fallbackNumber: "+15555550299")],
            carriers: Carriers(twilio: .init(authToken: "other-token"))
        )
        // Three seconds of retention, so a test can watch records expire.
        globex.retentionDays = 3.0 / 86_400
        let file = TenantsFile(advertisers: [acme, globex],
                               callCenters: [CallCenter(id: "cc-east", keys: [key("centerAgent", [.agent])])])
        return try JSONEncoder().encode(file)
    }

    /// A port that is free now, taken from below the kernel's ephemeral range (32768 and up) so that no
    /// port-0 listener or outgoing connection of a test running alongside can take it before the service binds.
    static func freePort() throws -> UInt16 {
        for _ in 0..<200 {
            let candidate = UInt16.random(in: 20_000..<32_000)
            if portIsFree(candidate) { return candidate }
        }
        throw TestStackError("cannot find a free port between 20000 and 32000")
    }

    private static func portIsFree(_ port: UInt16) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func waitUntilReady(service: String, port: UInt16, logDirectory: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let response = try? await HTTP.send("GET", "http://127.0.0.1:\(port)/readyz"), response.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestStackError("\(service) did not become ready on port \(port); see \(logDirectory)/\(service).log")
    }

    func url(_ service: String, _ path: String) -> String { "http://127.0.0.1:\(ports[service]!)\(path)" }

    func topic(_ topic: Topic) -> String { topic.name(prefix: topicPrefix) }

    /// A consumer of `topics` from their beginning, in a group of its own.
    func makeReader(_ topics: [Topic]) throws -> TopicReader {
        TopicReader(try KafkaConsumer(
            brokers: brokers, groupID: "\(topicPrefix)reader-\(UUID().uuidString.prefix(8))",
            topics: topics.map(topic),
            properties: ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500", "enable.auto.commit": "false"],
            logger: Logger(label: "test-reader")
        ))
    }

    /// Publishes raw bytes on a topic, as a foreign producer might.
    func produce(_ topic: Topic, key: String, value: [UInt8]) async throws {
        let producer = try KafkaProducer(brokers: brokers, logger: Logger(label: "test-producer"))
        defer { producer.shutdown() }
        try await producer.send(topic: self.topic(topic), key: key, value: value)
    }

    /// Posts a Twilio webhook signed with the advertiser's token.
    func postTwilio(_ path: String, _ fields: [(String, String)], token: String? = nil) async throws -> HTTP.Response {
        let url = url("call-router", path)
        let signature = TwilioSignature.compute(url: url, parameters: fields, authToken: token ?? twilioToken)
        return try await HTTP.send("POST", url, form: fields, headers: ["X-Twilio-Signature": signature])
    }
}

/// Starts the shared stack once and hands the same instance (or the same error) to every caller.
actor SharedStack {
    static let instance = SharedStack()
    private var task: Task<TestStack, any Error>?

    func get() async throws -> TestStack {
        if let task { return try await task.value }
        let task = Task { try await TestStack() }
        self.task = task
        return try await task.value
    }
}

struct TestStackError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// A small HTTP client for the tests.
enum HTTP {
    struct Response: Sendable {
        var status: Int
        var body: Data
        var headers: [String: String]

        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
        var jsonArray: [[String: Any]]? { (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        return URLSession(configuration: configuration)
    }()

    static func send(_ method: String, _ url: String, key: String? = nil, json: Any? = nil, body: Data? = nil,
                     form: [(String, String)]? = nil, headers: [String: String] = [:]) async throws -> Response {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let body { request.httpBody = body }
        if let form {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            request.httpBody = Data(form.map {
                "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed)!)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)"
            }.joined(separator: "&").utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        let http = response as? HTTPURLResponse
        var headerFields: [String: String] = [:]
        for (name, value) in http?.allHeaderFields ?? [:] {
            headerFields[String(describing: name).lowercased()] = String(describing: value)
        }
        return Response(status: http?.statusCode ?? 0, body: data, headers: headerFields)
    }
}

/// Keeps every message a reader has polled, so that looking for one message never drops another.
actor TopicReader {
    private let consumer: KafkaConsumer
    private var seen: [KafkaMessage] = []

    init(_ consumer: KafkaConsumer) {
        self.consumer = consumer
    }

    /// Polls until `predicate` holds for a message of `topic` (seen before or new), or the timeout passes.
    func first<Payload: Codable & Sendable>(
        _ type: Payload.Type,
        topic: String,
        timeout: Duration = .seconds(20),
        where predicate: @Sendable (CloudEvent<Payload>) -> Bool
    ) async -> CloudEvent<Payload>? {
        let deadline = ContinuousClock.now + timeout
        var index = 0
        while true {
            while index < seen.count {
                let message = seen[index]
                index += 1
                guard message.topic == topic, let event = try? CloudEvent<Payload>.decode(message.value ?? []) else {
                    continue
                }
                if predicate(event) { return event }
            }
            guard ContinuousClock.now < deadline else { return nil }
            seen += await consumer.poll(maxCount: 500, timeout: .milliseconds(200))
        }
    }

    /// Every message of `topic` polled so far and until the topic stays quiet for two seconds after the first
    /// message (or a minute passes), decoded.
    func all<Payload: Codable & Sendable>(_ type: Payload.Type, topic: String) async -> AsyncStream<CloudEvent<Payload>> {
        var quietSince: ContinuousClock.Instant?
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let batch = await consumer.poll(maxCount: 5000, timeout: .milliseconds(200))
            seen += batch
            if !batch.isEmpty || (quietSince == nil && !seen.isEmpty) { quietSince = ContinuousClock.now }
            if let quietSince, ContinuousClock.now - quietSince > .seconds(2) { break }
        }
        let events = seen.filter { $0.topic == topic }.compactMap { try? CloudEvent<Payload>.decode($0.value ?? []) }
        return AsyncStream { continuation in
            for event in events { continuation.yield(event) }
            continuation.finish()
        }
    }

    func close() async { await consumer.close() }
}

/// Reads `reader` until `predicate` holds for one message of `topic`, or the timeout passes.
func awaitMessage<Payload: Codable & Sendable>(
    _ reader: TopicReader,
    as type: Payload.Type,
    topic: String,
    timeout: Duration = .seconds(20),
    where predicate: @Sendable (CloudEvent<Payload>) -> Bool
) async -> CloudEvent<Payload>? {
    await reader.first(type, topic: topic, timeout: timeout, where: predicate)
}

/// The services and servers the tests started, stopped when the test process exits, and listed in the file named
/// by `RINGTRAIL_TEST_PIDS_FILE` so that `make test` can stop them even after a crash.
final class ChildProcesses: Sendable {
    static let shared: ChildProcesses = {
        let children = ChildProcesses()
        atexit {
            for pid in ChildProcesses.shared.pids.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
        return children
    }()

    private let pids = Mutex<[Int32]>([])

    func track(_ process: Process) {
        pids.withLock { $0.append(process.processIdentifier) }
        guard let path = ProcessInfo.processInfo.environment["RINGTRAIL_TEST_PIDS_FILE"],
            let handle = FileHandle(forWritingAtPath: path)
        else { return }
        handle.seekToEndOfFile()
        handle.write(Data("\(process.processIdentifier)\n".utf8))
        try? handle.close()
    }
}
