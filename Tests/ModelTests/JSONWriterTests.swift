import Foundation
import HTTPKit
import Model
import Testing

/// `JSONWriter` writes JSON by hand for hot paths; it must give the bytes `JSONEncoder` gives.
struct JSONWriterTests {
    static let texts = [
        "plain", "", "quote \" and backslash \\", "line\nbreak\r\ttab", "bell \u{07} and \u{1F}", "slash / stays",
        "émigré ☎ 📞", "\u{7F} delete", "back\u{08}space and form\u{0C}feed", "nul \u{00}",
    ]

    struct Fields: Encodable {
        var alpha: String
        var beta: String?
        var gamma: String
    }

    @Test(arguments: texts)
    func responseObjectMatchesJSONEncoder(text: String) throws {
        let byHand = HTTPResponse.jsonObject(["alpha": text, "beta": nil, "gamma": "+15555550100"])
        let encoded = HTTPResponse.json(Fields(alpha: text, beta: nil, gamma: "+15555550100"))
        #expect(String(decoding: byHand.body, as: UTF8.self) == String(decoding: encoded.body, as: UTF8.self))
        let decoded = try JSONSerialization.jsonObject(with: Data(byHand.body)) as? [String: String]
        #expect(decoded == ["alpha": text, "gamma": "+15555550100"])
        #expect(byHand.headers.first { $0.0 == "Content-Type" }?.1 == "application/json")
    }

    @Test(arguments: texts)
    func leaseEventMatchesJSONEncoder(text: String) throws {
        let events = [
            LeaseEvent(pool: text, number: "+15555550100", sessionId: text, visitorId: text, status: .recycled,
                       from: "2026-12-04T10:00:00.000Z", until: "2026-12-04T10:15:00.000Z"),
            LeaseEvent(pool: "main", number: "+15555550199", sessionId: "s-1", visitorId: nil, status: .fallback,
                       from: "2026-12-04T10:00:00.000Z", until: nil),
        ]
        for data in events {
            let event = CloudEvent(id: "lease-\(text)", source: "/ringtrail/number-pool", type: data.cloudEventType,
                                   time: Date(timeIntervalSince1970: 1_796_000_000.123), subject: text,
                                   advertiserID: "acme \(text)", data: data)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let expected = try encoder.encode(event)
            #expect(String(decoding: event.encoded(), as: UTF8.self) == String(decoding: expected, as: UTF8.self))
            let decoded = try CloudEvent<LeaseEvent>.decode(event.encoded())
            #expect(decoded.data == data)
            #expect(decoded.subject == text)
        }
    }

    @Test(arguments: texts)
    func sessionFieldsMatchJSONEncoder(text: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let campaigns = [
            Campaign(source: text, medium: "cpc", name: text, term: "a/b", content: text),
            Campaign(source: text),
            Campaign(),
        ]
        for campaign in campaigns {
            #expect(JSONWriter.text(of: campaign) == String(decoding: try encoder.encode(campaign), as: UTF8.self))
        }
        let locations = [Location(country: "US", region: text, city: text, postalCode: "30301"), Location(city: text)]
        for location in locations {
            #expect(JSONWriter.text(of: location) == String(decoding: try encoder.encode(location), as: UTF8.self))
        }
        let clickIds = ["gclid": text, "fbclid": "f/1", "msclkid": text]
        #expect(JSONWriter.text(of: clickIds) == String(decoding: try encoder.encode(clickIds), as: UTF8.self))
    }
}
