import CPhoneNumber

/// Parsing, validation and geocoding of phone numbers, backed by libphonenumber 8.12.
///
/// Every function runs synchronously on the caller's thread and may be called from many threads at once (see
/// CPhoneNumber.h for the locks that make libphonenumber safe to share). The first `location(of:)` call builds
/// the offline geocoder. Nothing here throws or traps on bad input: invalid text gives `nil`.
public enum PhoneNumbers {
    /// Parses a number as a caller, a carrier or a web form wrote it and returns it in E.164 form.
    ///
    /// Accepts the usual national and international spellings (`+1 (212) 555-0147`, `212.555.0147`,
    /// `011 44 20 7946 0147`). A leading `00` is read as the international prefix even where it is not one,
    /// because in NANP regions libphonenumber would otherwise keep the zeros as part of a national number
    /// (`0012025550147` would become `+10012025550147`). An extension (`x12`, `;ext=12`) is dropped.
    /// - Parameters:
    ///   - raw: the number as received.
    ///   - defaultRegion: the CLDR region code used for numbers written without a country calling code.
    /// - Returns: nil when the number is withheld (see `isWithheld(_:)`), cannot be parsed, or is not valid in
    ///   its country's numbering plan. Numbers in the unassigned area code 555, such as `+1 555 555 0142`, are
    ///   not valid, while the fictional `555-01xx` lines of real area codes (`+1 212 555 0147`) are.
    public static func normalize(_ raw: String, defaultRegion: String = "US") -> PhoneNumber? {
        guard !isWithheld(raw) else {
            return nil
        }

        let text = internationalPrefixReplaced(in: raw)
        var buffer = [CChar](repeating: 0, count: 32)
        let status = phone_number_normalize(text, defaultRegion, &buffer, buffer.count)
        guard status == statusOK else {
            return nil
        }

        // A placeholder written without its '+', such as "7378742833", only matches once it has a country code.
        let e164 = string(from: buffer)
        guard !isWithheld(e164) else {
            return nil
        }

        return PhoneNumber(e164: e164)
    }

    /// Returns where `number` is registered, or nil when libphonenumber does not consider it valid.
    ///
    /// The country comes from libphonenumber's metadata; the region and city come from its offline geocoder in
    /// English. They are nil when the geocoder has nothing finer than the country, as for toll-free numbers and
    /// for mobile numbers in countries that give mobiles their own prefixes, such as the UK and Germany.
    public static func location(of number: PhoneNumber) -> PhoneLocation? {
        var regionCode = [CChar](repeating: 0, count: 8)
        var area = [CChar](repeating: 0, count: 256)
        var status = phone_number_locate(number.e164, &regionCode, regionCode.count, &area, area.count)
        if status == Int32(PHONE_NUMBER_BUFFER_TOO_SMALL.rawValue) {
            // Descriptions are short place names, so this retry only guards against unexpected metadata.
            area = [CChar](repeating: 0, count: 4096)
            status = phone_number_locate(number.e164, &regionCode, regionCode.count, &area, area.count)
        }
        guard status == statusOK else {
            return nil
        }

        return PhoneLocation(
            regionCode: string(from: regionCode),
            area: string(from: area),
            isNANP: number.e164.hasPrefix("+1")
        )
    }

    /// Returns whether a NANP number (country calling code 1) belongs to a geographic area code.
    ///
    /// Fixed-line and mobile numbers are geographic; toll-free (`+1 800 …`), premium-rate and other
    /// non-geographic numbers are not.
    /// - Returns: nil when `number` is outside NANP or not valid.
    public static func isGeographic(_ number: PhoneNumber) -> Bool? {
        var isGeographic: Int32 = 0
        guard phone_number_is_geographic_nanp(number.e164, &isGeographic) == statusOK else {
            return nil
        }

        return isGeographic != 0
    }

    // MARK: - Helpers

    private static let statusOK = Int32(PHONE_NUMBER_OK.rawValue)

    /// Replaces a leading `00`, after any whitespace, with `+`.
    private static func internationalPrefixReplaced(in raw: String) -> String {
        let body = raw.drop { $0.isWhitespace }
        guard body.hasPrefix("00") else {
            return raw
        }

        return "+" + body.dropFirst(2)
    }

    private static func string(from buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
