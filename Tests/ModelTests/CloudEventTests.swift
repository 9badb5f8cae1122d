import Foundation
import Model
import Testing

@Suite(.timeLimit(.minutes(1)))
struct CloudEventTests {
    // MARK: - Fixtures

    static let time = "2026-05-17T10:05:03.000Z"

    static let page = """
        {"type":"page","messageId":"m-1","anonymousId":"v-20a7","sessionId":"s-8c1f",\
        "timestamp":"2026-05-17T10:05:03.000Z",\
        "properties":{"url":"https://example.com/pricing?utm_source=google&gclid=abc",\
        "referrer":"https://www.google.com/","title":"Pricing"},\
        "context":{"ip":"203.0.113.7","userAgent":"Mozilla/5.0",\
        "campaign":{"source":"google","medium":"cpc","name":"spring"},\
        "location":{"country":"US","region":"CA","city":"San Jose"}}}
        """

    static let track = """
        {"type":"track","event":"Phone Link Clicked","messageId":"m-2","anonymousId":"v-20a7",\
        "sessionId":"s-8c1f","timestamp":"2026-05-17T10:05:43.000Z"}
        """

    static let identify = """
        {"type":"identify","traits":{"phone":"+1 555 555 0142"},"messageId":"m-3","sessionId":"s-8c1f"}
        """

    static let callStarted = """
        {"callId":"CA01","carrier":"twilio","to":"+15555550101","from":"+15555550142",\
        "callerLocation":{"country":"US","region":"CA","city":"San Jose"},"status":"started",\
        "occurredAt":"2026-05-17T10:06:00.000Z"}
        """

    static let callMatch = """
        {"callId":"CA01","sessionId":"s-8c1f","visitorId":"v-20a7","method":"auto","probability":0.93,\
        "decidedAt":"2026-05-17T10:06:01.000Z"}
        """

    static let callOutcome = """
        {"callId":"CA01","disposition":"sale","revenue":120.5,"currency":"USD","notes":"Booked a visit",\
        "agentId":"a-7","recordedAt":"2026-05-17T10:12:00.000Z"}
        """

    static let leaseRecycled = """
        {"pool":"main","number":"+15555550101","sessionId":"s-8c1f","visitorId":"v-20a7","status":"recycled",\
        "from":"2026-05-17T10:05:03.000Z","until":"2026-05-17T10:20:03.000Z"}
        """

    static let attribution = """
        {"callId":"CA01","sessionId":"s-8c1f","campaign":{"source":"google","medium":"cpc","name":"spring"},\
        "clickIds":{"gclid":"abc"},"method":"auto","probability":0.93,"durationSeconds":184,\
        "disposition":"sale","revenue":120.5,"currency":"USD","withdrawn":false}
        """

    static let deadLetter = """
        {"topic":"calls.outcomes","partition":0,"offset":42,"reason":"currency is required with revenue",\
        "message":"{}","encoding":"utf-8","service":"attribution-worker"}
        """

