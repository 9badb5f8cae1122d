import Foundation
import SecurityKit
import Testing

@Suite(.timeLimit(.minutes(1)))
struct SecurityTests {
    // MARK: - Digests

    /// FIPS 180-2 example "abc" and the digest of the empty message.
    @Test
    func sha256MatchesKnownVectors() {
        #expect(Digest.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256Hex([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.sha256Hex(Array("abc".utf8)) == Digest.sha256Hex("abc"))
    }

    /// RFC 2202 section 3, test cases 1 to 3.
    @Test
    func hmacSHA1MatchesRFC2202() {
        let case1 = Digest.hmacSHA1(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(Digest.hexString(case1) == "b617318655057264e28bc0b6fb378c8ef146be00")

        let case2 = Digest.hmacSHA1(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Digest.hexString(case2) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")

        let case3 = Digest.hmacSHA1(
            key: [UInt8](repeating: 0xaa, count: 20),
            message: [UInt8](repeating: 0xdd, count: 50)
        )
        #expect(Digest.hexString(case3) == "125d7342b9ac11cd91a39af48aa17b4f63f175d3")
    }

    /// RFC 4231 section 4, test cases 1, 2 and 6 (a key longer than the block size).
    @Test
    func hmacSHA256MatchesRFC4231() {
        let case1 = Digest.hmacSHA256(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(Digest.hexString(case1) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")

        let case2 = Digest.hmacSHA256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Digest.hexString(case2) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")

        let case6 = Digest.hmacSHA256(
            key: [UInt8](repeating: 0xaa, count: 131),
            message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        )
        #expect(Digest.hexString(case6) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    /// OpenSSL 3.0's HMAC fails on a NULL key pointer; an empty Swift array must still work.
    @Test
    func hmacAcceptsEmptyKeyAndMessage() {
        let mac = Digest.hmacSHA256(key: [], message: [])
        #expect(Digest.hexString(mac) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    // MARK: - Encoding, comparison and randomness

    @Test
    func base64RoundTripsAndRejectsGarbage() {
        let bytes: [UInt8] = [0, 1, 2, 250, 251, 252, 253, 254, 255]
        #expect(Base64.encode(bytes) == "AAEC+vv8/f7/")
        #expect(Base64.decode("AAEC+vv8/f7/") == bytes)
        #expect(Base64.encodeURLSafe(bytes) == "AAEC-vv8_f7_")
        #expect(Base64.encodeURLSafe([1]) == "AQ")
        #expect(Base64.decode("not base64!") == nil)
        #expect(Base64.decode("") == [])
    }

    @Test
    func constantTimeEqualsComparesContentAndLength() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(constantTimeEquals([], []))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(!constantTimeEquals([], [0]))
    }

    @Test
    func randomBytesHaveRequestedCountAndDiffer() {
        #expect(RandomBytes.make(count: 0).isEmpty)
        #expect(RandomBytes.make(count: 32).count == 32)
        #expect(RandomBytes.make(count: 32) != RandomBytes.make(count: 32))
    }

    @Test
    func tokenHasPrefixAndThirtyTwoURLSafeCharacters() {
        let token = RandomBytes.token(prefix: "rt_")
        let body = token.dropFirst(3)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        #expect(token.hasPrefix("rt_"))
        #expect(body.count == 32)
        #expect(body.allSatisfy { alphabet.contains($0) })
        #expect(RandomBytes.token(prefix: "rt_") != token)
    }

    // MARK: - Twilio

    /// `RSOYD…` is the example in the request validator tests of twilio-python and twilio-csharp. `0/KCTR…` is
    /// the same request from caller +12349013030, as other projects quote it from Twilio's "Secure webhooks"
    /// guide. NOTE: that second value was checked against those quotes, not against the guide page itself.
    @Test
    func twilioSignatureMatchesPublishedExamples() {
        let guideParameters = twilioParameters(caller: "+12349013030")
        let guide = TwilioSignature.compute(url: twilioURL, parameters: guideParameters, authToken: "12345")
        #expect(guide == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")

        let library = TwilioSignature.compute(url: twilioURL, parameters: twilioParameters(), authToken: "12345")
        #expect(library == "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        #expect(
            TwilioSignature.isValid(
                signature: "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
                url: twilioURL,
                parameters: twilioParameters().reversed(),
                authToken: "12345"
            )
        )
    }

    /// twilio-python's `test_compute_signature_duplicate_multi_dict`: sorted by value, repeated pairs once.
    @Test
    func twilioSignatureSortsAndDeduplicatesRepeatedNames() {
        let parameters = [
            ("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"),
        ]
        let signature = TwilioSignature.compute(url: twilioURL, parameters: parameters, authToken: "12345")
        #expect(signature == "IK+Dwps556ElfBT0I3Rgjkr1wJU=")
    }

    @Test
    func twilioSignatureRejectsTamperedRequests() {
        let signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        var tampered = twilioParameters()
        tampered[2] = ("Digits", "9999")
        let extra = twilioParameters() + [("CallStatus", "completed")]

        #expect(
            !TwilioSignature.isValid(signature: signature, url: twilioURL, parameters: tampered, authToken: "12345")
        )
        #expect(!TwilioSignature.isValid(signature: signature, url: twilioURL, parameters: extra, authToken: "12345"))
        #expect(
            !TwilioSignature.isValid(
                signature: signature,
                url: "https://mycompany.com/myapp.php?foo=1&bar=3",
                parameters: twilioParameters(),
                authToken: "12345"
            )
        )
        #expect(
            !TwilioSignature.isValid(
                signature: signature,
                url: twilioURL,
                parameters: twilioParameters(),
                authToken: "54321"
            )
        )
        #expect(
            !TwilioSignature.isValid(signature: "", url: twilioURL, parameters: twilioParameters(), authToken: "12345")
        )
    }

