/// Decoding of percent-encoded request targets and `application/x-www-form-urlencoded` text.
enum PercentEncoding {
    /// Decodes `%XX` escapes and returns the result as UTF-8 text.
    ///
    /// Returns `nil` when an escape is not two hexadecimal digits or the decoded bytes are not valid UTF-8.
    /// With `plusIsSpace`, as in form bodies and query strings, `+` becomes a space.
    static func decode(_ text: Substring, plusIsSpace: Bool = false) -> String? {
        let utf8 = text.utf8
        guard utf8.contains(UInt8(ascii: "%")) || (plusIsSpace && utf8.contains(UInt8(ascii: "+"))) else {
            return String(text)
        }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let high = utf8.index(after: index)
                guard high != utf8.endIndex else { return nil }

                let low = utf8.index(after: high)
                guard low != utf8.endIndex, let value = hexValue(utf8[high], utf8[low]) else { return nil }

                bytes.append(value)
                index = utf8.index(after: low)
                continue
            }
            bytes.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index = utf8.index(after: index)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Splits `key=value&key=value` text into decoded pairs, in order; a pair without `=` has an empty value.
    ///
    /// Returns `nil` when any key or value has invalid percent-encoding.
    static func decodeForm(_ text: Substring) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        for field in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0], plusIsSpace: true) else { return nil }

            let rawValue = parts.count > 1 ? parts[1] : Substring("")
            guard let value = decode(rawValue, plusIsSpace: true) else { return nil }

            pairs.append((name, value))
        }
        return pairs
    }

    private static func hexValue(_ high: UInt8, _ low: UInt8) -> UInt8? {
        guard let high = hexDigit(high), let low = hexDigit(low) else { return nil }
        return high << 4 | low
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