    /// Builds a structured-mode event with default attributes. `changes` replaces raw JSON values, and nil removes one.
    static func envelope(type: String, data: String, _ changes: [String: String?] = [:]) -> [UInt8] {
        var fields: [String: String] = [
            "specversion": #""1.0""#,
            "id": #""e-1""#,
            "source": #""/test""#,
            "type": "\"\(type)\"",
            "time": "\"\(time)\"",
            "subject": #""s-8c1f""#,
            "datacontenttype": #""application/json""#,
            "advertiserid": #""acme""#,
            "data": data,
        ]
        for (key, value) in changes { fields[key] = value }
        let members = fields.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }
        return Array(("{" + members.joined(separator: ",") + "}").utf8)
    }

    /// Returns the reason `decode` rejects `bytes` with, or nil when it accepts them.
    static func rejection<Payload: Codable & Sendable>(
        _ bytes: [UInt8],
        as payload: Payload.Type,
        expectedTypes: Set<String>? = nil
    ) -> String? {
        do {
            _ = try CloudEvent<Payload>.decode(bytes, expectedTypes: expectedTypes)
            return nil
        } catch {
            return error.reason
        }
    }

    // MARK: - Valid events of each message type

    @Test
    func decodesPageEvent() throws {
        let bytes = Self.envelope(type: "ringtrail.web.page", data: Self.page)
        let event = try CloudEvent<WebEvent>.decode(bytes, expectedTypes: EventType.webTypes)
        #expect(event.specversion == "1.0")
        #expect(event.id == "e-1")
        #expect(event.source == "/test")
        #expect(event.type == "ringtrail.web.page")
        #expect(event.time == Self.time)
        #expect(event.subject == "s-8c1f")
        #expect(event.datacontenttype == "application/json")
        #expect(event.advertiserid == "acme")
        #expect(event.data.type == .page)
        #expect(event.data.sessionId == "s-8c1f")
        #expect(event.data.anonymousId == "v-20a7")
        #expect(event.data.pageURL == "https://example.com/pricing?utm_source=google&gclid=abc")
        #expect(event.data.referrer == "https://www.google.com/")
        #expect(event.data.context?.campaign == Campaign(source: "google", medium: "cpc", name: "spring"))
        #expect(event.data.context?.location?.region == "CA")
        #expect(event.data.cloudEventType == "ringtrail.web.page")
    }

    @Test
    func decodesTrackEventAsPhoneClick() throws {
        let bytes = Self.envelope(type: "ringtrail.web.track", data: Self.track)
        let event = try CloudEvent<WebEvent>.decode(bytes, expectedTypes: EventType.webTypes)
        #expect(event.data.type == .track)
        #expect(event.data.event == "Phone Link Clicked")
        #expect(event.data.isPhoneClick)
    }

    @Test
    func decodesIdentifyEvent() throws {
        let bytes = Self.envelope(type: "ringtrail.web.identify", data: Self.identify)
        let event = try CloudEvent<WebEvent>.decode(bytes, expectedTypes: EventType.webTypes)
        #expect(event.data.type == .identify)
        #expect(event.data.traits?["phone"] == .string("+1 555 555 0142"))
        #expect(event.data.anonymousId == nil)
        #expect(!event.data.isPhoneClick)
    }

    @Test
    func decodesCallEvent() throws {
        let bytes = Self.envelope(type: EventType.callStarted, data: Self.callStarted)
        let event = try CloudEvent<CallEvent>.decode(bytes, expectedTypes: EventType.callEventTypes)
        #expect(event.data.callId == "CA01")
        #expect(event.data.to == "+15555550101")
        #expect(event.data.from == "+15555550142")
        #expect(event.data.callerLocation == Location(country: "US", region: "CA", city: "San Jose"))
        #expect(event.data.status == .started)
        #expect(event.data.durationSeconds == nil)
        #expect(event.data.cloudEventType == EventType.callStarted)
    }

    @Test
    func decodesCallEventOfWithheldCaller() throws {
        let data = Self.callStarted.replacingOccurrences(of: #""+15555550142""#, with: "null")
        let event = try CloudEvent<CallEvent>.decode(Self.envelope(type: EventType.callStarted, data: data))
        #expect(event.data.from == nil)
    }

    @Test
    func decodesCallMatch() throws {
        let bytes = Self.envelope(type: EventType.callMatched, data: Self.callMatch)
        let event = try CloudEvent<CallMatch>.decode(bytes, expectedTypes: [EventType.callMatched])
        #expect(event.data.sessionId == "s-8c1f")
        #expect(event.data.method == .auto)
        #expect(event.data.probability == 0.93)
        #expect(event.data.agentId == nil)
    }

    @Test
    func decodesCallMatchOfNoneOfThese() throws {
        let data = """
            {"callId":"CA01","sessionId":null,"method":"agent","agentId":"a-7","decidedAt":"2026-05-17T10:07:00.000Z"}
            """
        let event = try CloudEvent<CallMatch>.decode(Self.envelope(type: EventType.callMatched, data: data))
        #expect(event.data.sessionId == nil)
        #expect(event.data.method == .agent)
        #expect(event.data.agentId == "a-7")
    }

    @Test
    func decodesCallOutcome() throws {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome)
        let event = try CloudEvent<CallOutcome>.decode(bytes, expectedTypes: [EventType.callOutcome])
        #expect(event.data.disposition == "sale")
        #expect(event.data.revenue == 120.5)
        #expect(event.data.currency == "USD")
        #expect(event.data.notes == "Booked a visit")
    }

    @Test
    func decodesCallOutcomeWithoutRevenue() throws {
        let data = #"{"callId":"CA01","disposition":"support","recordedAt":"2026-05-17T10:12:00.000Z"}"#
        let event = try CloudEvent<CallOutcome>.decode(Self.envelope(type: EventType.callOutcome, data: data))
        #expect(event.data.revenue == nil)
        #expect(event.data.currency == nil)
    }

    @Test
    func decodesLeaseEvent() throws {
        let bytes = Self.envelope(type: EventType.leaseRecycled, data: Self.leaseRecycled)
        let event = try CloudEvent<LeaseEvent>.decode(bytes, expectedTypes: [EventType.leaseRecycled])
        #expect(event.data.number == "+15555550101")
        #expect(event.data.status == .recycled)
        #expect(event.data.until == "2026-05-17T10:20:03.000Z")
        #expect(event.data.cloudEventType == EventType.leaseRecycled)
    }

    @Test
    func decodesAttribution() throws {
        let bytes = Self.envelope(type: EventType.attribution, data: Self.attribution)
        let event = try CloudEvent<Attribution>.decode(bytes, expectedTypes: [EventType.attribution])
        #expect(event.data.callId == "CA01")
        #expect(event.data.campaign?.name == "spring")
        #expect(event.data.clickIds == ["gclid": "abc"])
        #expect(event.data.method == .auto)
        #expect(event.data.durationSeconds == 184)
        #expect(!event.data.withdrawn)
    }

    @Test
    func decodesDeadLetter() throws {
        let bytes = Self.envelope(type: EventType.deadletter, data: Self.deadLetter)
        let event = try CloudEvent<DeadLetter>.decode(bytes, expectedTypes: [EventType.deadletter])
        #expect(event.data.topic == "calls.outcomes")
        #expect(event.data.partition == 0)
        #expect(event.data.offset == 42)
        #expect(event.data.reason == "currency is required with revenue")
        #expect(event.data.encoding == "utf-8")
    }

    @Test
    func decodesEventWithoutSubject() throws {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["subject": nil])
        let event = try CloudEvent<CallOutcome>.decode(bytes)
        #expect(event.subject == nil)
    }

    /// CloudEvents 1.0 makes `datacontenttype` optional, and the JSON format reads a missing one as JSON.
    @Test
    func decodesEventWithoutDataContentType() throws {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["datacontenttype": nil])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == nil)
        let event = try CloudEvent<CallOutcome>.decode(bytes)
        #expect(event.datacontenttype == "application/json")
    }

    @Test
    func headerDecodesWithoutKnowingPayload() throws {
        let header = try CloudEventHeader.decode(Self.envelope(type: EventType.callOutcome, data: Self.callOutcome))
        #expect(header.id == "e-1")
        #expect(header.type == EventType.callOutcome)
        #expect(header.advertiserid == "acme")
        #expect(header.time == Self.time)
        #expect(throws: ValidationError("not valid JSON: expected a quoted key, found end of text")) { try CloudEventHeader.decode(Array("{".utf8)) }
    }

    // MARK: - Envelope rejections

    @Test(arguments: [
        ("not json", "unexpected 'n' at byte 0"),
        ("", "the text ends where a value should be"),
        ("{", "expected a quoted key, found end of text"),
        ("{\"id\":", "the text ends where a value should be"),
        ("[1, 2", "the text ends inside an array"),
        ("\u{FEFF}{]", "expected a quoted key, found ']' at byte 4"),
    ])
    func decodeRejectsNonJSONText(text: String, reason: String) {
        #expect(Self.rejection(Array(text.utf8), as: CallOutcome.self) == "not valid JSON: \(reason)")
    }

    @Test
    func decodeRejectsNonUTF8Bytes() {
        #expect(Self.rejection([0xff, 0xfe, 0x00, 0x7b], as: CallOutcome.self)
            == "not valid JSON: unexpected byte 0xFF at byte 0 where a value should be")
    }

    @Test
    func decodeRejectsNonObjectDocument() {
        let reason = Self.rejection(Array("[1, 2]".utf8), as: CallOutcome.self)
        #expect(reason == "the document has the wrong type, expected an object")
    }

    @Test(arguments: ["id", "specversion", "source", "type", "time", "advertiserid", "data"])
    func decodeRejectsMissingAttribute(attribute: String) {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, [attribute: nil])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == "missing field \(attribute)")
    }

    @Test(arguments: ["0.3", "1", "1.0.0", ""])
    func decodeRejectsOtherSpecVersion(version: String) {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["specversion": "\"\(version)\""])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == "specversion must be \"1.0\", got \"\(version)\"")
    }

    @Test
    func decodeRejectsNumericSpecVersion() {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["specversion": "1.0"])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == "specversion has the wrong type, expected a string")
    }

    @Test(arguments: ["", String(repeating: "x", count: 513)])
    func decodeRejectsEmptyOrLongID(id: String) {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["id": "\"\(id)\""])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == "id must be 1 to 512 bytes")
    }

    /// Collect's ids join the longest advertiser id and the longest messageId.
    @Test
    func decodeAcceptsLongestCollectID() throws {
        let id = String(repeating: "a", count: 128) + ":" + String(repeating: "m", count: 200)
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["id": "\"\(id)\""])
        let event = try CloudEvent<CallOutcome>.decode(bytes)
        #expect(event.id == id)
    }

    @Test
    func decodeAcceptsIDOf256Characters() {
        let id = String(repeating: "x", count: 256)
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["id": "\"\(id)\""])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == nil)
    }

    @Test
    func decodeRejectsEmptySourceAndAdvertiser() {
        let noSource = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["source": #""""#])
        #expect(Self.rejection(noSource, as: CallOutcome.self) == "source must not be empty")

        let noAdvertiser = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["advertiserid": #""""#])
        #expect(Self.rejection(noAdvertiser, as: CallOutcome.self) == "advertiserid must not be empty")
    }

    @Test(arguments: ["yesterday", "2026-05-17", "2026-05-17T10:05:03", "2026-02-30T10:05:03.000Z", ""])
    func decodeRejectsBadTime(time: String) {
        let bytes = Self.envelope(type: EventType.callOutcome, data: Self.callOutcome, ["time": "\"\(time)\""])
        #expect(Self.rejection(bytes, as: CallOutcome.self) == "time is not an RFC 3339 timestamp: \"\(time)\"")
    }

    @Test
    func decodeRejectsUnexpectedType() {
        let bytes = Self.envelope(type: EventType.callStarted, data: Self.page)
        let reason = Self.rejection(bytes, as: WebEvent.self, expectedTypes: EventType.webTypes)
        #expect(
            reason == "type \"ringtrail.call.started\" is not one of "
                + "ringtrail.web.identify, ringtrail.web.page, ringtrail.web.track"
        )
    }

    @Test
    func decodeAcceptsAnyTypeByDefault() {
        let bytes = Self.envelope(type: "com.example.other", data: Self.callOutcome)
        #expect(Self.rejection(bytes, as: CallOutcome.self) == nil)
    }

    // MARK: - Data fields of the wrong type

    @Test
    func decodeNamesPathOfMistypedField() {
        let data = Self.page.replacingOccurrences(of: #""sessionId":"s-8c1f""#, with: #""sessionId":8"#)
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.page", data: data), as: WebEvent.self)
        #expect(reason == "data.sessionId has the wrong type, expected a string")
    }

    @Test
    func decodeNamesPathOfNestedField() {
        let data = Self.page.replacingOccurrences(of: #""region":"CA""#, with: #""region":["CA"]"#)
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.page", data: data), as: WebEvent.self)
        #expect(reason == "data.context.location.region has the wrong type, expected a string")
    }

    @Test
    func decodeNamesPathOfMissingDataField() {
        let data = Self.callOutcome.replacingOccurrences(of: #""disposition":"sale","#, with: "")
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "missing field disposition in data")
    }

    @Test
    func decodeNamesPathOfNullField() {
        let data = Self.callOutcome.replacingOccurrences(of: #""callId":"CA01""#, with: #""callId":null"#)
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "data.callId is null, expected a string")
    }

    @Test
    func decodeNamesPathOfMistypedNumber() {
        let data = Self.callOutcome.replacingOccurrences(of: "120.5", with: #""120.5""#)
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "data.revenue has the wrong type, expected a number")
    }

    @Test
    func decodeNamesPathOfMistypedInt32() {
        let data = Self.deadLetter.replacingOccurrences(of: #""partition":0"#, with: #""partition":"zero""#)
        let reason = Self.rejection(Self.envelope(type: EventType.deadletter, data: data), as: DeadLetter.self)
        #expect(reason == "data.partition has the wrong type, expected a number")
    }

    @Test
    func decodeNamesPathOfMistypedObject() {
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: #""sale""#), as: CallOutcome.self)
        #expect(reason == "data has the wrong type, expected an object")
    }

    @Test
    func decodeNamesArrayIndexInPath() {
        let screen = """
            {"callId":"CA01","to":"+15555550101","from":null,"startedAt":"2026-05-17T10:06:00.000Z",\
            "omittedCandidates":0,"candidates":[\
            {"sessionId":"s-1","probability":0.5,"score":1,"reasons":[]},\
            {"sessionId":"s-2","probability":"high","score":1,"reasons":[]}]}
            """
        let reason = Self.rejection(Self.envelope(type: EventType.callScreen, data: screen), as: CallScreen.self)
        #expect(reason == "data.candidates[1].probability has the wrong type, expected a number")
    }

    @Test
    func decodeNamesPathOfUnknownEnumValue() throws {
        let data = Self.callStarted.replacingOccurrences(of: #""status":"started""#, with: #""status":"exploded""#)
        let reason = try #require(Self.rejection(Self.envelope(type: EventType.callStarted, data: data), as: CallEvent.self))
        #expect(reason == "data.status has an invalid value")
    }

    // MARK: - Payload validation

    @Test(arguments: ["won", "Sale", "", "no sale"])
    func callOutcomeRejectsUnknownDisposition(disposition: String) {
        let data = Self.callOutcome.replacingOccurrences(of: #""sale""#, with: "\"\(disposition)\"")
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(
            reason == "disposition must be one of appointment, lead, no-sale, sale, spam, support, voicemail, "
                + "wrong-number"
        )
    }

    @Test
    func callOutcomeRejectsRevenueWithoutCurrency() {
        let data = Self.callOutcome.replacingOccurrences(of: #""currency":"USD","#, with: "")
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "currency is required with revenue")
    }

    @Test(arguments: ["usd", "US", "USDX", "U$D", ""])
    func callOutcomeRejectsMalformedCurrency(currency: String) {
        let data = Self.callOutcome.replacingOccurrences(of: #""USD""#, with: "\"\(currency)\"")
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "currency must be a three-letter ISO 4217 code such as USD")
    }

    @Test
    func callOutcomeRejectsNegativeRevenue() {
        let data = Self.callOutcome.replacingOccurrences(of: "120.5", with: "-1")
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "revenue must be a number from 0 to 1000000000000")
    }

    @Test
    func callOutcomeRejectsLongNotes() {
        let notes = String(repeating: "n", count: 4001)
        let data = Self.callOutcome.replacingOccurrences(of: "Booked a visit", with: notes)
        let reason = Self.rejection(Self.envelope(type: EventType.callOutcome, data: data), as: CallOutcome.self)
        #expect(reason == "notes must be at most 4000 bytes")
    }

    @Test(arguments: ["5555550101", "15555550101", "+05555550101", "+1555", "+1555555010123456", "+1 555 555 0101",
                      "tel:+15555550101", ""])
    func callEventRejectsNonE164CalledNumber(number: String) {
        let data = Self.callStarted.replacingOccurrences(of: #""+15555550101""#, with: "\"\(number)\"")
        let reason = Self.rejection(Self.envelope(type: EventType.callStarted, data: data), as: CallEvent.self)
        #expect(reason == "to must be an E.164 number")
    }

    @Test(arguments: ["anonymous", "5555550142", "+0123456789", "+1-555-555-0142"])
    func callEventRejectsNonE164CallerNumber(number: String) {
        let data = Self.callStarted.replacingOccurrences(of: #""+15555550142""#, with: "\"\(number)\"")
        let reason = Self.rejection(Self.envelope(type: EventType.callStarted, data: data), as: CallEvent.self)
        #expect(reason == "from must be an E.164 number or null")
    }

    @Test
    func callEventRejectsNegativeDuration() {
        let data = Self.callStarted.replacingOccurrences(of: #""status":"started""#,
                                                        with: #""status":"completed","durationSeconds":-5"#)
        let reason = Self.rejection(Self.envelope(type: EventType.callCompleted, data: data), as: CallEvent.self)
        #expect(reason == "durationSeconds must not be negative")
    }

    @Test
    func callEventRejectsBadOccurredAt() {
        let data = Self.callStarted.replacingOccurrences(of: "2026-05-17T10:06:00.000Z", with: "10:06")
        let reason = Self.rejection(Self.envelope(type: EventType.callStarted, data: data), as: CallEvent.self)
        #expect(reason == "occurredAt is not an RFC 3339 timestamp")
    }

    @Test(arguments: [#""event":"","#, ""])
    func webEventRejectsTrackWithoutEventName(eventField: String) {
        let data = Self.track.replacingOccurrences(of: #""event":"Phone Link Clicked","#, with: eventField)
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.track", data: data), as: WebEvent.self)
        #expect(reason == "a track event needs an event name in \"event\"")
    }

    @Test(arguments: ["s 8c1f", "s/8c1f", "s{8c1f}", "s-8c1f\\n", "sé", "", String(repeating: "s", count: 129)])
    func webEventRejectsInvalidSessionID(sessionId: String) {
        let data = Self.page.replacingOccurrences(of: #""sessionId":"s-8c1f""#, with: "\"sessionId\":\"\(sessionId)\"")
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.page", data: data), as: WebEvent.self)
        #expect(reason == "sessionId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
    }

    @Test(arguments: ["s-8c1f", "S_8C1F", "a.b:c", String(repeating: "s", count: 128)])
    func webEventAcceptsValidSessionID(sessionId: String) {
        let data = Self.page.replacingOccurrences(of: #""sessionId":"s-8c1f""#, with: "\"sessionId\":\"\(sessionId)\"")
        #expect(Self.rejection(Self.envelope(type: "ringtrail.web.page", data: data), as: WebEvent.self) == nil)
    }

    @Test
    func webEventRejectsInvalidAnonymousID() {
        let data = Self.page.replacingOccurrences(of: #""anonymousId":"v-20a7""#, with: #""anonymousId":"v 20a7""#)
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.page", data: data), as: WebEvent.self)
        #expect(reason == "anonymousId must be 1 to 128 letters, digits, '-', '_', '.' or ':'")
    }

    @Test
    func webEventRejectsEmptyMessageID() {
        let data = Self.identify.replacingOccurrences(of: #""messageId":"m-3""#, with: #""messageId":"""#)
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.identify", data: data), as: WebEvent.self)
        #expect(reason == "messageId must be 1 to 200 bytes")
    }

    @Test
    func webEventRejectsBadTimestamp() {
        let data = Self.track.replacingOccurrences(of: "2026-05-17T10:05:43.000Z", with: "2026-05-17 10:05")
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.track", data: data), as: WebEvent.self)
        #expect(reason == "timestamp is not an RFC 3339 timestamp: \"2026-05-17 10:05\"")
    }

    @Test(arguments: ["javascript:alert(1)", "ftp://example.com/", "example.com/pricing", "/pricing", "https://",
                      "http:///pricing"])
    func webEventRejectsNonHTTPPageURL(url: String) {
        let data = Self.page.replacingOccurrences(
            of: "https://example.com/pricing?utm_source=google&gclid=abc", with: url)
        let reason = Self.rejection(Self.envelope(type: "ringtrail.web.page", data: data), as: WebEvent.self)
        #expect(reason == "properties.url must be an http or https URL with a host")
    }

    @Test
    func callMatchRejectsProbabilityAboveOne() {
        let data = Self.callMatch.replacingOccurrences(of: "0.93", with: "1.5")
        let reason = Self.rejection(Self.envelope(type: EventType.callMatched, data: data), as: CallMatch.self)
        #expect(reason == "probability must be between 0 and 1")
    }

    @Test
    func callMatchRejectsInvalidSessionID() {
        let data = Self.callMatch.replacingOccurrences(of: #""s-8c1f""#, with: #""s 8c1f""#)
        let reason = Self.rejection(Self.envelope(type: EventType.callMatched, data: data), as: CallMatch.self)
        #expect(reason == "sessionId must be 1 to 128 id characters or null")
    }

    // MARK: - Encoding

    static func leaseEvent() -> CloudEvent<LeaseEvent> {
        CloudEvent(
            id: "e-1",
            source: "/number-pool",
            type: EventType.leaseGranted,
            time: Date(timeIntervalSince1970: 1_779_012_303),
            subject: "+15555550101",
            advertiserID: "acme",
            data: LeaseEvent(pool: "main", number: "+15555550101", sessionId: "s-8c1f", visitorId: "v-20a7",
                             status: .granted, from: "2026-05-17T10:05:03.000Z", until: "2026-05-17T10:20:03.000Z")
        )
    }

    @Test
    func encodedSortsKeysAndKeepsSlashes() {
        let expected = """
            {"advertiserid":"acme","data":{"from":"2026-05-17T10:05:03.000Z","number":"+15555550101",\
            "pool":"main","sessionId":"s-8c1f","status":"granted","until":"2026-05-17T10:20:03.000Z",\
            "visitorId":"v-20a7"},"datacontenttype":"application/json","id":"e-1","source":"/number-pool",\
            "specversion":"1.0","subject":"+15555550101","time":"2026-05-17T10:05:03.000Z",\
            "type":"ringtrail.lease.granted"}
            """
        #expect(String(decoding: Self.leaseEvent().encoded(), as: UTF8.self) == expected)
    }

    @Test
    func encodedIsSameForEqualValues() {
        #expect(Self.leaseEvent().encoded() == Self.leaseEvent().encoded())

        var properties: [String: JSONValue] = [:]
        for index in 0..<50 { properties["key\(index)"] = .number(Double(index)) }
        let event = WebEvent(type: .page, messageId: "m-1", anonymousId: nil, sessionId: "s-1",
                             timestamp: Self.time, properties: properties)
        let first = CloudEvent(id: "e-1", source: "/test", type: "ringtrail.web.page", time: Date(timeIntervalSince1970: 0),
                               subject: nil, advertiserID: "acme", data: event)
        var reordered: [String: JSONValue] = [:]
        for index in (0..<50).reversed() { reordered["key\(index)"] = .number(Double(index)) }
        var second = first
        second.data.properties = reordered
        #expect(first.encoded() == second.encoded())

        let text = String(decoding: first.encoded(), as: UTF8.self)
        let positions = ["\"key0\"", "\"key1\"", "\"key10\"", "\"key2\"", "\"key49\""].map {
            text.range(of: $0)?.lowerBound
        }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
    }

    @Test
    func encodedLeavesOutAbsentSubject() {
        var event = Self.leaseEvent()
        event.subject = nil
        #expect(!String(decoding: event.encoded(), as: UTF8.self).contains("subject"))
    }

    @Test
    func encodedDecodesToEqualValue() throws {
        let original = Self.leaseEvent()
        let decoded = try CloudEvent<LeaseEvent>.decode(original.encoded(), expectedTypes: [EventType.leaseGranted])
        #expect(decoded.id == original.id)
        #expect(decoded.time == original.time)
        #expect(decoded.subject == original.subject)
        #expect(decoded.data == original.data)
        #expect(decoded.encoded() == original.encoded())
    }

    @Test
    func initGeneratesDistinctIDsAndFormatsTime() {
        let first = CloudEvent(source: "/test", type: EventType.callOutcome, time: Date(timeIntervalSince1970: 0.5),
                               subject: nil, advertiserID: "acme", data: Self.leaseEvent().data)
        let second = CloudEvent(source: "/test", type: EventType.callOutcome, subject: nil, advertiserID: "acme",
                                data: Self.leaseEvent().data)
        #expect(first.id != second.id)
        #expect(!first.id.isEmpty)
        #expect(first.time == "1970-01-01T00:00:00.500Z")
        #expect(first.specversion == "1.0")
        #expect(first.datacontenttype == "application/json")
    }

    // MARK: - Dead letters

    @Test
    func deadLetterKeepsUTF8MessageAsText() {
        let letter = DeadLetter(topic: "calls.outcomes", partition: 3, offset: 7, reason: "not valid JSON",
                                original: Array("{oops".utf8), service: "attribution-worker")
        #expect(letter.message == "{oops")
        #expect(letter.encoding == "utf-8")
    }

    @Test
    func deadLetterKeepsOtherBytesAsBase64() {
        let letter = DeadLetter(topic: "calls.outcomes", partition: nil, offset: nil, reason: "not valid JSON",
                                original: [0xff, 0xfe, 0x00], service: "attribution-worker")
        #expect(letter.message == "//4A")
        #expect(letter.encoding == "base64")
    }

    @Test
    func deadLetterKeepsStartOfLargeMessage() {
        let text = String(repeating: "é", count: DeadLetter.maxMessageBytes)
        let letter = DeadLetter(topic: "web.activity", partition: 0, offset: 1, reason: "not valid JSON",
                                original: Array(text.utf8), service: "activity-ingester")
        #expect(letter.truncated)
        #expect(letter.originalBytes == 2 * DeadLetter.maxMessageBytes)
        #expect(letter.encoding == "utf-8")
        #expect(letter.message.utf8.count == DeadLetter.maxMessageBytes)
        #expect(letter.message.allSatisfy { $0 == "é" })
    }

    @Test
    func deadLetterKeepsStartOfLargeBinaryMessage() {
        let letter = DeadLetter(topic: "web.activity", partition: 0, offset: 1, reason: "not valid JSON",
                                original: [UInt8](repeating: 0xff, count: 800_000), service: "activity-ingester")
        #expect(letter.truncated)
        #expect(letter.originalBytes == 800_000)
        #expect(letter.encoding == "base64")
        #expect(Data(base64Encoded: letter.message)?.count == DeadLetter.maxMessageBytes)
    }

    @Test
    func deadLetterOfSmallMessageIsWhole() {
        let letter = DeadLetter(topic: "web.activity", partition: 0, offset: 1, reason: "not valid JSON",
                                original: Array("{oops".utf8), service: "activity-ingester")
        #expect(!letter.truncated)
        #expect(letter.originalBytes == 5)
    }
}
