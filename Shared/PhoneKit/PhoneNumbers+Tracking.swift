extension PhoneNumbers {
    /// Returns `raw` in E.164 form for matching and storage: libphonenumber's normalization, or for text that is
    /// already in E.164 syntax but outside the numbering plan (the fictional `+1 555 555 01xx` test numbers, which
    /// libphonenumber rejects) the text itself. Withheld numbers give nil.
    public static func canonical(_ raw: String, defaultRegion: String = "US") -> PhoneNumber? {
        guard !isWithheld(raw) else { return nil }

        if let number = normalize(raw, defaultRegion: defaultRegion) { return number }
        let compact = raw.filter { !" ()-.".contains($0) }
        return PhoneNumber(e164: compact)
    }
}
