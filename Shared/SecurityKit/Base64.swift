import Foundation

/// Base64 encoding (RFC 4648) in the standard and the URL-safe alphabets.
public enum Base64 {
    /// Returns `bytes` in the standard alphabet, with `=` padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    /// Returns the bytes of standard, padded Base64 `text`, or nil if `text` contains any other character,
    /// including whitespace and line breaks.
    public static func decode(_ text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text) else {
            return nil
        }

        return [UInt8](data)
    }

    /// Returns `bytes` in the URL-safe alphabet (`-` and `_` in place of `+` and `/`), without padding.
    public static func encodeURLSafe(_ bytes: [UInt8]) -> String {
        var text = encode(bytes)
        while text.last == "=" {
            text.removeLast()
        }
        return String(
            text.map { character in
                switch character {
                case "+": "-"
                case "/": "_"
                default: character
                }
            }
        )
    }
}
