#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Truncation of client IP addresses, which are personal data, before they are stored or published.
public enum IPAddress {
    /// The network part of `address`: an IPv4 address with its last octet zeroed (`203.0.113.0`), an IPv6 address
    /// cut to its first 48 bits (`2001:db8:85a3::`), and an IPv4-mapped IPv6 address as its IPv4 address. Nil when
    /// `address` is neither an IPv4 nor an IPv6 address as `inet_pton` reads them, such as an address with a port.
    public static func truncated(_ address: String) -> String? {
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        // inet_pton reads a C string, which would end at a NUL byte and hide what follows it.
        let allowed = { (byte: UInt8) in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66) || byte == 0x3A || byte == 0x2E
        }
        guard !trimmed.isEmpty, trimmed.utf8.allSatisfy(allowed) else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, trimmed, &v4) == 1 {
            return truncatedIPv4(withUnsafeBytes(of: v4) { Array($0) })
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, trimmed, &v6) == 1 else { return nil }

        var bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return truncatedIPv4(Array(bytes[12..<16]))
        }
        for index in 6..<16 { bytes[index] = 0 }
        return format(bytes, family: AF_INET6)
    }

    private static func truncatedIPv4(_ bytes: [UInt8]) -> String? {
        var bytes = bytes
        bytes[3] = 0
        return format(bytes, family: AF_INET)
    }

    /// Formats network-order address bytes with `inet_ntop`, which also shortens IPv6 zeros to `::`.
    private static func format(_ bytes: [UInt8], family: Int32) -> String? {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let written = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &text, socklen_t(text.count))
        }
        guard written != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

import Foundation
