import Foundation
import KafkaKit
import Model
import SecurityKit
import Synchronization

extension BenchCallsCommand {
    /// The measurements of the calls phase, before they go into the report.
    struct CallsResult {
        var achievedRate: Double
        var response: LatencySummary
        var toScreen: LatencySummary
        var stages: [StageLatency]
        var summary: BenchCallsReport.Calls
        var cpu: [ProcessCPUUse]
        var machineBusyPercent: Double
    }

    /// A webhook request ready to send, with the call id it carries.
    struct PreparedWebhook {
        var callSid: String
        var request: [UInt8]
    }

    // MARK: - Broker baseline

    /// Produces probe messages at `options.rate` with the services' producer settings, consumes them with the
    /// bench's consumer, and returns the produce-to-consume and produce-to-acknowledgement latencies of the
    /// measured ones.
    static func measureBroker(options: Options, brokers: String, topicPrefix: String) async throws
        -> BenchCallsReport.Broker
    {
        let topic = topicPrefix + "bench.latency"
        let admin = try KafkaAdmin(brokers: brokers)
        try await admin.createTopics([topic], partitions: 4)
        let recorder = try ArrivalRecorder(brokers: brokers, topics: [topic],
                                           fetchWaitMilliseconds: options.fetchWaitMilliseconds, keepValuesOf: [topic])
        defer { recorder.stop() }
        // The same properties as KafkaProducer, so that the baseline's producer batches like the services' do.
        let producer = try ProbeProducer(brokers: brokers, properties: KafkaProducer.defaultProperties)

        // The first messages also wait for the connection and the idempotent producer's id; they are not counted.
        let warmupCount = Int(options.rate * options.warmupSeconds)
        let count = Int(options.rate * options.seconds)
        let total = warmupCount + count
        let start = wallClockMicroseconds() + 100_000
        let rejected = await onDedicatedThread(name: "bench-probe-producer") {
            producer.run(topic: topic, count: total, rate: options.rate, start: start,
                         payloadBytes: options.probeBytes)
        }
        let unsent = producer.finish()
        let acknowledgements = producer.acknowledgements.latencies.withLock { entries in
            entries.filter { $0.index >= warmupCount }.map(\.milliseconds)
        }
        // A probe that never arrives is reported as missing in `received`, not as a failure of the run.
        let arrived = (try? await waitForKeys((warmupCount..<total).map { "probe-\($0)" }, on: topic,
                                              recorder: recorder, seconds: 10, description: "probe messages"))
            ?? recorder.arrivals(on: topic)
        if rejected > 0 || unsent > 0 {
            say("bench-calls: the producer rejected \(rejected) probe messages and \(unsent) were never delivered")
        }

        var latencies: [Double] = []
        var producedTimes: [Int64] = []
        for index in warmupCount..<total {
            guard let arrival = arrived["probe-\(index)"], let value = arrival.value else { continue }
            let digits = String(decoding: value.prefix { $0 != 0x20 }, as: UTF8.self)
            guard let producedAt = Int64(digits) else { continue }
            latencies.append(Double(arrival.receivedAt - producedAt) / 1000)
            producedTimes.append(producedAt)
        }
        let span = Double((producedTimes.max() ?? 0) - (producedTimes.min() ?? 0))
        let achieved = span > 0 ? Double(producedTimes.count - 1) * 1_000_000 / span : 0
        return .init(topic: topic, planned: count, received: latencies.count, rejected: rejected,
                     messagesPerSecond: LatencySummary.rounded(achieved), latency: LatencySummary(latencies),
                     acknowledgement: LatencySummary(acknowledgements))
    }

    // MARK: - Calls

