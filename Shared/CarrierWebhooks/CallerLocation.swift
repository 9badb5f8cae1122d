import Foundation
import Model
import PhoneKit

/// Where a caller is, from the carrier's own fields or from the number's prefix.
public enum CallerLocation {
    /// The caller's location from Twilio's `From*` fields, or from the number's prefix with the offline geocoder.
    public static func from(_ form: [String: String], from: String?) -> Location? {
        func field(_ name: String) -> String? {
            guard let value = form[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        if field("FromState") != nil || field("FromCity") != nil {
            return Location(
                country: field("FromCountry"),
                region: field("FromState"),
                city: field("FromCity"),
                postalCode: field("FromZip")
            )
        }
        guard let from, let number = PhoneNumber(e164: from), let location = PhoneNumbers.location(of: number)
        else { return nil }

        return Location(country: location.country, region: location.region, city: location.city)
    }
}
