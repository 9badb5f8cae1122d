import Foundation
import Model
import Testing

/// `JSONValue.parse` and the events read with it must mean exactly what `JSONDecoder` reads, or give nil.
@Suite(.timeLimit(.minutes(1)))
struct JSONValueParseTests {
    static func decoded(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test(arguments: [
        #"{"a":"b","n":12,"f":-0.25,"e":1E+3,"t":true,"x":false,"z":null}"#,
        #"[1, 2 , [ ] , { } ,"three"]"#,
        #"  {"nested":{"deeper":{"list":[{"k":"v"}]}}}  "#,
        #"{"escapes":"quote \" slash \/ back \\ tab \t line \n unicode \u00e9 \ud83d\ude00 nul \u0000"}"#,
        #""plain string""#,
        "123456789012345678",
        #"{"utf8":"café ☎ 😀"}"#,
    ])
    func agreesWithJSONDecoder(text: String) throws {
        let parsed = try #require(JSONValue.parse(Array(text.utf8)))
        #expect(parsed == Self.decoded(text))
    }

    @Test(arguments: [
        #"{"a":1,"a":2}"#,
        #"{"a":1,}"#,
        #"[1,]"#,
        #"{"a":01}"#,
        #"{"a":1.}"#,
        #"{"a":.5}"#,
        #"{"a":1e400}"#,
        #"["\ud800"]"#,
        #"["\udc00\ud800"]"#,
        #"["\x"]"#,
        "[\"tab\there\"]",
        #"{"a":tru}"#,
        #"{"a":1} extra"#,
        "",
        #"{"a""#,
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
    ])
    func givesNilForWhatItCannotReadExactly(text: String) {
        #expect(JSONValue.parse(Array(text.utf8)) == nil)
    }

    @Test
    func invalidUTF8GivesNil() {
        #expect(JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) == nil)
    }

    @Test
    func numbersAndBooleansKeepTheirKinds() throws {
        let parsed = try #require(JSONValue.parse(Array(#"{"one":1,"yes":true,"text":"1"}"#.utf8)))
        #expect(parsed["one"] == .number(1))
        #expect(parsed["yes"] == .bool(true))
        #expect(parsed["text"] == .string("1"))
        #expect(parsed == Self.decoded(#"{"one":1,"yes":true,"text":"1"}"#))
    }

    static func envelope(_ data: String, type: String = "ringtrail.web.page") -> [UInt8] {
        Array("""
            {"specversion":"1.0","id":"e-1","source":"/test","type":"\(type)","time":"\(CloudEventTests.time)",\
            "advertiserid":"acme","data":\(data)}
            """.utf8)
    }

    @Test(arguments: [CloudEventTests.page, CloudEventTests.track, CloudEventTests.identify])
    func webEventsReadWithoutDecoderEqualDecodedOnes(data: String) throws {
        let bytes = Self.envelope(data)
        let fast = try #require(CloudEvent<WebEvent>.readWithoutDecoder(bytes))
        let decoded = try JSONDecoder().decode(CloudEvent<WebEvent>.self, from: Data(bytes))
        #expect(fast.data == decoded.data)
        #expect(fast.id == decoded.id)
        #expect(fast.time == decoded.time)
        #expect(fast.advertiserid == decoded.advertiserid)
        #expect(fast.datacontenttype == "application/json")
        #expect(fast.subject == nil)
    }

    /// Values of the wrong type, unknown event types and missing fields go to `JSONDecoder`, whose message names the
    /// field.
    @Test(arguments: [
        (#"{"type":"page","messageId":7,"sessionId":"s-1"}"#, "messageId has the wrong type"),
        (#"{"type":"view","messageId":"m","sessionId":"s-1"}"#, "type"),
        (#"{"type":"page","messageId":"m"}"#, "missing field sessionId"),
        (#"{"type":"page","messageId":"m","sessionId":"s-1","context":{"campaign":{"source":3}}}"#,
         "context.campaign.source has the wrong type"),
    ])
    func eventsItCannotReadKeepDecoderErrors(data: String, reason: String) {
        let bytes = Self.envelope(data)
        #expect(CloudEvent<WebEvent>.readWithoutDecoder(bytes) == nil)
        #expect(throws: ValidationError.self) { try CloudEvent<WebEvent>.decode(bytes) }
        do {
            _ = try CloudEvent<WebEvent>.decode(bytes)
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test
    func nullOptionalFieldsReadAsAbsent() throws {
        let bytes = Self.envelope(#"{"type":"page","messageId":"m","sessionId":"s-1","context":null,"traits":null}"#)
        let fast = try #require(CloudEvent<WebEvent>.readWithoutDecoder(bytes))
        #expect(fast.data.context == nil)
        #expect(fast.data.traits == nil)
        #expect(fast.data == (try JSONDecoder().decode(CloudEvent<WebEvent>.self, from: Data(bytes))).data)
    }

    @Test
    func batchElementsFailAlone() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        let body = #"\#u{FEFF}{"batch":[{"n":1},{"price":1e400},{"title":"a\ud800b"},{"k":1,"k":2},[1],"#
            + "{\"x\":\(deep)},{\"t\":\"a\u{01}b\"},{\"v\":NaN},{\"z\":0e4}],\"other\":{\"x\":1}}"
        let elements = try JSONValue.parseElements(of: "batch", in: Array(body.utf8))

        #expect(elements.count == 9)
        #expect(try elements[0].get() == .object(["n": .number(1)]))
        #expect(throws: ValidationError("the event is not valid JSON: the number 1e400 is out of range")) {
            try elements[1].get()
        }
        #expect(try elements[2].get()["title"] == .string("a\u{FFFD}b"))
        #expect(throws: ValidationError(
            "the event is not valid JSON: the key \"k\" at byte 7 appears a second time in one object")) {
            try elements[3].get()
        }
        #expect(try elements[4].get() == .array([.number(1)]))
        #expect(throws: ValidationError("the event is not valid JSON: values are nested more than 32 levels deep")) {
            try elements[5].get()
        }
        #expect(throws: ValidationError(
            "the event is not valid JSON: the string at byte 5 contains a control character; escape it, as \\n or "
                + "\\u0001")) {
            try elements[6].get()
        }
        #expect((try? elements[7].get()) == nil)
        // JSONDecoder rejects 0e4 (and reads 0e10), so it judges such numbers.
        #expect((try? elements[8].get()) == Self.decoded(#"{"z":0e4}"#))
    }

