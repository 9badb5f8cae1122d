import Foundation

/// Where a phone number is registered, according to libphonenumber's offline geocoder.
///
/// The geocoder works from number prefixes, so this is where the number was assigned, not where the caller is.
/// Every field is optional because the geocoder often has only the country, and sometimes not even that.
public struct PhoneLocation: Sendable, Hashable, Codable {
    /// ISO 3166-1 alpha-2 code of the country or territory, such as `US`, `CA`, `PR` or `GB`.
    public let country: String?
    /// State, province or territory code, such as `NY` or `ON`; set mostly for NANP numbers.
    public let region: String?
    /// City in English, such as `New York` or `London`; for numbers outside NANP, the geocoder's area
    /// description, which is usually a city.
    public let city: String?

    public init(country: String?, region: String?, city: String?) {
        self.country = country
        self.region = region
        self.city = city
    }

    /// Builds a location from libphonenumber's region code and the geocoder's English area description.
    ///
    /// The geocoder writes NANP areas as `City, ST` (`New York, NY`), or as a state or province name alone
    /// (`New Jersey`, `Ontario`) when the area code covers more than one city. Other countries mostly get a
    /// city name (`London`); a few use the `City, ST` form too (`Mexico City, FD`).
    /// - Parameters:
    ///   - regionCode: libphonenumber's region code; `ZZ` (unknown) and `001` (non-geographic) give no country.
    ///   - area: the geocoder's description below country level, or an empty string.
    ///   - isNANP: whether the number has country calling code 1.
    init(regionCode: String, area: String, isNANP: Bool) {
        let isCountry = regionCode.utf8.count == 2 && regionCode != "ZZ"
        let country = isCountry ? regionCode : nil
        let trimmed = area.trimmingCharacters(in: .whitespaces)

        if let split = Self.splitCityAndRegion(trimmed) {
            self.init(country: country, region: split.region, city: split.city)
        } else if isNANP, let region = NANPSubdivision.code(forName: trimmed) {
            self.init(country: country, region: region, city: nil)
        } else if trimmed.isEmpty || trimmed.contains("/") {
            // A slash joins several provinces ("Nova Scotia/Prince Edward Island"), which is neither a city nor
            // one region.
            self.init(country: country, region: nil, city: nil)
        } else {
            self.init(country: country, region: nil, city: trimmed)
        }
    }

    /// Splits `City, ST` at its last comma when `ST` is two or three capital ASCII letters.
    private static func splitCityAndRegion(_ area: String) -> (city: String, region: String)? {
        guard let comma = area.lastIndex(of: ",") else {
            return nil
        }

        let city = area[..<comma].trimmingCharacters(in: .whitespaces)
        let region = area[area.index(after: comma)...].trimmingCharacters(in: .whitespaces)
        let isCode = (2...3).contains(region.utf8.count) && region.utf8.allSatisfy(Self.isCapitalLetter)
        guard isCode, !city.isEmpty else {
            return nil
        }

        return (city, region)
    }

    private static func isCapitalLetter(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")
    }
}
