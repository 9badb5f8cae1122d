import CRdKafka
import Foundation
import Model
import ServiceKit

/// `ringtrail bench-ingest`: the real access log amplified into `web.activity`, the activity-ingester's
/// throughput from the first event produced to the last one applied in Redis, beside a raw librdkafka consumer
/// reading the same topic and one writing it to Redis, and the collect endpoint's request rate.
enum BenchIngestCommand {
    static let help = """
        usage: ringtrail bench-ingest [options]

        Measures a running activity-ingester (`make bench-ingest` starts it and runs this). It turns the page
        requests of an access log into page events, makes --copies time-shifted copies of them with their own
        session and visitor ids, produces them all to web.activity, and times the ingester until its metrics
        count every event applied; then checks in Redis that every session has all its events, reads the topic
        with a raw librdkafka consumer for comparison, reads it again with a raw consumer that writes each
        message to Redis with three plain commands (the ingester's ceiling), and measures POST /v1/collect. Reads
        RINGTRAIL_KAFKA_BROKERS, RINGTRAIL_TOPIC_PREFIX, RINGTRAIL_REDIS_URL and RINGTRAIL_KEY_PREFIX like the
        services.

          --dir PATH             where `ringtrail replay --prepare` wrote settings.json (default .run/bench-ingest)
          --log PATH             the access log (default ../shared/data/web-traffic/access.log)
          --copies N             copies of the log's page events (default 20)
          --ingester URL         the activity-ingester (default http://127.0.0.1:18481)
          --ingester-pid PID     the ingester's process id, for its peak RSS
          --process NAME=PID     report the CPU time of this process while the ingester works; repeatable
          --collect-seconds N    length of the collect measurement in seconds (default 10)
          --collect-connections N  concurrent connections posting to collect (default 16)
          --collect-batch N      events per collect request (default 10)
          --output PATH          the JSON report (default .run/bench-ingest.json)
        """

