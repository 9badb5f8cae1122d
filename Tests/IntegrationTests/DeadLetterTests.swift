import Foundation
import KafkaKit
import Model
import Testing

/// Each consumer sends a malformed message to `deadletter` with its reason and goes on with the next one.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DeadLetterTests {
    @Test(arguments: [
        (Topic.webActivity, "activity-ingester"),
        (Topic.webActivity, "number-pool"),
        (Topic.callEvents, "call-router"),
        (Topic.callMatches, "attribution-worker"),
    ])
    func malformedMessageGoesToDeadletter(topic: Topic, service: String) async throws {
        let stack = try await TestStack.shared()
        let reader = try stack.makeReader([.deadletter])
        defer { Task { await reader.close() } }
        let key = "bad-\(service)-\(UUID().uuidString.prefix(8))"
        try await stack.produce(topic, key: key, value: Array("{\"specversion\": \"1.0\", \"id\": 7".utf8))

        let letter = await awaitMessage(reader, as: DeadLetter.self, topic: stack.topic(.deadletter)) {
            $0.subject == key && $0.data.service == service
        }
        let data = try #require(letter?.data)
        #expect(data.topic == stack.topic(topic))
        #expect(data.reason == "not valid JSON")
        #expect(data.message == "{\"specversion\": \"1.0\", \"id\": 7")
        #expect(data.offset != nil)
    }

    @Test func ingesterGoesOnAfterBadEvent() async throws {
        let stack = try await TestStack.shared()
        let session = "s-after-\(UUID().uuidString.prefix(8).lowercased())"
        try await stack.produce(.webActivity, key: session, value: Array("not json at all".utf8))
        let wrongType = CloudEvent(source: "/test", type: "ringtrail.web.page", subject: session, advertiserID: "acme",
                                   data: ["type": JSONValue.string("page"), "messageId": .string("m-1"), "sessionId": .number(42)])
        try await stack.produce(.webActivity, key: session, value: wrongType.encoded())
        let good = CloudEvent(
            source: "/test", type: "ringtrail.web.page", subject: session, advertiserID: "acme",
            data: WebEvent(type: .page, messageId: "\(session)-ok", anonymousId: "v-1", sessionId: session,
                           timestamp: Timestamp.format(Date()), properties: ["url": .string("https://example.com/")])
        )
        try await stack.produce(.webActivity, key: session, value: good.encoded())
        try await waitForSession(stack, session, events: 1)

        let reader = try stack.makeReader([.deadletter])
        defer { Task { await reader.close() } }
        let letter = await awaitMessage(reader, as: DeadLetter.self, topic: stack.topic(.deadletter)) {
            $0.subject == session && $0.data.service == "activity-ingester" && $0.data.reason.contains("sessionId")
        }
        #expect(letter?.data.reason == "data.sessionId has the wrong type, expected a string")
    }
}
