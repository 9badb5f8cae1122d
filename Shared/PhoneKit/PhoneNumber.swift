/// A phone number in E.164 form, such as `+12125550147`.
///
/// The value is encoded and decoded as a single JSON string. Decoding and `init?(e164:)` check only the E.164
/// syntax; `PhoneNumbers.normalize(_:defaultRegion:)` also checks the number against libphonenumber's metadata.
public struct PhoneNumber: Sendable, Hashable, Codable {
    /// The number as `+`, the country calling code and the national number, with no separators.
    public let e164: String

    /// Wraps `e164` if it is syntactically E.164: a `+` followed by 2 to 15 digits, the first of them not 0.
    ///
    /// Use this for numbers that are already stored in E.164 form, such as configured pool numbers. It does
    /// not ask libphonenumber whether the number is assigned in its country's numbering plan.
    public init?(e164: String) {
        guard Self.isE164(e164) else {
            return nil
        }

        self.e164 = e164
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard Self.isE164(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "Invalid phone number: expected E.164 such as +12125550147"
            )
        }

        self.e164 = text
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(e164)
    }

    private static func isE164(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 3, bytes.count <= 16, bytes[0] == UInt8(ascii: "+") else {
            return false
        }

        let digits = bytes.dropFirst()
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        return digits.first != UInt8(ascii: "0") && digits.allSatisfy(isDigit)
    }
}