    struct Options {
        var directory = ".run/bench-ingest"
        var log = "../shared/data/web-traffic/access.log"
        var copies = 20
        var ingester = "http://127.0.0.1:18481"
        var ingesterPID: Int32?
        var processes: [(name: String, pid: Int32)] = []
        var collectSeconds = 10.0
        var collectConnections = 16
        var collectBatch = 10
        var output = ".run/bench-ingest.json"
    }

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var index = 0
        func value() throws -> String {
            guard index + 1 < arguments.count else { throw BenchError("\(arguments[index]) needs a value") }
            index += 1
            return arguments[index]
        }
        func positive(_ flag: String) throws -> Int {
            let text = try value()
            guard let number = Int(text), number > 0 else {
                throw BenchError("\(flag) needs a positive whole number, got \(text)")
            }
            return number
        }
        while index < arguments.count {
            let flag = arguments[index]
            switch flag {
            case "--dir": options.directory = try value()
            case "--log": options.log = try value()
            case "--copies": options.copies = try positive(flag)
            case "--ingester": options.ingester = try value()
            case "--ingester-pid": options.ingesterPID = Int32(try positive(flag))
            case "--process":
                let text = try value()
                let parts = text.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let pid = Int32(parts[1]) else {
                    throw BenchError("--process needs NAME=PID, got \(text)")
                }
                options.processes.append((String(parts[0]), pid))
            case "--collect-seconds": options.collectSeconds = Double(try positive(flag))
            case "--collect-connections": options.collectConnections = try positive(flag)
            case "--collect-batch": options.collectBatch = try positive(flag)
            case "--output": options.output = try value()
            case "--help", "-h":
                say(help)
                exit(0)
            default: throw BenchError("unknown option \(flag)\n\(help)")
            }
            index += 1
        }
        return options
    }

    static func run(_ arguments: [String]) async throws {
        let options = try parse(arguments)
        let configuration = try ServiceConfiguration(defaultPort: 0, arguments: [])
        let settingsPath = options.directory + "/settings.json"
        guard let data = FileManager.default.contents(atPath: settingsPath) else {
            throw BenchError("no \(settingsPath); run `ringtrail replay --prepare --dir \(options.directory)` first")
        }
        let settings = try JSONDecoder().decode(ReplaySettings.self, from: data)
        let loadAtStart = ProcessCPU.loadAverage()

        let traffic = try AmplifiedTraffic.make(logPath: options.log, copies: options.copies,
                                                advertiser: settings.advertiserId)
        say("bench-ingest: \(traffic.messages.count) page events in \(traffic.sessionEvents.count) sessions "
            + "(\(options.copies) copies of \(traffic.logPages) page requests)")

        let topic = Topic.webActivity.name(prefix: configuration.topicPrefix)
        let metrics = IngesterMetrics(url: options.ingester + "/metrics")
        let before = try await metrics.processed()
        let cpuBefore = options.processes.map { ProcessCPU.seconds(pid: $0.pid) ?? 0 }
        let started = wallClockMicroseconds()
        let produced = try await onDedicatedThread(name: "bench-produce") {
            Result { try BulkProducer.produce(traffic.messages, topic: topic, brokers: configuration.kafkaBrokers) }
        }.get()
        let producedAt = wallClockMicroseconds()
        say("bench-ingest: produced \(produced) events in \(Self.seconds(producedAt - started)) s; waiting for the "
            + "ingester")

        let total = Double(traffic.messages.count)
        let progress = try await metrics.waitUntil(processed: before + total, timeout: .seconds(600))
        let finished = progress.finishedAt
        let firstApplied = progress.time(reaching: 1 / total, of: total, after: before)
            .map { Self.seconds($0 - started) }
        let middleRate = progress.time(reaching: 0.1, of: total, after: before).flatMap { tenth in
            progress.time(reaching: 0.9, of: total, after: before).map { ninth in
                Self.rounded(0.8 * total / (Double(ninth - tenth) / 1_000_000))
            }
        }
        let ingestSeconds = Double(finished - started) / 1_000_000
        let cpu = Self.cpuUse(options.processes, before: cpuBefore, seconds: ingestSeconds, count: total)
        let eventsPerSecond = Double(traffic.messages.count) / ingestSeconds
        say("bench-ingest: the ingester applied them in \(Self.rounded(ingestSeconds)) s, "
            + "\(Int(eventsPerSecond)) events/s")

        let check = try await RedisCheck.sessions(traffic.sessionEvents, advertiser: settings.advertiserId,
                                                  redisURL: configuration.redisURL,
                                                  keyPrefix: configuration.keyPrefix)
        say("bench-ingest: Redis has \(check.eventsFound) of \(check.eventsExpected) events; "
            + "\(check.incompleteSessions) sessions incomplete")

        let raw = try await onDedicatedThread(name: "bench-raw-consume") {
            Result { try RawTopicReader.read(topic: topic, count: traffic.messages.count,
                                             brokers: configuration.kafkaBrokers) }
        }.get()
        let rawPerSecond = Double(raw.messages) / raw.seconds
        say("bench-ingest: a raw librdkafka consumer read \(raw.messages) messages in \(Self.rounded(raw.seconds)) s, "
            + "\(Int(rawPerSecond)) messages/s")

        // The bench's own process runs the raw pipeline; nothing else in it is busy meanwhile.
        let pipelineProcesses = options.processes + [(name: "raw pipeline", pid: getpid())]
        let cpuBeforePipeline = pipelineProcesses.map { ProcessCPU.seconds(pid: $0.pid) ?? 0 }
        let pipeline = try await onDedicatedThread(name: "bench-raw-pipeline") {
            Result { try RawPipeline.run(topic: topic, count: traffic.messages.count,
                                         brokers: configuration.kafkaBrokers, redisURL: configuration.redisURL,
                                         keyPrefix: configuration.keyPrefix) }
        }.get()
        let pipelinePerSecond = Double(pipeline.messages) / pipeline.seconds
        let pipelineCPU = Self.cpuUse(pipelineProcesses, before: cpuBeforePipeline, seconds: pipeline.seconds,
                                      count: total)
        say("bench-ingest: a raw consumer writing to Redis stored \(pipeline.messages) messages in "
            + "\(Self.rounded(pipeline.seconds)) s, \(Int(pipelinePerSecond)) messages/s")

        let collect = try await CollectLoad.run(url: options.ingester, webKey: settings.webKey,
                                                seconds: options.collectSeconds,
                                                connections: options.collectConnections,
                                                batch: options.collectBatch)
        say("bench-ingest: collect \(Int(collect.requestsPerSecond)) requests/s of \(options.collectBatch) events, "
            + "p50 \(collect.latency.p50Ms) ms, p99 \(collect.latency.p99Ms) ms, \(collect.errors) errors")

        let report = BenchIngestReport(
            date: Timestamp.format(Date()),
            cores: ProcessInfo.processInfo.activeProcessorCount,
            loadAverageAtStart: loadAtStart,
            loadAverageAtEnd: ProcessCPU.loadAverage(),
            copies: options.copies,
            sessions: traffic.sessionEvents.count,
            events: traffic.messages.count,
            produceSeconds: Self.rounded(Double(producedAt - started) / 1_000_000),
            ingestSeconds: Self.rounded(ingestSeconds),
            eventsPerSecond: Self.rounded(eventsPerSecond),
            firstAppliedSeconds: firstApplied,
            middleEventsPerSecond: middleRate,
            rawConsumePerSecond: Self.rounded(rawPerSecond),
            ratio: Self.rounded(eventsPerSecond / rawPerSecond, places: 3),
            rawPipelinePerSecond: Self.rounded(pipelinePerSecond),
            pipelineRatio: Self.rounded(eventsPerSecond / pipelinePerSecond, places: 3),
            rawPipelineCPU: pipelineCPU,
            eventsInRedis: check.eventsFound,
            incompleteSessions: check.incompleteSessions,
            collectRps: Self.rounded(collect.requestsPerSecond),
            collectEventsPerRequest: options.collectBatch,
            collectConnections: options.collectConnections,
            collectLatency: collect.latency,
            collectErrors: collect.errors,
            cpu: cpu,
            peakRssMB: options.ingesterPID.flatMap(ProcessMemory.peakResidentMegabytes).map { Self.rounded($0) }
        )
        try report.write(to: options.output)
        say("")
        say(report.table())
        say("bench-ingest: report written to \(options.output)")
    }

    /// CPU each watched process used since `before` was read, over a span of `seconds` that handled `count` events.
    static func cpuUse(_ processes: [(name: String, pid: Int32)], before: [Double], seconds: Double,
                       count: Double) -> [ProcessCPUUse]
    {
        zip(processes, before).map { process, before in
            let used = (ProcessCPU.seconds(pid: process.pid) ?? before) - before
            return ProcessCPUUse(name: process.name, pid: process.pid, cpuSeconds: rounded(used),
                                 percentOfOneCore: rounded(100 * used / seconds, places: 1),
                                 microsecondsPerEvent: rounded(used * 1_000_000 / count, places: 1))
        }
    }

    static func seconds(_ micros: Int64) -> Double { rounded(Double(micros) / 1_000_000) }

    static func rounded(_ value: Double, places: Double = 2) -> Double {
        let scale = pow(10, places)
        return (value * scale).rounded() / scale
    }
}

