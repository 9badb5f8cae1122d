import Foundation
import HTTPKit
import Testing

/// `HTTPResponse.jsonObject` writes JSON by hand for hot endpoints; it must match what `HTTPResponse.json` writes.
struct JSONObjectResponseTests {
    struct Fields: Encodable {
        var alpha: String
        var beta: String?
        var gamma: String
    }

    @Test(arguments: [
        "plain", "", "quote \" and backslash \\", "line\nbreak\r\ttab", "bell \u{07} and \u{1F}", "slash / stays",
        "émigré ☎ 📞", "\u{7F} delete",
    ])
    func matchesJSONEncoder(text: String) throws {
        let byHand = HTTPResponse.jsonObject(["alpha": text, "beta": nil, "gamma": "+15555550100"])
        let encoded = HTTPResponse.json(Fields(alpha: text, beta: nil, gamma: "+15555550100"))
        #expect(String(decoding: byHand.body, as: UTF8.self) == String(decoding: encoded.body, as: UTF8.self))
        let decoded = try JSONSerialization.jsonObject(with: Data(byHand.body)) as? [String: String]
        #expect(decoded == ["alpha": text, "gamma": "+15555550100"])
        #expect(byHand.headers.contains { $0.0 == "Content-Type" && $0.1 == "application/json" })
    }
}