    /// Sends the warm-up webhooks, waits for their screens, then sends the measured webhooks and joins each
    /// response with the `calls.events` and `calls.screens` messages of its call.
    static func measureCalls(settings: ReplaySettings, options: Options, brokers: String, topicPrefix: String)
        async throws -> CallsResult
    {
        guard let target = URLComponents(string: options.callRouter), let host = target.host, let port = target.port
        else {
            throw BenchError("--call-router needs http://ADDRESS:PORT, got \(options.callRouter)")
        }
        let eventsTopic = Topic.callEvents.name(prefix: topicPrefix)
        let screensTopic = Topic.callScreens.name(prefix: topicPrefix)
        let recorder = try ArrivalRecorder(brokers: brokers, topics: [eventsTopic, screensTopic],
                                           fetchWaitMilliseconds: options.fetchWaitMilliseconds,
                                           keepValuesOf: [screensTopic])
        defer { recorder.stop() }
        let sender = OpenLoopSender(host: host, port: UInt16(port), connections: options.connections)
        let runTag = Digest.hexString(RandomBytes.make(count: 8))
        let warmupCount = Int(options.rate * options.warmupSeconds)
        let count = Int(options.rate * options.seconds)
        let webhooks = (0..<(warmupCount + count)).map { index in
            prepareWebhook(index: index, runTag: runTag, settings: settings, host: host, port: port,
                           to: options.noCandidates ? numberInNoPool : nil)
        }
        let warmup = Array(webhooks[..<warmupCount])
        let measured = Array(webhooks[warmupCount...])

        // The warm-up opens the connections and lets the call-router's consumer group settle.
        let warmupTimings = await send(warmup.map(\.request), sender: sender, rate: options.rate)
        if let failed = warmupTimings.first(where: { $0.status != 200 }) {
            throw BenchError("a warm-up webhook failed with status \(failed.status) \(failed.failure ?? ""); "
                + "see the call-router's log")
        }
        _ = try await waitForKeys(warmup.map(\.callSid), on: screensTopic, recorder: recorder, seconds: 30,
                                  description: "screens of the warm-up calls")

        let cpuBefore = options.processes.map { ProcessCPU.seconds(pid: $0.pid) }
        let selfBefore = ProcessCPU.seconds(pid: getpid())
        let machineBefore = ProcessCPU.machineJiffies()
        let timings = await send(measured.map(\.request), sender: sender, rate: options.rate)
        let sendingEnded = wallClockMicroseconds()
        let cpuAfter = options.processes.map { ProcessCPU.seconds(pid: $0.pid) }
        let selfAfter = ProcessCPU.seconds(pid: getpid())
        let machineAfter = ProcessCPU.machineJiffies()
        let screens = (try? await waitForKeys(measured.map(\.callSid), on: screensTopic, recorder: recorder,
                                              seconds: 15, description: "screens"))
            ?? recorder.arrivals(on: screensTopic)
        let events = recorder.arrivals(on: eventsTopic)

        let wallSeconds = Double(sendingEnded - (timings.first?.scheduledAt ?? sendingEnded)) / 1_000_000
        var cpu: [ProcessCPUUse] = []
        for (index, process) in options.processes.enumerated() {
            guard let before = cpuBefore[index], let after = cpuAfter[index] else { continue }
            cpu.append(cpuUse(process.name, pid: process.pid, seconds: after - before, wallSeconds: wallSeconds))
        }
        if let selfBefore, let selfAfter {
            cpu.append(cpuUse("bench-calls", pid: getpid(), seconds: selfAfter - selfBefore, wallSeconds: wallSeconds))
        }
        let busy = machineAfter.total > machineBefore.total
            ? (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total) * 100 : 0

        if let path = options.samplesPath {
            try writeSamples(measured, timings: timings, events: events, screens: screens, to: path)
        }
        var result = summarize(measured, timings: timings, events: events, screens: screens)
        result.cpu = cpu
        result.machineBusyPercent = LatencySummary.rounded(busy)
        return result
    }

