import CCrypto

/// Cryptographically secure random bytes from OpenSSL's `RAND_bytes`.
public enum RandomBytes {
    /// Returns `count` random bytes.
    ///
    /// - Important: Stops the process if OpenSSL's generator fails, which happens only when the operating system
    ///   cannot provide entropy. Returning predictable bytes instead would hand out guessable API keys.
    public static func make(count: Int) -> [UInt8] {
        precondition(count >= 0 && count <= Int(Int32.max), "RandomBytes.make: count \(count) is out of range")

        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else {
            return bytes
        }

        guard RAND_bytes(&bytes, Int32(count)) == 1 else {
            fatalError("RAND_bytes failed: the operating system provided no entropy")
        }
        return bytes
    }

    /// Returns `prefix` followed by 32 URL-safe Base64 characters that encode 24 random bytes (192 bits).
    ///
    /// API keys look like `rt_Xq3…`; the prefix lets people and secret scanners recognise them.
    public static func token(prefix: String) -> String {
        prefix + Base64.encodeURLSafe(make(count: 24))
    }
}
