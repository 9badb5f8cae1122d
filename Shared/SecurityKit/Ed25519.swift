import CCrypto

/// Ed25519 signatures (RFC 8032) over OpenSSL's libcrypto.
///
/// Keys are the raw 32-byte forms of RFC 8032: the private key is the seed, the public key the encoded point.
/// Every function runs on the caller's thread and is safe to call from any thread.
public enum Ed25519 {
    public static let privateKeyLength = 32
    public static let publicKeyLength = 32
    public static let signatureLength = 64

    /// A private key with its public key. Printing it shows only the public key.
    public struct KeyPair: Sendable, CustomStringConvertible {
        public let privateKey: [UInt8]
        public let publicKey: [UInt8]

        public var description: String {
            "Ed25519.KeyPair(publicKey: \(Base64.encode(publicKey)), privateKey: <redacted>)"
        }
    }

    /// Returns whether `signature` is a valid Ed25519 signature of `message` under `publicKey`.
    ///
    /// Returns false, and never traps, for a key or signature of the wrong length, a key that is not a valid
    /// point, or a signature that does not verify.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureLength, publicKey.count == publicKeyLength else {
            return false
        }
        guard let key = makeKey(raw: publicKey, isPrivate: false) else {
            return false
        }
        defer { EVP_PKEY_free(key) }

        return withDigestContext(key: key, forSigning: false) { context in
            message.withNonNullBytes { messageBytes in
                signature.withUnsafeBytes { signatureBytes in
                    EVP_DigestVerify(
                        context,
                        signatureBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        signatureBytes.count,
                        messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        messageBytes.count
                    ) == 1
                }
            }
        } ?? false
    }

    /// Returns the 64-byte signature of `message` under the 32-byte `privateKey`, or nil if the key has the wrong
    /// length or OpenSSL fails.
    ///
    /// Ed25519 signing is deterministic: the same key and message always give the same signature.
    public static func sign(message: [UInt8], privateKey: [UInt8]) -> [UInt8]? {
        guard privateKey.count == privateKeyLength, let key = makeKey(raw: privateKey, isPrivate: true) else {
            return nil
        }
        defer { EVP_PKEY_free(key) }

        var signature = [UInt8](repeating: 0, count: signatureLength)
        var length = signature.count
        let signed = withDigestContext(key: key, forSigning: true) { context in
            message.withNonNullBytes { messageBytes in
                EVP_DigestSign(
                    context,
                    &signature,
                    &length,
                    messageBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    messageBytes.count
                ) == 1
            }
        }
        guard signed == true, length == signatureLength else {
            ERR_clear_error()
            return nil
        }

        return signature
    }

    /// Returns the public key of the 32-byte `privateKey`, or nil if the key has the wrong length.
    public static func publicKey(forPrivateKey privateKey: [UInt8]) -> [UInt8]? {
        guard privateKey.count == privateKeyLength, let key = makeKey(raw: privateKey, isPrivate: true) else {
            return nil
        }
        defer { EVP_PKEY_free(key) }

        return rawPublicKey(of: key)
    }

    /// Returns a new key pair from OpenSSL's random generator.
    ///
    /// Meant for tests and for tools that sign webhooks in the carrier's place; a carrier's real key pair never
    /// leaves the carrier.
    /// - Important: Stops the process if OpenSSL cannot generate a key, which happens only when the operating
    ///   system provides no entropy.
    public static func makeKeyPair() -> KeyPair {
        let privateKey = RandomBytes.make(count: privateKeyLength)
        guard let publicKey = publicKey(forPrivateKey: privateKey) else {
            fatalError("OpenSSL failed to derive an Ed25519 public key: check that libcrypto's default provider loads")
        }

        return KeyPair(privateKey: privateKey, publicKey: publicKey)
    }

    // MARK: - OpenSSL handles

    /// Returns a new `EVP_PKEY` that the caller must free with `EVP_PKEY_free`, or nil if OpenSSL rejects `raw`.
    private static func makeKey(raw: [UInt8], isPrivate: Bool) -> OpaquePointer? {
        let key = raw.withUnsafeBufferPointer { bytes in
            isPrivate
                ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, bytes.baseAddress, bytes.count)
                : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, bytes.baseAddress, bytes.count)
        }
        if key == nil {
            ERR_clear_error()
        }
        return key
    }

    private static func rawPublicKey(of key: OpaquePointer) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: publicKeyLength)
        var length = bytes.count
        guard EVP_PKEY_get_raw_public_key(key, &bytes, &length) == 1, length == publicKeyLength else {
            ERR_clear_error()
            return nil
        }

        return bytes
    }

    /// Runs `body` with an `EVP_MD_CTX` set up for Ed25519 with `key`, and frees the context afterwards.
    ///
    /// Ed25519 hashes internally, so the context takes no digest. Returns nil if OpenSSL cannot set it up.
    private static func withDigestContext(
        key: OpaquePointer,
        forSigning: Bool,
        _ body: (OpaquePointer) -> Bool
    ) -> Bool? {
        guard let context = EVP_MD_CTX_new() else {
            return nil
        }
        defer { EVP_MD_CTX_free(context) }

        let initialized =
            forSigning
            ? EVP_DigestSignInit(context, nil, nil, nil, key)
            : EVP_DigestVerifyInit(context, nil, nil, nil, key)
        guard initialized == 1 else {
            ERR_clear_error()
            return nil
        }

        let succeeded = body(context)
        if !succeeded {
            // A failed verification leaves an entry on OpenSSL's per-thread error queue; later, unrelated calls
            // that inspect the queue must not see it.
            ERR_clear_error()
        }
        return succeeded
    }
}