    /// Port cases from twilio-python's request validator tests: a signature over the URL with or without its
    /// port is accepted.
    @Test(arguments: [
        ("https://mycompany.com:1234/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("http://mycompany.com:1234/myapp.php?foo=1&bar=2", "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="),
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
    ])
    func twilioSignatureAcceptsURLWithOrWithoutPort(url: String, signature: String) {
        #expect(
            TwilioSignature.isValid(signature: signature, url: url, parameters: twilioParameters(), authToken: "12345")
        )
    }

    @Test
    func twilioSignatureKeepsOtherPortsDistinct() {
        let signature = TwilioSignature.compute(
            url: "https://mycompany.com:8443/myapp.php",
            parameters: [],
            authToken: "12345"
        )
        #expect(
            !TwilioSignature.isValid(
                signature: signature,
                url: "https://mycompany.com:9443/myapp.php",
                parameters: [],
                authToken: "12345"
            )
        )
        #expect(
            TwilioSignature.isValid(
                signature: signature,
                url: "https://mycompany.com:8443/myapp.php",
                parameters: [],
                authToken: "12345"
            )
        )
    }

    @Test
    func twilioSignatureHandlesUserInfoAndIPv6Hosts() {
        let withCredentials = "https://user:secret@mycompany.com/myapp.php"
        let signed = TwilioSignature.compute(
            url: "https://user:secret@mycompany.com:443/myapp.php",
            parameters: [],
            authToken: "12345"
        )
        #expect(TwilioSignature.isValid(signature: signed, url: withCredentials, parameters: [], authToken: "12345"))

        let ipv6 = TwilioSignature.compute(url: "https://[::1]/hook", parameters: [], authToken: "12345")
        #expect(
            TwilioSignature.isValid(signature: ipv6, url: "https://[::1]:8443/hook", parameters: [], authToken: "12345")
        )
    }

    // MARK: - Ed25519

    /// RFC 8032 section 7.1, test 1: the empty message.
    @Test
    func ed25519MatchesRFC8032Test1() throws {
        let privateKey = hexBytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
        let publicKey = hexBytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = hexBytes(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                + "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )

        #expect(Ed25519.publicKey(forPrivateKey: privateKey) == publicKey)
        #expect(Ed25519.sign(message: [], privateKey: privateKey) == signature)
        #expect(Ed25519.verify(signature: signature, message: [], publicKey: publicKey))
        #expect(!Ed25519.verify(signature: signature, message: [0], publicKey: publicKey))

        var flipped = signature
        flipped[0] ^= 1
        #expect(!Ed25519.verify(signature: flipped, message: [], publicKey: publicKey))
    }

    @Test
    func ed25519RejectsMalformedKeysAndSignatures() {
        let pair = Ed25519.makeKeyPair()
        let signature = Ed25519.sign(message: [1, 2, 3], privateKey: pair.privateKey) ?? []
        #expect(Ed25519.verify(signature: signature, message: [1, 2, 3], publicKey: pair.publicKey))
        #expect(!Ed25519.verify(signature: Array(signature.dropLast()), message: [1, 2, 3], publicKey: pair.publicKey))
        #expect(!Ed25519.verify(signature: signature, message: [1, 2, 3], publicKey: Array(pair.publicKey.prefix(31))))
        #expect(!Ed25519.verify(signature: signature, message: [1, 2, 3], publicKey: []))
        #expect(Ed25519.sign(message: [1], privateKey: [1, 2, 3]) == nil)
        #expect(!"\(pair)".contains(Base64.encode(pair.privateKey)))
    }

    // MARK: - Telnyx

    @Test
    func telnyxSignatureAcceptsFreshSignedEvent() throws {
        let pair = Ed25519.makeKeyPair()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let signature = try #require(
            TelnyxSignature.sign(timestamp: "1700000000", body: telnyxBody, privateKey: pair.privateKey)
        )

        #expect(
            TelnyxSignature.isValid(
                signatureBase64: signature,
                timestamp: "1700000000",
                body: telnyxBody,
                publicKeyBase64: Base64.encode(pair.publicKey),
                now: now.addingTimeInterval(299)
            )
        )
    }

    @Test
    func telnyxSignatureRejectsStaleOrFutureTimestamp() throws {
        let pair = Ed25519.makeKeyPair()
        let signed = Date(timeIntervalSince1970: 1_700_000_000)
        let signature = try #require(
            TelnyxSignature.sign(timestamp: "1700000000", body: telnyxBody, privateKey: pair.privateKey)
        )
        let publicKey = Base64.encode(pair.publicKey)

        for now in [signed.addingTimeInterval(301), signed.addingTimeInterval(-301)] {
            #expect(
                !TelnyxSignature.isValid(
                    signatureBase64: signature,
                    timestamp: "1700000000",
                    body: telnyxBody,
                    publicKeyBase64: publicKey,
                    now: now
                )
            )
        }
        #expect(
            !TelnyxSignature.isValid(
                signatureBase64: signature,
                timestamp: "1700000000",
                body: telnyxBody,
                publicKeyBase64: publicKey,
                now: signed.addingTimeInterval(61),
                tolerance: .seconds(60)
            )
        )
    }

    @Test
    func telnyxSignatureRejectsTamperedOrMalformedInput() throws {
        let pair = Ed25519.makeKeyPair()
        let other = Ed25519.makeKeyPair()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let signature = try #require(
            TelnyxSignature.sign(timestamp: "1700000000", body: telnyxBody, privateKey: pair.privateKey)
        )
        let publicKey = Base64.encode(pair.publicKey)

        func isValid(
            signature: String = signature,
            timestamp: String = "1700000000",
            body: [UInt8]? = nil,
            key: String = publicKey
        ) -> Bool {
            TelnyxSignature.isValid(
                signatureBase64: signature,
                timestamp: timestamp,
                body: body ?? telnyxBody,
                publicKeyBase64: key,
                now: now
            )
        }

        #expect(isValid())
        #expect(!isValid(body: telnyxBody + [0x20]))
        #expect(!isValid(timestamp: "1700000001"))
        #expect(!isValid(key: Base64.encode(other.publicKey)))
        #expect(!isValid(signature: "not base64"))
        #expect(!isValid(signature: ""))
        #expect(!isValid(key: "AAAA"))
        #expect(!isValid(timestamp: "+1700000000"))
        #expect(!isValid(timestamp: "1700000000.5"))
        #expect(!isValid(timestamp: ""))
        #expect(!isValid(timestamp: "99999999999999999999"))
    }

    // MARK: - Fixtures

    private let twilioURL = "https://mycompany.com/myapp.php?foo=1&bar=2"

    private let telnyxBody = Array(#"{"data":{"event_type":"call.initiated","payload":{"from":"+12125550147"}}}"#.utf8)

    private func twilioParameters(caller: String = "+14158675309") -> [(String, String)] {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ]
    }

    private func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
