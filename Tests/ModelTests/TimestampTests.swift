import Foundation
import Model
import Testing

@Suite(.timeLimit(.minutes(1)))
struct TimestampTests {
    // MARK: - Formatting

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (1_779_012_303_000, "2026-05-17T10:05:03.000Z"),
        (1_779_012_303_123, "2026-05-17T10:05:03.123Z"),
        (1_709_208_000_000, "2024-02-29T12:00:00.000Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (-14_182_940_000, "1969-07-20T20:17:40.000Z"),
        (-2_208_988_800_000, "1900-01-01T00:00:00.000Z"),
        (-11_670_912_000_000, "1600-03-01T00:00:00.000Z"),
        (-62_135_596_800_000, "0001-01-01T00:00:00.000Z"),
        (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    ])
    func formatWritesUTCWithMilliseconds(milliseconds: Int64, expected: String) {
        #expect(Timestamp.format(milliseconds: milliseconds) == expected)
    }

    @Test
    func formatOfDateTruncatesToMilliseconds() {
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1.0009)) == "1970-01-01T00:00:01.000Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: 1_779_012_303.1237)) == "2026-05-17T10:05:03.123Z")
        #expect(Timestamp.format(Date(timeIntervalSince1970: -0.0005)) == "1969-12-31T23:59:59.999Z")
    }

    // MARK: - Parsing

    @Test(arguments: [
        ("2026-05-17T10:05:03Z", Int64(1_779_012_303_000)),
        ("2026-05-17T10:05:03.000Z", 1_779_012_303_000),
        ("2026-05-17T10:05:03.123Z", 1_779_012_303_123),
        ("2026-05-17t10:05:03.123z", 1_779_012_303_123),
        ("2026-05-17 10:05:03.123Z", 1_779_012_303_123),
        ("2026-05-17T10:05:03.123+00:00", 1_779_012_303_123),
        ("2026-05-17T10:05:03.123-00:00", 1_779_012_303_123),
        ("2026-05-17T12:05:03.123+02:00", 1_779_012_303_123),
        ("2026-05-17T04:35:03.123-05:30", 1_779_012_303_123),
        ("2026-05-17T15:50:03.123+05:45", 1_779_012_303_123),
        ("2026-01-01T01:00:00+02:00", 1_767_222_000_000),
        ("2025-12-31T18:30:00-04:30", 1_767_222_000_000),
    ])
    func parseReadsZoneAndOffsets(text: String, expected: Int64) {
        #expect(Timestamp.parseMilliseconds(text) == expected)
    }

    /// Digits after the third are below millisecond precision and are dropped, never rounded up.
    @Test(arguments: [
        ("2026-05-17T10:05:03.1Z", Int64(1_779_012_303_100)),
        ("2026-05-17T10:05:03.12Z", 1_779_012_303_120),
        ("2026-05-17T10:05:03.123Z", 1_779_012_303_123),
        ("2026-05-17T10:05:03.1239Z", 1_779_012_303_123),
        ("2026-05-17T10:05:03.123456Z", 1_779_012_303_123),
        ("2026-05-17T10:05:03.999999999Z", 1_779_012_303_999),
        ("2026-05-17T10:05:03.000000001Z", 1_779_012_303_000),
        ("2026-05-17T10:05:03.5+02:00", 1_779_005_103_500),
    ])
    func parseReadsAnyFractionLength(text: String, expected: Int64) {
        #expect(Timestamp.parseMilliseconds(text) == expected)
    }

    @Test(arguments: [
        ("2024-02-29T00:00:00Z", true),
        ("2000-02-29T00:00:00Z", true),
        ("2400-02-29T00:00:00Z", true),
        ("2023-02-29T00:00:00Z", false),
        ("1900-02-29T00:00:00Z", false),
        ("2100-02-29T00:00:00Z", false),
        ("2023-02-28T23:59:59Z", true),
        ("2026-04-30T00:00:00Z", true),
        ("2026-04-31T00:00:00Z", false),
        ("2026-12-31T00:00:00Z", true),
    ])
    func parseChecksMonthLengthsAndLeapYears(text: String, isValid: Bool) {
        #expect((Timestamp.parseMilliseconds(text) != nil) == isValid)
    }

    @Test(arguments: [
        ("1969-12-31T23:59:59.999Z", Int64(-1)),
        ("1969-12-31T23:59:59Z", -1000),
        ("1970-01-01T00:59:59.999+01:00", -1),
        ("1969-07-20T20:17:40Z", -14_182_940_000),
        ("1900-01-01T00:00:00Z", -2_208_988_800_000),
        ("1600-03-01T00:00:00Z", -11_670_912_000_000),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
    ])
    func parseReadsDatesBefore1970(text: String, expected: Int64) {
        #expect(Timestamp.parseMilliseconds(text) == expected)
    }

    /// An offset that moves the time out of years 0000 to 9999 in UTC would make `format` write it unreadably.
    @Test(arguments: ["0000-01-01T00:00:00+23:59", "0000-01-01T00:00:00.000+00:01", "9999-12-31T23:59:59-23:59",
                      "9999-12-31T23:59:59.999-00:01"])
    func parseRejectsTimesOutsideYears0000To9999InUTC(text: String) {
        #expect(Timestamp.parseMilliseconds(text) == nil)
    }

    @Test(arguments: ["0000-01-01T00:00:00Z", "0000-01-01T00:00:00-23:59", "9999-12-31T23:59:59.999Z",
                      "9999-12-31T23:59:59+23:59"])
    func parseAcceptsTimesAtTheEdgesOfTheRange(text: String) throws {
        let milliseconds = try #require(Timestamp.parseMilliseconds(text))
        #expect(Timestamp.parseMilliseconds(Timestamp.format(milliseconds: milliseconds)) == milliseconds)
    }

    /// RFC 3339 allows a leap second (second 60), which is read as second 59 of the same minute.
    @Test
    func parseAcceptsLeapSecond() {
        #expect(Timestamp.parseMilliseconds("2016-12-31T23:59:60Z") == 1_483_228_799_000)
    }

    @Test(arguments: [
        "",
        "garbage",
        "not a timestamp at all",
        "2026-02-30T10:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-05-00T00:00:00Z",
        "2026-05-32T00:00:00Z",
        "2026-05-17T24:00:00Z",
        "2026-05-17T10:60:00Z",
        "2026-05-17T10:05:61Z",
        "2026-05-17T10:05:03",
        "2026-05-17T10:05:03.000",
        "2026-05-17",
        "2026-05-17T10:05Z",
        "2026-5-17T10:05:03Z",
        "26-05-17T10:05:03Z",
        "2026/05/17T10:05:03Z",
        "2026-05-17X10:05:03Z",
        "2026-05-17T10:05:03.Z",
        "2026-05-17T10:05:03,123Z",
        "2026-05-17T10:05:03 Z",
        "2026-05-17T10:05:03Zjunk",
        "2026-05-17T10:05:03.123Z ",
        " 2026-05-17T10:05:03.123Z",
        "2026-05-17T10:05:03+0200",
        "2026-05-17T10:05:03+02",
        "2026-05-17T10:05:03+02:00:00",
        "2026-05-17T10:05:03+24:00",
        "2026-05-17T10:05:03+02:60",
        "2026-05-17T10:05:03UTC",
        "2026-05-17T1a:05:03Z",
        "+2026-05-17T10:05:03Z",
        "\u{FF12}026-05-17T10:05:03Z",
        "1779012303000",
    ])
    func parseRejectsInvalidText(text: String) {
        #expect(Timestamp.parseMilliseconds(text) == nil)
        #expect(Timestamp.parse(text) == nil)
    }

    // MARK: - Round trips

    @Test(arguments: [
        "2026-05-17T10:05:03.000Z",
        "2026-05-17T10:05:03.123Z",
        "2024-02-29T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "1964-03-08T23:19:50.396Z",
        "1977-07-23T12:08:03.073Z",
        "1981-07-17T02:32:57.379Z",
        "2038-01-19T03:14:09.739Z",
        "2099-12-31T23:59:59.001Z",
    ])
    func formatInvertsParse(text: String) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(Timestamp.format(date) == text)
        #expect(Timestamp.parseMilliseconds(text).map { Timestamp.format(milliseconds: $0) } == text)
    }

    /// Steps of 79,199,993 ms from 1900 to 2100 (about 80,000 instants) reach every millisecond fraction.
    @Test
    func roundTripHoldsAcrossTwoCenturies() {
        var failures: [String] = []
        for milliseconds in stride(from: Int64(-2_208_988_800_000), to: 4_102_444_800_000, by: 79_199_993) {
            let text = Timestamp.format(milliseconds: milliseconds)
            if Timestamp.parseMilliseconds(text) != milliseconds {
                failures.append("parseMilliseconds(\(text))")
            }
            let date = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
            if Timestamp.format(date) != text {
                failures.append("format(Date) for \(text) gave \(Timestamp.format(date))")
            }
        }
        let failureCount = failures.count
        #expect(failureCount == 0, "first failures: \(failures.prefix(3))")
    }

    @Test
    func parseOfOffsetTextFormatsAsUTC() throws {
        let date = try #require(Timestamp.parse("2026-05-17T04:35:03.123-05:30"))
        #expect(Timestamp.format(date) == "2026-05-17T10:05:03.123Z")
    }
}
