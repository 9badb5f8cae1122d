import Model
import Store
import Testing

/// Segment's correction of the client clock, `receivedAt - (sentAt - timestamp)`, in
/// `SessionStore.timestamp(of:receivedAt:)`.
@Suite(.timeLimit(.minutes(1)))
struct ClockSkewTests {
    /// 2026-05-17T10:05:03.000Z, when the server received the batch.
    static let serverTime: Int64 = 1_779_012_303_000

    static func event(timestamp: String?, sentAt: String? = nil, receivedAt: String? = nil) -> WebEvent {
        var event = WebEvent(type: .page, messageId: "m-1", anonymousId: "v-1", sessionId: "s-1", timestamp: timestamp)
        event.sentAt = sentAt
        event.receivedAt = receivedAt
        return event
    }

    static func corrected(_ event: WebEvent) -> String {
        Timestamp.format(milliseconds: SessionStore.timestamp(of: event, receivedAt: serverTime))
    }

    @Test
    func clientClockAheadIsCorrected() {
        // The client's clock runs one hour ahead, and the event happened 5 s before the batch was sent.
        let event = Self.event(timestamp: "2026-05-17T11:04:58.000Z", sentAt: "2026-05-17T11:05:03.000Z")
        #expect(Self.corrected(event) == "2026-05-17T10:04:58.000Z")
    }

    @Test
    func clientClockBehindIsCorrected() {
        // The client's clock runs 3 min 20.5 s behind, and the event happened 2 s before sending.
        let event = Self.event(timestamp: "2026-05-17T10:01:40.500Z", sentAt: "2026-05-17T10:01:42.500Z")
        #expect(Self.corrected(event) == "2026-05-17T10:05:01.000Z")
    }

    @Test
    func clientClockInOtherZoneIsCorrected() {
        let event = Self.event(timestamp: "2026-05-17T12:04:00.000+02:00", sentAt: "2026-05-17T12:05:00.000+02:00")
        #expect(Self.corrected(event) == "2026-05-17T10:04:03.000Z")
    }

    @Test
    func correctClockShiftsByTransitTime() {
        // With a correct clock, the batch left at 10:05:02.750 and arrived 250 ms later, so the event shifts by 250 ms.
        let event = Self.event(timestamp: "2026-05-17T10:04:30.000Z", sentAt: "2026-05-17T10:05:02.750Z")
        #expect(Self.corrected(event) == "2026-05-17T10:04:30.250Z")
    }

    @Test
    func recordedReceivedAtTakesPrecedence() {
        let event = Self.event(timestamp: "2026-05-17T11:04:58.000Z", sentAt: "2026-05-17T11:05:03.000Z",
                               receivedAt: "2026-05-17T09:00:10.000Z")
        #expect(Self.corrected(event) == "2026-05-17T09:00:05.000Z")
    }

    @Test
    func timestampWithoutSentAtIsUsedAsIs() {
        let event = Self.event(timestamp: "2026-05-17T09:59:00.000Z")
        #expect(Self.corrected(event) == "2026-05-17T09:59:00.000Z")
    }

    @Test
    func invalidSentAtLeavesTimestampUncorrected() {
        let event = Self.event(timestamp: "2026-05-17T09:59:00.000Z", sentAt: "soon")
        #expect(Self.corrected(event) == "2026-05-17T09:59:00.000Z")
    }

    @Test(arguments: [nil, "", "yesterday", "2026-02-30T10:00:00Z"])
    func badTimestampUsesReceivedTime(timestamp: String?) {
        let event = Self.event(timestamp: timestamp, sentAt: "2026-05-17T11:05:03.000Z")
        #expect(SessionStore.timestamp(of: event, receivedAt: Self.serverTime) == Self.serverTime)

        var recorded = event
        recorded.receivedAt = "2026-05-17T09:00:00.000Z"
        #expect(Self.corrected(recorded) == "2026-05-17T09:00:00.000Z")
    }

    @Test
    func invalidReceivedAtUsesServerTime() {
        let event = Self.event(timestamp: "2026-05-17T11:04:58.000Z", sentAt: "2026-05-17T11:05:03.000Z",
                               receivedAt: "later")
        #expect(Self.corrected(event) == "2026-05-17T10:04:58.000Z")
    }

    @Test(arguments: [
        ("9999-12-31T23:59:59.000Z", nil),
        ("0000-01-01T00:00:00.000Z", nil),
        ("1970-01-01T00:00:00.000Z", nil),
        // sentAt in 1970 with a current timestamp would date the event in 2083.
        ("2026-05-17T10:05:00.000Z", "1970-01-01T00:00:00.000Z"),
        ("2026-05-17T10:11:00.000Z", nil),
    ] as [(String, String?)])
    func implausibleTimeUsesReceivedTime(timestamp: String, sentAt: String?) {
        let event = Self.event(timestamp: timestamp, sentAt: sentAt)
        #expect(Self.corrected(event) == "2026-05-17T10:05:03.000Z")
    }

    @Test
    func slightlyFutureTimeIsKept() {
        // Four minutes ahead of the server: within the 5-minute tolerance for unsynchronized clocks.
        let event = Self.event(timestamp: "2026-05-17T10:09:03.000Z")
        #expect(Self.corrected(event) == "2026-05-17T10:09:03.000Z")
    }
}
