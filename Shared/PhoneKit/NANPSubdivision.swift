/// Postal codes of the US states and Canadian provinces and territories, keyed by the English names that
/// libphonenumber's offline geocoder uses for NANP area codes.
///
/// The geocoder names a state or province alone when an area code covers several cities, for example
/// `New Jersey` for 201 and `Ontario` for 416. The keys were taken from the descriptions that libphonenumber
/// 8.12.57 returns for area codes 200 to 999, plus the official names of the same places.
enum NANPSubdivision {
    /// Returns the two-letter postal code for a state or province name, or nil for any other text.
    static func code(forName name: String) -> String? {
        codes[name]
    }

    private static let codes: [String: String] = [
        // United States, with the geocoder's spellings for Washington and the District of Columbia.
        "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
        "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
        "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA",
        "Kansas": "KS", "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
        "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO",
        "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ",
        "New Mexico": "NM", "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH",
        "Oklahoma": "OK", "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
        "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
        "Virginia": "VA", "Washington": "WA", "Washington State": "WA", "West Virginia": "WV",
        "Wisconsin": "WI", "Wyoming": "WY",
        "District of Columbia": "DC", "Washington D.C.": "DC", "Washington, D.C.": "DC",

        // Canada.
        "Alberta": "AB", "British Columbia": "BC", "Manitoba": "MB", "New Brunswick": "NB",
        "Newfoundland and Labrador": "NL", "Northwest Territories": "NT", "Nova Scotia": "NS", "Nunavut": "NU",
        "Ontario": "ON", "Prince Edward Island": "PE", "Quebec": "QC", "Saskatchewan": "SK", "Yukon": "YT",
    ]
}
