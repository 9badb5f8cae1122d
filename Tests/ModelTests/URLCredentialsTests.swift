import Model
import Testing

struct URLCredentialsTests {
    private func event(url: String, referrer: String) -> WebEvent {
        WebEvent(type: .page, messageId: "m-1", anonymousId: "v-1", sessionId: "s-1",
                 timestamp: "2026-12-05T04:00:00.000Z",
                 properties: ["url": .string(url), "referrer": .string(referrer)])
    }

    @Test(arguments: [
        ("https://user:secret@a.example/p?q=1", "https://a.example/p?q=1"),
        ("https://user@a.example:8443/", "https://a.example:8443/"),
        ("HTTP://a:b@c@a.example", "HTTP://a.example"),
    ])
    func credentialsRemoved(url: String, expected: String) {
        var event = event(url: url, referrer: url)
        event.removeURLCredentials()
        #expect(event.pageURL == expected)
        #expect(event.referrer == expected)
    }

    @Test(arguments: [
        "https://a.example/p?email=a@b.example", "https://a.example/#x@y", "mailto:a@b.example",
        "https://a.example/users/@name",
    ])
    func urlsWithoutCredentialsUnchanged(url: String) {
        var event = event(url: url, referrer: url)
        event.removeURLCredentials()
        #expect(event.pageURL == url)
        #expect(event.referrer == url)
    }
}
