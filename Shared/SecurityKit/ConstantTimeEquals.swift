import CCrypto

/// Returns whether `a` and `b` hold the same bytes, taking the same time wherever they first differ.
///
/// Use it to compare secrets and signatures, so that the response time does not reveal how many leading bytes
/// an attacker guessed right. Arrays of different lengths return false at once: the length is not secret for
/// the signatures and hashes compared here.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else {
        return false
    }
    guard !a.isEmpty else {
        return true
    }

    return a.withUnsafeBytes { left in
        b.withUnsafeBytes { right in
            CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
        }
    }
}
