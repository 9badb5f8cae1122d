/// Truncation of client IP addresses, which are personal data, before they are stored or published.
public enum IPAddress {
    /// The network part of `address`: an IPv4 address with its last octet zeroed (`203.0.113.0`), an IPv6 address
    /// cut to its first 48 bits (`2001:db8:85a3::`); nil when `address` is neither.
    public static func truncated(_ address: String) -> String? {
        let trimmed = address.trimmingCharacters(in: .whitespaces)
        let octets = trimmed.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) {
            return octets.prefix(3).joined(separator: ".") + ".0"
        }
        guard trimmed.contains(":"), trimmed.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
            return nil
        }
        var groups: [Substring] = []
        for group in trimmed.split(separator: ":", omittingEmptySubsequences: false) {
            if group.isEmpty { break }
            groups.append(group)
            if groups.count == 3 { break }
        }
        return groups.joined(separator: ":") + "::"
    }
}

import Foundation
