import Foundation
import PhoneKit
import Testing

@Suite(.timeLimit(.minutes(1)))
struct PhoneTests {
    // MARK: - Normalization

    @Test(arguments: [
        ("+1 (212) 555-0147", "+12125550147"),
        ("212.555.0147", "+12125550147"),
        ("(312) 555-0147", "+13125550147"),
        ("2125550147", "+12125550147"),
        ("  +1 212 555 0147\n", "+12125550147"),
        ("tel:+1-212-555-0147", "+12125550147"),
        ("+1 212 555 0147 ext. 12", "+12125550147"),
        ("+442079460147", "+442079460147"),
        ("+44 (0)20 7946 0147", "+442079460147"),
        ("011 44 20 7946 0147", "+442079460147"),
        ("0012025550147", "+12025550147"),
        ("00 44 20 7946 0147", "+442079460147"),
    ])
    func normalizeAcceptsCommonSpellings(raw: String, expected: String) {
        #expect(PhoneNumbers.normalize(raw)?.e164 == expected)
    }

    @Test(arguments: [
        "", "   ", "anonymous", "Anonymous", "Restricted", "Unknown", "private", "unavailable",
        "+266696687", "266696687", "+7378742833", "7378742833", "+1 737 874 2833", "+2562533", "+86282452253",
    ])
    func normalizeRejectsWithheldCallerIDs(raw: String) {
        #expect(PhoneNumbers.normalize(raw) == nil)
    }

    @Test(arguments: ["garbage", "12345", "+1", "+15555550142", "+44 20 7946 01", "212-555-01470000000"])
    func normalizeRejectsInvalidNumbers(raw: String) {
        #expect(PhoneNumbers.normalize(raw) == nil)
    }

    @Test
    func normalizeReadsNationalNumbersInDefaultRegion() {
        #expect(PhoneNumbers.normalize("020 7946 0147", defaultRegion: "GB")?.e164 == "+442079460147")
        #expect(PhoneNumbers.normalize("020 7946 0147", defaultRegion: "US") == nil)
    }

    // MARK: - Withheld caller IDs

    @Test(arguments: [
        "", " ", "anonymous", "ANONYMOUS", "Restricted", "Unknown", "private", "unavailable", "Blocked",
        "+266696687", "266696687", "+7378742833", "+17378742833", "+2562533", "+86282452253", "+8656696",
    ])
    func isWithheldMatchesPlaceholders(raw: String) {
        #expect(PhoneNumbers.isWithheld(raw))
    }

    @Test(arguments: ["+12125550147", "+442079460147", "garbage", "+266696688", "+27378742833"])
    func isWithheldIgnoresOtherText(raw: String) {
        #expect(!PhoneNumbers.isWithheld(raw))
    }

    /// The placeholder digits are the withheld words typed on a phone keypad; this pins the table to that rule.
    @Test(arguments: [
        ("ANONYMOUS", "266696687"),
        ("RESTRICTED", "7378742833"),
        ("UNAVAILABLE", "86282452253"),
        ("UNKNOWN", "8656696"),
        ("BLOCKED", "2562533"),
    ])
    func withheldDigitsSpellWordsOnKeypad(word: String, digits: String) {
        #expect(keypadDigits(for: word) == digits)
        #expect(PhoneNumbers.isWithheld("+" + digits))
    }

    // MARK: - Location

    @Test
    func locationOfManhattanNumberIsNewYork() throws {
        let number = try #require(PhoneNumbers.normalize("+1 (212) 555-0147"))
        let location = try #require(PhoneNumbers.location(of: number))
        #expect(location.country == "US")
        #expect(location.region == "NY")
        #expect(location.city == "New York")
    }

    @Test
    func locationOfChicagoNumberIsChicago() throws {
        let number = try #require(PhoneNumbers.normalize("312.555.0147"))
        #expect(PhoneNumbers.location(of: number) == PhoneLocation(country: "US", region: "IL", city: "Chicago"))
    }

    @Test
    func locationOfLondonNumberIsLondon() throws {
        let number = try #require(PhoneNumbers.normalize("+442079460147"))
        #expect(PhoneNumbers.location(of: number) == PhoneLocation(country: "GB", region: nil, city: "London"))
    }