    @Test(arguments: [
        (#"{"batch":[1,}"#, "not valid JSON: unexpected '}' at byte 12 where a value should be"),
        (#"{"batch":{}}"#, "batch must be an array of events"),
        (#"{"other":[]}"#, "missing field batch"),
        (#"{"batch":[],"batch":[]}"#, "the key \"batch\" appears twice in the body"),
        ("[]", "the body must be a JSON object with \"batch\", an array of events"),
        (" \u{FEFF}{\"batch\":[]}", "not valid JSON: unexpected byte 0xEF at byte 1 where a value should be"),
        (#"{"batch":[],"x":"\q"}"#, "not valid JSON: the string at byte 16 has an invalid escape sequence"),
        (#"{"batch":[]} x"#, "not valid JSON: unexpected 'x' at byte 13 after the object"),
        (#"{"batch":[{"a":"b}]}"#, "not valid JSON: the string at byte 15 is not closed"),
    ])
    func batchElementsNeedAWellFormedBatch(text: String, reason: String) {
        #expect(throws: ValidationError(reason)) { try JSONValue.parseElements(of: "batch", in: Array(text.utf8)) }
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "the key \"a\" at byte 7 appears a second time in one object"),
        (#"[1,]"#, "unexpected ']' at byte 3 where a value should be"),
        (#"01"#, "unexpected '1' at byte 1 after the JSON value"),
        (#"-"#, "a number ends after its sign"),
        (#"1."#, "a number is malformed at byte 0"),
        (#"NaN"#, "unexpected 'N' at byte 0 where a value should be"),
        (#"{"a" 1}"#, "expected ':' after a key, found '1' at byte 5"),
    ])
    func readReportsProblemAndPosition(text: String, reason: String) {
        #expect(JSONValue.read(Array(text.utf8)) == .failure(.invalid(reason)))
    }

    @Test
    func webMessageRejectsUnpairedSurrogate() {
        let bytes = Self.envelope(
            #"{"type":"page","messageId":"m","sessionId":"s-1","properties":{"title":"a\ud83db"}}"#)
        let reason = "not valid JSON: the string at byte 211 has an unpaired UTF-16 surrogate escape (\\uD83D)"
        #expect(throws: ValidationError(reason)) {
            try CloudEvent<WebEvent>.decode(bytes)
        }
    }

    /// Both consumers of `web.activity` reject an envelope whose type names another kind of event than its data.
    @Test
    func envelopeTypeMustMatchTheEvent() {
        let bytes = Self.envelope(CloudEventTests.page, type: "ringtrail.web.track")
        #expect(throws: ValidationError("type ringtrail.web.track does not match the event's type page")) {
            try CloudEvent<WebEvent>.decode(bytes, expectedTypes: EventType.webTypes)
        }
    }
}
