import Foundation

/// RFC 3339 timestamps in UTC with milliseconds (`2026-05-17T10:05:03.000Z`), the only form the APIs write.
///
/// Parsing accepts any RFC 3339 date-time: fractional seconds of any length or none, `Z` or a numeric offset.
public enum Timestamp {
    /// Formats `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ`, dropping digits below the millisecond.
    public static func format(_ date: Date) -> String {
        // `Date` stores seconds as a Double, so a date made from whole milliseconds can read back as x.999…;
        // rounding to the microsecond first keeps such a date on its millisecond before flooring.
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        return format(milliseconds: floorDivide(microseconds, 1000))
    }

    /// Formats milliseconds since the Unix epoch.
    public static func format(milliseconds: Int64) -> String {
        let days = floorDivide(milliseconds, 86_400_000)
        let msOfDay = milliseconds - days * 86_400_000
        let (year, month, day) = civilDate(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = (msOfDay / 60_000) % 60
        let second = (msOfDay / 1000) % 60
        let millis = msOfDay % 1000
        guard (0...9999).contains(year) else {
            return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
                + ".\(pad(millis, 3))Z"
        }
        // Written digit by digit without interpolation, because this runs for every stored web event.
        return String(unsafeUninitializedCapacity: 24) { buffer in
            var position = 0
            func put(_ value: Int64, _ width: Int) {
                var divisor: Int64 = 1
                for _ in 1..<width { divisor *= 10 }
                while divisor > 0 {
                    buffer[position] = UInt8(ascii: "0") + UInt8((value / divisor) % 10)
                    position += 1
                    divisor /= 10
                }
            }
            func put(_ byte: Unicode.Scalar) {
                buffer[position] = UInt8(ascii: byte)
                position += 1
            }
            put(year, 4); put("-"); put(month, 2); put("-"); put(day, 2); put("T")
            put(hour, 2); put(":"); put(minute, 2); put(":"); put(second, 2); put("."); put(millis, 3); put("Z")
            return position
        }
    }

    /// Parses an RFC 3339 date-time, or returns nil when `text` is not one.
    public static func parse(_ text: String) -> Date? {
        parseMilliseconds(text).map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }

    /// Parses an RFC 3339 date-time into milliseconds since the Unix epoch.
    public static func parseMilliseconds(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        guard b.count >= 20, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let year = digits(b, 0, 4), let month = digits(b, 5, 2), let day = digits(b, 8, 2),
            let hour = digits(b, 11, 2), let minute = digits(b, 14, 2), let second = digits(b, 17, 2),
            (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 61
        else { return nil }

        var index = 19
        var millis: Int64 = 0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            var scale: Int64 = 100
            while index < b.count, let d = digit(b[index]) {
                millis += Int64(d) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < b.count else { return nil }

        var offsetMinutes: Int64 = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == b.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == b.count, b[index + 3] == UInt8(ascii: ":"),
                let h = digits(b, index + 1, 2), let m = digits(b, index + 4, 2), h < 24, m < 60
            else { return nil }
            offsetMinutes = Int64(h * 60 + m) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        let days = daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - offsetMinutes * 60
        let milliseconds = seconds * 1000 + millis
        // An offset can move a time of year 0000 or 9999 into year -1 or 10000 in UTC. `format` cannot write such a
        // time in RFC 3339, so it is rejected here rather than stored and written back unreadable.
        guard milliseconds >= minimumMilliseconds, milliseconds <= maximumMilliseconds else { return nil }

        return milliseconds
    }

    /// 0000-01-01T00:00:00.000Z, the earliest time `format` writes.
    static let minimumMilliseconds = daysFromCivil(year: 0, month: 1, day: 1) * 86_400_000
    /// 9999-12-31T23:59:59.999Z, the latest time `format` writes.
    static let maximumMilliseconds = daysFromCivil(year: 9999, month: 12, day: 31) * 86_400_000 + 86_399_999

    // MARK: - Calendar arithmetic (proleptic Gregorian, after Howard Hinnant's days_from_civil)

    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilDate(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : (a - b + 1) / b
    }

    private static func digit(_ byte: UInt8) -> Int? {
        byte >= 48 && byte <= 57 ? Int(byte - 48) : nil
    }

    private static func digits(_ b: [UInt8], _ start: Int, _ count: Int) -> Int? {
        var value = 0
        for i in start..<(start + count) {
            guard let d = digit(b[i]) else { return nil }
            value = value * 10 + d
        }
        return value
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