/// The page events of an access log, copied with fresh ids and shifted in time.
struct AmplifiedTraffic {
    /// Kafka key (the session id) and CloudEvent bytes of every event, copy after copy, each copy in time order.
    var messages: [(key: String, value: [UInt8])]
    /// The number of events each session must end up with in Redis.
    var sessionEvents: [String: Int]
    var logPages: Int

    static func make(logPath: String, copies: Int, advertiser: String) throws -> AmplifiedTraffic {
        let requests = try AccessLog.read(path: logPath).requests
        guard let first = requests.first?.time, let last = requests.last?.time else {
            throw BenchError("no request in \(logPath) could be parsed")
        }
        let sessions = TrafficModel.sessionize(requests)
        let span = last - first + 1
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var messages: [(key: String, value: [UInt8])] = []
        var sessionEvents: [String: Int] = [:]
        var logPages = 0
        for copy in 0..<copies {
            // Copy n ends n spans before now, so copies never overlap in time.
            let shift = now - last - Int64(copies - 1 - copy) * span
            for session in sessions where !session.pages.isEmpty {
                let sessionId = "c\(copy)-\(session.id)"
                let visitorId = "c\(copy)-\(session.visitorId)"
                for (position, request) in session.pages.enumerated() {
                    let event = WebEvent(
                        type: .page, messageId: "\(sessionId)-p\(position)", anonymousId: visitorId,
                        sessionId: sessionId, timestamp: Timestamp.format(milliseconds: request.time + shift),
                        properties: [
                            "url": .string("https://shop.example.com" + request.path),
                            "referrer": request.referrer.map(JSONValue.string) ?? .null,
                        ],
                        context: WebContext(userAgent: request.userAgent)
                    )
                    let cloudEvent = CloudEvent(source: "/bench-ingest", type: event.cloudEventType,
                                                subject: sessionId, advertiserID: advertiser, data: event)
                    messages.append((sessionId, try cloudEvent.encoded()))
                }
                // The ingester keeps the most recent events of a session only.
                sessionEvents[sessionId] = min(session.pages.count, 200)
                if copy == 0 { logPages += session.pages.count }
            }
        }
        return AmplifiedTraffic(messages: messages, sessionEvents: sessionEvents, logPages: logPages)
    }
}

/// Peak resident memory of a process from `/proc/<pid>/status`.
enum ProcessMemory {
    static func peakResidentMegabytes(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kilobytes = line.split(separator: " ").compactMap { Double($0) }.first
            return kilobytes.map { $0 / 1024 }
        }
        return nil
    }
}
