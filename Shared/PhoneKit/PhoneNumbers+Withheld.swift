import Foundation

extension PhoneNumbers {
    /// Returns whether `raw` is a carrier's stand-in for a caller ID the caller withheld, rather than a number.
    ///
    /// Matches, ignoring case and surrounding whitespace:
    /// - an empty string;
    /// - the words carriers send in `From`: `anonymous`, `restricted`, `unknown`, `private`, `unavailable`,
    ///   `blocked` and `withheld`;
    /// - the digits those words spell on a phone keypad, with or without `+` and separators, which Twilio sent
    ///   in place of the words (`+266696687` spells ANONYMOUS).
    ///
    /// - Important: `+17378742833` (RESTRICTED after a NANP country code) also matches. That is what a bare
    ///   `7378742833` normalizes to in region US, but it is also a dialable Texas number, so a real subscriber
    ///   on it would be treated as withheld.
    public static func isWithheld(_ raw: String) -> Bool {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty || withheldWords.contains(text.lowercased()) {
            return true
        }

        guard let digits = digitsIgnoringSeparators(text) else {
            return false
        }

        return withheldKeypadDigits.contains(digits) || digits == "1" + restrictedKeypadDigits
    }

    private static let withheldWords: Set<String> = [
        "anonymous", "restricted", "unknown", "private", "unavailable", "blocked", "withheld",
    ]

    /// The withheld words as keypad digits. Twilio translated withheld caller IDs into these digits; its
    /// changelog of November 2022 announced that <Dial> legs would carry the words instead, so both forms occur.
    private static let withheldKeypadDigits: Set<String> = [
        "266696687",  // ANONYMOUS
        restrictedKeypadDigits,  // RESTRICTED
        "86282452253",  // UNAVAILABLE
        "8656696",  // UNKNOWN
        "2562533",  // BLOCKED
    ]

    private static let restrictedKeypadDigits = "7378742833"

    /// Returns the digits of `text` if it holds only digits, `+` and the separators people write in numbers.
    private static func digitsIgnoringSeparators(_ text: String) -> String? {
        var digits = ""
        for character in text.unicodeScalars {
            switch character {
            case "0"..."9":
                digits.unicodeScalars.append(character)
            case "+", " ", "-", ".", "(", ")":
                continue
            default:
                return nil
            }
        }
        return digits.isEmpty ? nil : digits
    }
}
