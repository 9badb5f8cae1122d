import Foundation
import Model
import SecurityKit

extension ReplayDriver {
    /// Places one call as Twilio would report it, then plays the agent and records the outcome.
    func place(_ call: PlannedCall, realStart: Int64) async {
        await Self.sleep(until: wallTime(call.time, realStart: realStart))
        let number: String
        if let index = call.sessionIndex {
            guard let shown = await ledger.number(of: index) else {
                await ledger.skip()
                return
            }
            number = shown
        } else {
            number = settings.numbers[call.callId.utf8.reduce(0) { $0 + Int($1) } % settings.numbers.count]
        }

        let webhook = options.callRouter + "/v1/webhooks/twilio/\(settings.advertiserId)"
        var fields: [(String, String)] = [
            ("AccountSid", "AC0000000000000000000000000000replay"), ("CallSid", call.callId),
            ("From", call.from ?? "anonymous"), ("To", number), ("CallStatus", "ringing"), ("Direction", "inbound"),
            ("ApiVersion", "2010-04-01"),
        ]
        let postedAt = Self.now()
        await ledger.placed(call, to: number, at: postedAt)
        guard await postTwilio(webhook, fields, what: "voice webhook") else { return }
        await ledger.acknowledge(call: call.callId)

        fields = fields.map { $0.0 == "CallStatus" ? ("CallStatus", "in-progress") : $0 }
        _ = await postTwilio(webhook + "/status", fields, what: "status callback")
        await playAgent(call)

        let talkTime = Int64(Double(call.durationSeconds * 1000) / settings.speed)
        try? await Task.sleep(for: .milliseconds(talkTime))
        fields = fields.map { $0.0 == "CallStatus" ? ("CallStatus", "completed") : $0 }
        fields.append(("CallDuration", String(call.durationSeconds)))
        _ = await postTwilio(webhook + "/status", fields, what: "status callback")
    }

    private func postTwilio(_ url: String, _ fields: [(String, String)], what: String) async -> Bool {
        let signature = TwilioSignature.compute(url: url, parameters: fields, authToken: settings.twilioAuthToken)
        do {
            let response = try await client.send("POST", url, form: fields, headers: ["X-Twilio-Signature": signature])
            guard response.status == 200 else {
                await ledger.error("\(what) \(response.status)")
                return false
            }
            return true
        } catch {
            await ledger.error("\(what) unreachable")
            return false
        }
    }

    /// Waits for the screen, then confirms the true session when it is listed, or answers "none of these";
    /// a call matched automatically is left as it is. Then records the outcome.
    private func playAgent(_ call: PlannedCall) async {
        let url = options.callRouter + "/v1/calls/\(call.callId)"
        var view: [String: Any]?
        let deadline = Self.now() + 20_000
        while Self.now() < deadline {
            if let response = try? await client.send("GET", url, key: settings.agentKey), response.status == 200,
                let json = response.json(), json["screened"] as? Bool == true
            {
                view = json
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        guard let view else {
            await ledger.error("screen not seen within 20 s")
            return
        }

        let match = view["match"] as? [String: Any]
        if match == nil {
            let candidates = (view["candidates"] as? [[String: Any]] ?? []).compactMap { $0["sessionId"] as? String }
            let truth = call.sessionIndex.map { sessions[$0].id }
            let chosen: Any = truth.flatMap { candidates.contains($0) ? $0 : nil } ?? NSNull()
            let response = try? await client.send("POST", url + "/match", key: settings.agentKey,
                                                  json: ["sessionId": chosen, "agentId": "agent-1"])
            if response?.status == 200 {
                await ledger.acknowledge(match: .init(callId: call.callId, sessionId: chosen as? String))
            } else {
                await ledger.error("match \(response?.status ?? 0)")
            }
        }

        var outcome: [String: Any] = ["disposition": call.disposition, "agentId": "agent-1"]
        if let revenue = call.revenue {
            outcome["revenue"] = revenue
            outcome["currency"] = "USD"
        }
        let response = try? await client.send("POST", url + "/outcome", key: settings.agentKey, json: outcome)
        if response?.status == 200 {
            await ledger.acknowledge(outcome: .init(callId: call.callId, disposition: call.disposition))
        } else {
            await ledger.error("outcome \(response?.status ?? 0)")
        }
    }
}
