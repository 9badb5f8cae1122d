import Foundation
import HTTPKit
import Model
import RedisKit
import ServiceKit
import Store

/// One row of the campaign report: a source, medium and campaign with its sessions, calls and results.
struct CampaignRow: Encodable {
    var source: String?
    var medium: String?
    var name: String?
    var sessions = 0
    var calls = 0
    var matchedCalls = 0
    var dispositions: [String: Int] = [:]
    var revenue: [String: Double] = [:]
}

/// One row of the report's channel breakdown, with the same counts as a campaign row.
struct ChannelRow: Encodable {
    var channel: String
    var sessions = 0
    var calls = 0
    var matchedCalls = 0
    var dispositions: [String: Int] = [:]
    var revenue: [String: Double] = [:]
}

struct CampaignReport: Encodable {
    var from: String
    var to: String
    var campaigns: [CampaignRow]
    /// The same sessions and calls by channel; sessions recorded before channels existed count as `unknown`.
    var channels: [ChannelRow]
    /// Calls in the range that no session was matched to.
    var unattributedCalls: Int
}

extension AttributionService {
    /// The time range of a report or export: `from` and `to` (RFC 3339), by default the last 30 days.
    func range(_ request: HTTPRequest) throws(HTTPError) -> (from: Int64, to: Int64) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var from = now - 30 * 86_400_000
        var to = now
        if let text = request.query["from"] {
            guard let value = Timestamp.parseMilliseconds(text) else {
                throw HTTPError.badRequest("from must be an RFC 3339 timestamp such as 2026-05-17T00:00:00.000Z")
            }
            from = value
        }
        if let text = request.query["to"] {
            guard let value = Timestamp.parseMilliseconds(text) else {
                throw HTTPError.badRequest("to must be an RFC 3339 timestamp such as 2026-05-18T00:00:00.000Z")
            }
            to = value
        }
        guard from <= to else { throw HTTPError.badRequest("from must not be after to") }
        return (from, to)
    }

    /// The latest published attribution of each call that started in the range, with calls never matched as nil.
    func attributions(advertiser: String, from: Int64, to: Int64) async throws -> [(callId: String, attribution: Attribution?)] {
        let reply = try await context.redis.command(
            "ZRANGEBYSCORE", context.keys.advertiserCalls(advertiser: advertiser), String(from), String(to))
        let callIds = (reply.array ?? []).compactMap(\.string)
        var result: [(String, Attribution?)] = []
        for chunk in stride(from: 0, to: callIds.count, by: 500) {
            let ids = Array(callIds[chunk..<min(chunk + 500, callIds.count)])
            let replies = try await context.redis.pipelineOrThrow(ids.map {
                ["HGET", context.keys.attribution(advertiser: advertiser, call: $0), "published"]
            })
            for (id, value) in zip(ids, replies) {
                let attribution = value.string.flatMap {
                    try? JSONDecoder().decode(Attribution.self, from: Data($0.utf8))
                }
                result.append((id, attribution))
            }
        }
        return result
    }

    /// `GET /v1/reports/campaigns`: sessions, calls, matched calls, dispositions and revenue per source, medium
    /// and campaign, and per channel. Bot sessions are left out. A call counts in the campaign and channel of the
    /// session it is matched to.
    func campaignReport(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.read])
        let advertiser = try context.tenants.advertiser(of: principal)
        let (from, to) = try range(request)
        do {
            var rows: [Campaign: CampaignRow] = [:]
            var channels: [String: ChannelRow] = [:]
            func row(_ campaign: Campaign) -> CampaignRow {
                rows[campaign] ?? CampaignRow(source: campaign.source, medium: campaign.medium, name: campaign.name)
            }
            let reply = try await context.redis.command(
                "ZRANGEBYSCORE", context.keys.advertiserSessions(advertiser: advertiser.id), String(from), String(to))
            let sessionIds = (reply.array ?? []).compactMap(\.string)
            for chunk in stride(from: 0, to: sessionIds.count, by: 500) {
                let ids = Array(sessionIds[chunk..<min(chunk + 500, sessionIds.count)])
                let replies = try await context.redis.pipelineOrThrow(ids.map {
                    ["HMGET", context.keys.session(advertiser: advertiser.id, session: $0), "campaign", "isBot",
                     "channel", "startedAt"]
                })
                // A session whose record expired returns no fields and is not counted.
                for fields in replies.compactMap(\.array)
                where fields.count == 4 && fields[1].string != "1" && !fields[3].isNull {
                    let campaign = Self.reportKey(fields[0].string.flatMap {
                        try? JSONDecoder().decode(Campaign.self, from: Data($0.utf8))
                    })
                    var current = row(campaign)
                    current.sessions += 1
                    rows[campaign] = current
                    let channel = fields[2].string ?? "unknown"
                    channels[channel, default: ChannelRow(channel: channel)].sessions += 1
                }
            }
            var unattributed = 0
            for (_, attribution) in try await attributions(advertiser: advertiser.id, from: from, to: to) {
                guard let attribution, attribution.sessionId != nil, !attribution.withdrawn else {
                    unattributed += 1
                    continue
                }
                let campaign = Self.reportKey(attribution.campaign)
                var current = row(campaign)
                current.calls += 1
                current.matchedCalls += 1
                if let disposition = attribution.disposition { current.dispositions[disposition, default: 0] += 1 }
                if let revenue = attribution.revenue, let currency = attribution.currency {
                    current.revenue[currency, default: 0] += revenue
                }
                rows[campaign] = current

                let channel = attribution.channel?.rawValue ?? "unknown"
                var channelRow = channels[channel] ?? ChannelRow(channel: channel)
                channelRow.calls += 1
                channelRow.matchedCalls += 1
                if let disposition = attribution.disposition { channelRow.dispositions[disposition, default: 0] += 1 }
                if let revenue = attribution.revenue, let currency = attribution.currency {
                    channelRow.revenue[currency, default: 0] += revenue
                }
                channels[channel] = channelRow
            }
            let ordered = rows.values.sorted {
                ($0.calls, $0.sessions, $0.source ?? "") > ($1.calls, $1.sessions, $1.source ?? "")
            }
            let channelRows = channels.values.sorted {
                ($0.calls, $0.sessions, $0.channel) > ($1.calls, $1.sessions, $1.channel)
            }
            return .json(CampaignReport(from: Timestamp.format(milliseconds: from), to: Timestamp.format(milliseconds: to),
                                        campaigns: ordered, channels: channelRows, unattributedCalls: unattributed))
        } catch let error as RedisError where error.code != .server || error.isRetriable {
            throw context.redisUnavailable(error)
        }
    }

    /// The campaign a report groups by: source, medium and name only.
    static func reportKey(_ campaign: Campaign?) -> Campaign {
        Campaign(source: campaign?.source, medium: campaign?.medium, name: campaign?.name)
    }

    /// `GET /v1/exports/google-ads/click-conversions.csv`: matched calls with a gclid whose disposition counts as
    /// a conversion, in the column layout of Google Ads' offline click conversion import, times in UTC.
    func googleAdsExport(_ request: HTTPRequest) async throws -> HTTPResponse {
        let principal = try context.tenants.authorize(request, anyOf: [.read])
        let advertiser = try context.tenants.advertiser(of: principal)
        let (from, to) = try range(request)
        let counted = Set(advertiser.googleAds.dispositions)
        var lines = ["Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency"]
        do {
            for (_, attribution) in try await attributions(advertiser: advertiser.id, from: from, to: to) {
                guard let attribution, !attribution.withdrawn, attribution.sessionId != nil,
                    let gclid = attribution.clickIds["gclid"], let disposition = attribution.disposition,
                    counted.contains(disposition),
                    let started = attribution.startedAt.flatMap(Timestamp.parseMilliseconds)
                else { continue }
                let value = attribution.revenue.map { String(format: "%.2f", $0) } ?? ""
                lines.append([
                    Self.csvField(gclid), Self.csvField(advertiser.googleAds.conversionName),
                    Self.googleAdsTime(started), value, Self.csvField(value.isEmpty ? "" : attribution.currency ?? ""),
                ].joined(separator: ","))
            }
        } catch let error as RedisError where error.code != .server || error.isRetriable {
            throw context.redisUnavailable(error)
        }
        var response = HTTPResponse.text(lines.joined(separator: "\r\n") + "\r\n", contentType: "text/csv; charset=utf-8")
        response.headers.append(("Content-Disposition", "attachment; filename=\"click-conversions.csv\""))
        return response
    }

    /// `yyyy-MM-dd HH:mm:ss+0000`, a conversion time form with an explicit time zone that Google Ads accepts.
    static func googleAdsTime(_ milliseconds: Int64) -> String {
        let iso = Timestamp.format(milliseconds: milliseconds)
        return String(iso.prefix(10)) + " " + String(iso.dropFirst(11).prefix(8)) + "+0000"
    }

    /// Quotes a CSV field when it contains a comma, quote or line break (RFC 4180).
    static func csvField(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
