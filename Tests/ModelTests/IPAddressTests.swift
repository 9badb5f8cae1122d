import Model
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("203.0.113.7", "203.0.113.0"),
        (" 10.1.2.3 ", "10.1.2.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2001:db8::1", "2001:db8::"),
    ])
    func truncatesToNetwork(address: String, expected: String) {
        #expect(IPAddress.truncated(address) == expected)
    }

    @Test(arguments: ["", "not an address", "300.1.2.3", "1.2.3", "<script>"])
    func rejectsInvalidAddress(address: String) {
        #expect(IPAddress.truncated(address) == nil)
    }
}