    /// Writes one CSV line per measured call: its times relative to the first send, in milliseconds, with an
    /// empty field for a message that never arrived.
    private static func writeSamples(_ webhooks: [PreparedWebhook], timings: [RequestTiming],
                                     events: [String: Arrival], screens: [String: Arrival], to path: String) throws {
        let origin = timings.first?.scheduledAt ?? 0
        func offset(_ micros: Int64?) -> String {
            micros.map { String(format: "%.3f", Double($0 - origin) / 1000) } ?? ""
        }
        var lines = ["callSid,status,scheduled,sent,responded,eventsTimestamp,eventsConsumed,screenTimestamp,"
            + "screenConsumed"]
        for (webhook, timing) in zip(webhooks, timings) {
            let event = events[webhook.callSid]
            let screen = screens[webhook.callSid]
            let fields = [
                webhook.callSid, String(timing.status), offset(timing.scheduledAt), offset(timing.sentAt),
                offset(timing.completedAt), offset(event?.timestampMilliseconds.map { $0 * 1000 }),
                offset(event?.receivedAt), offset(screen?.timestampMilliseconds.map { $0 * 1000 }),
                offset(screen?.receivedAt),
            ]
            lines.append(fields.joined(separator: ","))
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    private static func cpuUse(_ name: String, pid: Int32, seconds: Double, wallSeconds: Double) -> ProcessCPUUse {
        ProcessCPUUse(name: name, pid: pid, cpuSeconds: LatencySummary.rounded(seconds),
                      percentOfOneCore: LatencySummary.rounded(wallSeconds > 0 ? seconds / wallSeconds * 100 : 0))
    }

    /// Joins each measured webhook with its messages and computes the latencies and the stages between them.
    private static func summarize(_ webhooks: [PreparedWebhook], timings: [RequestTiming],
                                  events: [String: Arrival], screens: [String: Arrival]) -> CallsResult {
        var responses: [String: Int] = [:]
        var responseTimes: [Double] = []
        var toScreen: [Double] = []
        var sendLags: [Double] = []
        var ingress: [Double] = [], routing: [Double] = [], screenHop: [Double] = [], eventsHop: [Double] = []
        var candidateCounts: [Int] = []
        var screenBytes: [Int] = []
        for (webhook, timing) in zip(webhooks, timings) {
            responses[timing.failure == nil ? String(timing.status) : "error", default: 0] += 1
            guard timing.failure == nil else { continue }

            sendLags.append(Double(timing.sentAt - timing.scheduledAt) / 1000)
            responseTimes.append(Double(timing.completedAt - timing.sentAt) / 1000)
            guard let screen = screens[webhook.callSid] else { continue }

            toScreen.append(Double(screen.receivedAt - timing.sentAt) / 1000)
            if let screenTime = screen.timestampMilliseconds {
                screenHop.append(Double(screen.receivedAt - screenTime * 1000) / 1000)
            }
            if let event = events[webhook.callSid], let eventTime = event.timestampMilliseconds {
                ingress.append(Double(eventTime * 1000 - timing.sentAt) / 1000)
                eventsHop.append(Double(event.receivedAt - eventTime * 1000) / 1000)
                if let screenTime = screen.timestampMilliseconds { routing.append(Double(screenTime - eventTime)) }
            }
            if let value = screen.value {
                screenBytes.append(value.count)
                let json = (try? JSONSerialization.jsonObject(with: Data(value))) as? [String: Any]
                let data = json?["data"] as? [String: Any]
                candidateCounts.append((data?["candidates"] as? [Any])?.count ?? 0)
            }
        }

        let sent = timings.filter { $0.failure == nil }
        let firstSent = sent.map(\.sentAt).min() ?? 0
        let lastSent = sent.map(\.sentAt).max() ?? 0
        let achieved = lastSent > firstSent ? Double(sent.count - 1) * 1_000_000 / Double(lastSent - firstSent) : 0
        let summary = BenchCallsReport.Calls(
            planned: webhooks.count,
            responses: responses,
            screens: toScreen.count,
            missingScreens: webhooks.count - toScreen.count,
            sendLag: LatencySummary(sendLags),
            minCandidates: candidateCounts.min() ?? 0,
            meanCandidates: LatencySummary.rounded(
                Double(candidateCounts.reduce(0, +)) / Double(max(1, candidateCounts.count))),
            maxCandidates: candidateCounts.max() ?? 0,
            meanScreenBytes: screenBytes.reduce(0, +) / max(1, screenBytes.count)
        )
        return CallsResult(
            achievedRate: achieved,
            response: LatencySummary(responseTimes),
            toScreen: LatencySummary(toScreen),
            stages: [
                StageLatency(stage: "webhook sent → calls.events produced", latency: LatencySummary(ingress)),
                StageLatency(stage: "calls.events produced → bench consumer", latency: LatencySummary(eventsHop)),
                StageLatency(stage: "calls.events produced → screen produced", latency: LatencySummary(routing)),
                StageLatency(stage: "screen produced → bench consumer", latency: LatencySummary(screenHop)),
            ],
            summary: summary,
            cpu: [],
            machineBusyPercent: 0
        )
    }

    private static func send(_ requests: [[UInt8]], sender: OpenLoopSender, rate: Double) async -> [RequestTiming] {
        let start = wallClockMicroseconds() + 100_000
        return await onDedicatedThread(name: "bench-pacer") { sender.run(requests, rate: rate, start: start) }
    }

    /// Waits until every key in `keys` arrived on `topic`, for at most `seconds`, and returns the arrivals.
    ///
    /// - Throws: `BenchError` naming how many keys are missing at the deadline.
    @discardableResult
    static func waitForKeys(_ keys: [String], on topic: String, recorder: ArrivalRecorder, seconds: Double,
                            description: String) async throws -> [String: Arrival] {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let arrivals = recorder.arrivals(on: topic)
            let missing = keys.count { arrivals[$0] == nil }
            if missing == 0 { return arrivals }
            guard Date() < deadline else {
                throw BenchError("\(missing) of \(keys.count) \(description) did not arrive on \(topic) within "
                    + "\(Int(seconds)) s; see the services' logs")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// A number outside every pool that `replay --prepare` makes, whose pools have at most 1,000 numbers from
    /// +15555550100 up.
    static let numberInNoPool = "+15555559999"

    /// Builds the voice webhook Twilio would send for call `index` to `to` or else one of the pool's numbers, signed with the
    /// advertiser's auth token over the URL the call-router rebuilds from the `Host` header.
    static func prepareWebhook(index: Int, runTag: String, settings: ReplaySettings, host: String, port: Int,
                               to: String? = nil) -> PreparedWebhook
    {
        let callSid = "CA" + runTag + String(format: "%016x", index)
        let location = locations[index % locations.count]
        let fields: [(String, String)] = [
            ("AccountSid", "AC0000000000000000000000000000bench"), ("ApiVersion", "2010-04-01"),
            ("CallSid", callSid), ("CallStatus", "ringing"), ("Direction", "inbound"),
            ("From", "+1415" + String(format: "%07d", 2_000_000 + index)), ("FromCity", location.city.uppercased()),
            ("FromCountry", "US"), ("FromState", location.region), ("FromZip", location.zip),
            ("To", to ?? settings.numbers[index % settings.numbers.count]),
        ]
        let path = "/v1/webhooks/twilio/\(settings.advertiserId)"
        let signature = TwilioSignature.compute(url: "http://\(host):\(port)\(path)", parameters: fields,
                                                authToken: settings.twilioAuthToken)
        let body = ReplayClient.formEncode(fields)
        let request = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\n\(TwilioSignature.header): \(signature)\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return PreparedWebhook(callSid: callSid, request: Array(request.utf8))
    }
}
