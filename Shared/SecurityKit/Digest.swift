import CCrypto

/// SHA-256 and HMAC over OpenSSL's libcrypto.
///
/// Every function is a pure computation that runs on the caller's thread and is safe to call from any thread.
public enum Digest {
    /// Returns the 32-byte SHA-256 digest of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let status = bytes.withNonNullBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        // SHA-256 is defined for every input, so a failure means libcrypto itself is unusable, for example because
        // its default provider did not load.
        guard status == 1 else {
            fatalError("OpenSSL failed to compute SHA-256: check that libcrypto's default provider loads")
        }

        return Array(digest.prefix(Int(length)))
    }

    /// Returns the SHA-256 digest of `bytes` as 64 lowercase hexadecimal characters.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        hexString(sha256(bytes))
    }

    /// Returns the SHA-256 digest of the UTF-8 encoding of `text` as 64 lowercase hexadecimal characters.
    public static func sha256Hex(_ text: String) -> String {
        sha256Hex(Array(text.utf8))
    }

    /// Returns the 20-byte HMAC-SHA1 (RFC 2104) of `message` under `key`.
    public static func hmacSHA1(key: [UInt8], message: [UInt8]) -> [UInt8] {
        hmac(EVP_sha1(), name: "HMAC-SHA1", key: key, message: message)
    }

    /// Returns the 32-byte HMAC-SHA256 (RFC 2104) of `message` under `key`.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        hmac(EVP_sha256(), name: "HMAC-SHA256", key: key, message: message)
    }

    /// Returns `bytes` as lowercase hexadecimal, two characters per byte.
    public static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func hmac(_ algorithm: OpaquePointer?, name: String, key: [UInt8], message: [UInt8]) -> [UInt8] {
        precondition(key.count <= Int(Int32.max), "\(name) key longer than OpenSSL accepts (\(Int32.max) bytes)")

        var mac = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withNonNullBytes { keyBytes in
            message.withNonNullBytes { messageBytes in
                HMAC(
                    algorithm,
                    keyBytes.baseAddress,
                    Int32(keyBytes.count),
                    messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    messageBytes.count,
                    &mac,
                    &length
                )
            }
        }
        // HMAC is defined for every key and message, so a failure means libcrypto itself is unusable. The non-NULL
        // key pointer above avoids OpenSSL 3.0's failure on a NULL key.
        guard result != nil else {
            fatalError("OpenSSL failed to compute \(name): check that libcrypto's default provider loads")
        }

        return Array(mac.prefix(Int(length)))
    }
}

extension Array where Element == UInt8 {
    /// Calls `body` with the array's bytes, passing a valid pointer even when the array is empty.
    ///
    /// An empty Swift array may have a nil base address, and OpenSSL 3.0's `HMAC` fails on a NULL key pointer
    /// even when the key length is 0.
    func withNonNullBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        if isEmpty {
            let placeholder: [UInt8] = [0]
            return try placeholder.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<0])) }
        }
        return try withUnsafeBytes(body)
    }
}