    @Test
    func locationOfStatewideAreaCodeHasOnlyRegion() throws {
        let newJersey = try #require(PhoneNumbers.normalize("+12015550147"))
        #expect(PhoneNumbers.location(of: newJersey) == PhoneLocation(country: "US", region: "NJ", city: nil))

        let ontario = try #require(PhoneNumbers.normalize("+14165550147"))
        #expect(PhoneNumbers.location(of: ontario) == PhoneLocation(country: "CA", region: "ON", city: nil))

        let washington = try #require(PhoneNumbers.normalize("+12025550147"))
        #expect(PhoneNumbers.location(of: washington) == PhoneLocation(country: "US", region: "DC", city: nil))
    }

    @Test
    func locationOfTollFreeNumberHasOnlyCountry() throws {
        let number = try #require(PhoneNumbers.normalize("+1 800 555 0147"))
        #expect(PhoneNumbers.location(of: number) == PhoneLocation(country: "US", region: nil, city: nil))
    }

    @Test
    func locationOfBritishMobileHasOnlyCountry() throws {
        let number = try #require(PhoneNumbers.normalize("+44 7400 123456"))
        #expect(PhoneNumbers.location(of: number) == PhoneLocation(country: "GB", region: nil, city: nil))
    }

    @Test
    func locationOfNANPTerritoryUsesItsOwnCountry() throws {
        let number = try #require(PhoneNumbers.normalize("+1 787 555 0147"))
        #expect(PhoneNumbers.location(of: number) == PhoneLocation(country: "PR", region: nil, city: nil))
    }

    @Test
    func locationOfInvalidNumberIsNil() throws {
        let number = try #require(PhoneNumber(e164: "+15555550142"))
        #expect(PhoneNumbers.location(of: number) == nil)
    }

    // MARK: - Geographic numbers

    @Test
    func isGeographicSeparatesAreaCodesFromTollFree() throws {
        let manhattan = try #require(PhoneNumbers.normalize("+12125550147"))
        let tollFree = try #require(PhoneNumbers.normalize("+18005550147"))
        let london = try #require(PhoneNumbers.normalize("+442079460147"))
        #expect(PhoneNumbers.isGeographic(manhattan) == true)
        #expect(PhoneNumbers.isGeographic(tollFree) == false)
        #expect(PhoneNumbers.isGeographic(london) == nil)
    }

    @Test
    func concurrentCallsGiveSameResults() async {
        let results = await withTaskGroup(of: [PhoneLocation?].self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<200).map { _ in PhoneNumbers.normalize("312.555.0147").flatMap(PhoneNumbers.location(of:)) }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }

        let chicago = PhoneLocation(country: "US", region: "IL", city: "Chicago")
        #expect(results.count == 1600)
        #expect(results.allSatisfy { $0 == chicago })
    }

    // MARK: - PhoneNumber value

    @Test(arguments: ["+12125550147", "+442079460147", "+15555550100"])
    func phoneNumberAcceptsE164Syntax(text: String) {
        #expect(PhoneNumber(e164: text)?.e164 == text)
    }

    @Test(arguments: ["", "+", "+1", "12125550147", "+012125550147", "+1 212 555 0147", "+1234567890123456"])
    func phoneNumberRejectsOtherSyntax(text: String) {
        #expect(PhoneNumber(e164: text) == nil)
    }

    @Test
    func phoneNumberCodesAsPlainString() throws {
        let number = try #require(PhoneNumber(e164: "+12125550147"))
        let json = try JSONEncoder().encode([number])
        #expect(String(decoding: json, as: UTF8.self) == #"["+12125550147"]"#)
        #expect(try JSONDecoder().decode([PhoneNumber].self, from: json) == [number])
    }

    @Test
    func phoneNumberDecodingRejectsNonE164() {
        let json = Data(#"["212-555-0147"]"#.utf8)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([PhoneNumber].self, from: json)
        }
    }

    // MARK: - Helpers

    private func keypadDigits(for word: String) -> String {
        let keys: [Character: Character] = [
            "A": "2", "B": "2", "C": "2", "D": "3", "E": "3", "F": "3", "G": "4", "H": "4", "I": "4",
            "J": "5", "K": "5", "L": "5", "M": "6", "N": "6", "O": "6", "P": "7", "Q": "7", "R": "7", "S": "7",
            "T": "8", "U": "8", "V": "8", "W": "9", "X": "9", "Y": "9", "Z": "9",
        ]
        return String(word.compactMap { keys[$0] })
    }
}
