import Model
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("203.0.113.7", "203.0.113.0"),
        (" 10.1.2.3 ", "10.1.2.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2001:db8::1", "2001:db8::"),
        ("2001:DB8:85A3:FFFF::1", "2001:db8:85a3::"),
        ("::ffff:198.51.100.25", "198.51.100.0"),
        ("::1", "::"),
    ])
    func truncatesToNetwork(address: String, expected: String) {
        #expect(IPAddress.truncated(address) == expected)
    }

    @Test(arguments: [
        "", "not an address", "300.1.2.3", "1.2.3", "<script>", "198.51.100.25:5678", "198.51.100.25:80",
        "1.2.3.4::", "aaaaaaaaaaaaaaaaaaaaaaa:b:c::", "[2001:db8::1]:443", "fe80::1%eth0", "2001:db8:::1",
        "1.2.3.4.5", "01.2.3.4x", "203.0.113.7\u{0}x", "2001:db8::1\u{0}", "203.0.113.7\n",
    ])
    func rejectsInvalidAddress(address: String) {
        #expect(IPAddress.truncated(address) == nil)
    }
}
