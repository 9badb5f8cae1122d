import Foundation

/// Telnyx's Ed25519 webhook signature (API v2).
///
/// Telnyx signs the text `timestamp|body`: the `telnyx-timestamp` header (Unix seconds), a `|`, and the raw
/// request body exactly as received. The Base64 signature arrives in `telnyx-signature-ed25519`, and the
/// account's Base64 public key comes from the Telnyx portal.
public enum TelnyxSignature {
    /// The HTTP header that carries the Base64 signature.
    public static let signatureHeader = "telnyx-signature-ed25519"
    /// The HTTP header that carries the signing time in Unix seconds.
    public static let timestampHeader = "telnyx-timestamp"

    /// Returns whether the signature is valid for `timestamp` and `body`, and `timestamp` lies within
    /// `tolerance` of `now`, before or after, so that a captured request cannot be replayed later.
    ///
    /// Returns false, and never traps, when any header or key is malformed: a signature or key that is not
    /// Base64 of the right length, or a timestamp that is not a plain decimal number of seconds.
    /// - Parameters:
    ///   - body: the raw request body; re-serialized JSON will not verify.
    ///   - tolerance: the largest accepted distance between `timestamp` and `now`. Default: 5 minutes.
    public static func isValid(
        signatureBase64: String,
        timestamp: String,
        body: [UInt8],
        publicKeyBase64: String,
        now: Date,
        tolerance: Duration = .seconds(300)
    ) -> Bool {
        precondition(tolerance >= .zero, "TelnyxSignature.isValid: tolerance must not be negative")

        guard let seconds = unixSeconds(timestamp), isFresh(seconds, now: now, tolerance: tolerance) else {
            return false
        }
        guard let signature = Base64.decode(signatureBase64), let publicKey = Base64.decode(publicKeyBase64) else {
            return false
        }

        let message = signedPayload(timestamp: timestamp, body: body)
        return Ed25519.verify(signature: signature, message: message, publicKey: publicKey)
    }

    /// Returns the Base64 signature Telnyx would send for `timestamp` and `body`, or nil if `privateKey` is not
    /// a 32-byte Ed25519 private key.
    ///
    /// For tests and for tools that replay webhooks against a local service.
    public static func sign(timestamp: String, body: [UInt8], privateKey: [UInt8]) -> String? {
        let message = signedPayload(timestamp: timestamp, body: body)
        return Ed25519.sign(message: message, privateKey: privateKey).map(Base64.encode)
    }

    // MARK: - Helpers

    /// Returns the bytes Telnyx signs: the timestamp as received, `|`, then the body.
    static func signedPayload(timestamp: String, body: [UInt8]) -> [UInt8] {
        Array(timestamp.utf8) + [UInt8(ascii: "|")] + body
    }

    /// Parses 1 to 18 ASCII digits, which always fit in `Int64`; a sign, a fraction or whitespace makes the
    /// timestamp invalid.
    private static func unixSeconds(_ timestamp: String) -> Int64? {
        let bytes = Array(timestamp.utf8)
        guard (1...18).contains(bytes.count), bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else {
            return nil
        }

        return Int64(timestamp)
    }

    private static func isFresh(_ seconds: Int64, now: Date, tolerance: Duration) -> Bool {
        let age = abs(now.timeIntervalSince1970 - Double(seconds))
        let (wholeSeconds, attoseconds) = tolerance.components
        let limit = Double(wholeSeconds) + Double(attoseconds) / 1e18
        return age <= limit
    }
}
