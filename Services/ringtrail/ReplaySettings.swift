import Foundation
import Model
import SecurityKit

/// What `replay --prepare` writes and the replay run reads: the keys and pool it made, and the time scale.
struct ReplaySettings: Codable {
    var speed: Double
    var seed: UInt64
    var advertiserId: String
    var poolId: String
    var numbers: [String]
    var fallbackNumber: String
    var webKey: String
    var readKey: String
    var agentKey: String
    var twilioAuthToken: String
    var lookbackSeconds: Double
    var leaseSeconds: Double

    /// Makes fresh keys and a pool of `poolSize` numbers, with every duration divided by `speed`.
    static func make(speed: Double, seed: UInt64, poolSize: Int) -> ReplaySettings {
        ReplaySettings(
            speed: speed,
            seed: seed,
            advertiserId: "acme",
            poolId: "main",
            numbers: (0..<poolSize).map { String(format: "+1555555%04d", 100 + $0) },
            fallbackNumber: "+15555550199",
            webKey: RandomBytes.token(prefix: "rt_"),
            readKey: RandomBytes.token(prefix: "rt_"),
            agentKey: RandomBytes.token(prefix: "rt_"),
            twilioAuthToken: Digest.hexString(RandomBytes.make(count: 16)),
            lookbackSeconds: 604_800 / speed,
            leaseSeconds: 900 / speed
        )
    }

    /// The tenants file for the services: one advertiser with the replay's pool and one call center.
    func tenants() -> TenantsFile {
        func hash(_ key: String) -> String { "sha256:" + Digest.sha256Hex(key) }
        var advertiser = Advertiser(
            id: advertiserId,
            keys: [
                APIKeyEntry(hash: hash(webKey), scopes: [.web]),
                APIKeyEntry(hash: hash(readKey), scopes: [.read]),
            ],
            pools: [Pool(id: poolId, numbers: numbers, leaseSeconds: leaseSeconds, exhaustion: .recycle,
                         fallbackNumber: fallbackNumber, forwardTo: "+15555550111")],
            carriers: Carriers(twilio: .init(authToken: twilioAuthToken)),
            callCenters: ["replay-agents"]
        )
        advertiser.lookbackSeconds = lookbackSeconds
        // The replay splits the log into sessions by the same 30-minute rule and gives each its own id, so a split
        // by the ingester could only come from sending delays, such as a replay stalled by a broker outage under
        // `make chaos`. The timeout is therefore not scaled by the speed.
        advertiser.sessionTimeoutSeconds = 1800
        advertiser.matching.phoneClickWindowSeconds = 300 / speed
        advertiser.matching.recentActivitySeconds = 1800 / speed
        return TenantsFile(
            advertisers: [advertiser],
            callCenters: [CallCenter(id: "replay-agents", keys: [APIKeyEntry(hash: hash(agentKey), scopes: [.agent])])]
        )
    }
}
