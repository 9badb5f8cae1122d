import Model
import Testing

struct PageURLTests {
    private func page(_ url: String) -> WebEvent {
        WebEvent(type: .page, messageId: "m-1", anonymousId: "v-1", sessionId: "s-1",
                 timestamp: "2026-12-05T04:00:00.000Z", properties: ["url": .string(url)])
    }

    @Test(arguments: [
        "https://shop.example.com/p", "https://shop.example.com:8443/", "https://münchen.example/",
        "https://[2001:db8::1]:443/", "https://[2001:db8::1]/", "https://a_b.example/", "https://a.example:/",
        "https://user:pw@a.example/", "HTTP://A.EXAMPLE/x?y=1#z",
    ])
    func validHostAccepted(url: String) throws {
        try page(url).validate()
    }

    @Test(arguments: [
        ("https://a b.example/", "a character that is not allowed in a host"),
        ("https://a<b.example/", "a character that is not allowed in a host"),
        ("https://a.example:99999/", "an invalid port"),
        ("https://a.example:0/", "an invalid port"),
        ("https://a.example:12ab/", "an invalid port"),
        ("https://[2001:db8::1/", "an unclosed IPv6 host"),
        ("https://[::1]x/", "text after its IPv6 host"),
    ])
    func invalidHostRejected(url: String, reason: String) {
        #expect(throws: ValidationError.self) { try page(url).validate() }
        do {
            try page(url).validate()
        } catch {
            #expect(error.reason.contains(reason), "\(url): \(error.reason)")
        }
    }
}
