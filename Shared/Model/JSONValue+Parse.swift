import Foundation

extension JSONValue {
    /// Reads a JSON document without `JSONDecoder`, for messages read on every page view.
    ///
    /// It follows RFC 8259 strictly and gives nil for anything it cannot read exactly: malformed JSON, a repeated
    /// key, a lone surrogate escape, invalid UTF-8, a number too large for a `Double`, nesting deeper than 32
    /// levels. Callers then decode the bytes with `JSONDecoder`, which decides and explains what is wrong, so
    /// this path never changes what a document means or which documents are rejected.
    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(bytes: buffer)
            reader.skipSpace()
            guard let value = reader.value(depth: 0) else { return nil }
            reader.skipSpace()
            return reader.index == buffer.count ? value : nil
        }
    }

    /// Says what in `bytes` is not valid JSON, for the error message: an unpaired surrogate escape, a number out
    /// of range, invalid UTF-8, a control character or an invalid escape in a string. Nil when `parse` reads the
    /// bytes, or gives up for another reason, such as a syntax error or a repeated key.
    public static func problem(in bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(bytes: buffer)
            reader.skipSpace()
            return reader.value(depth: 0) == nil ? reader.problem : nil
        }
    }

    /// Reads the elements of the array under `key` in a top-level object one by one, for a request that carries a
    /// batch: an element that is not valid JSON (a number out of range, say) fails alone, with the reason, and the
    /// others are still read.
    ///
    /// An unpaired UTF-16 surrogate escape reads as U+FFFD, the replacement character, because browsers'
    /// `JSON.stringify` writes one for a string cut inside an emoji. Nil when the document is not an object with
    /// such an array, has a repeated top-level key or is not JSON at all. The caller then decodes it with
    /// `JSONDecoder`, which explains what is wrong.
    public static func parseElements(of key: String, in bytes: [UInt8]) -> [Result<JSONValue, ValidationError>]? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(bytes: buffer)
            reader.replacesLoneSurrogates = true
            return reader.elements(of: key)
        }
    }
}

private struct JSONByteReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// The reason the last value could not be read, when it is worth telling the sender.
    var problem: String?
    /// Read an unpaired surrogate escape as U+FFFD instead of failing.
    var replacesLoneSurrogates = false

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    static let maxDepth = 32

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) -> JSONValue? {
        guard index < bytes.count, depth <= Self.maxDepth else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default: return number().map(JSONValue.number)
        }
    }

    private mutating func object(depth: Int) -> JSONValue? {
        index += 1
        // Room for a typical event's objects, so most of them never grow.
        var fields: [String: JSONValue] = Dictionary(minimumCapacity: 8)
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(fields)
        }
        while true {
            skipSpace()
            guard let name = string() else { return nil }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            guard let value = value(depth: depth + 1) else { return nil }
            // JSONDecoder reads a repeated key, so it is no problem to report.
            guard fields.updateValue(value, forKey: name) == nil else { return nil }
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            } else {
                return nil
            }
        }
    }

    private mutating func array(depth: Int) -> JSONValue? {
        index += 1
        var items: [JSONValue] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipSpace()
            guard let item = value(depth: depth + 1) else { return nil }
            items.append(item)
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            } else {
                return nil
            }
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    /// A string whose opening quote is at `index`.
    mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") {
                index = end + 1
                let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
                // ASCII is valid UTF-8, and checking for it is cheaper than validating.
                if text.allSatisfy({ $0 < 0x80 }) { return String(decoding: text, as: UTF8.self) }
                return validUTF8(text)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 {
                problem = "a string holds a control character; escape it, as \\n or \\u0001"
                return nil
            }
            end += 1
        }
        guard end < bytes.count else { return nil }
        return escapedString(from: start, plainUntil: end)
    }

    /// The rest of a string that has an escape sequence at `plainUntil`.
    private mutating func escapedString(from start: Int, plainUntil: Int) -> String? {
        var text = Array(bytes[start..<plainUntil])
        var position = plainUntil
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                index = position + 1
                return text.withUnsafeBufferPointer { validUTF8($0) }
            }
            if byte < 0x20 {
                problem = "a string holds a control character; escape it, as \\n or \\u0001"
                return nil
            }
            guard byte == UInt8(ascii: "\\") else {
                text.append(byte)
                position += 1
                continue
            }
            guard position + 1 < bytes.count else { return nil }
            position += 2
            switch bytes[position - 1] {
            case UInt8(ascii: "\""): text.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): text.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): text.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): text.append(0x08)
            case UInt8(ascii: "f"): text.append(0x0C)
            case UInt8(ascii: "n"): text.append(0x0A)
            case UInt8(ascii: "r"): text.append(0x0D)
            case UInt8(ascii: "t"): text.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(at: position) else {
                    problem = "a \\u escape needs four hexadecimal digits"
                    return nil
                }
                position += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    if position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"),
                       bytes[position + 1] == UInt8(ascii: "u"), let low = hex4(at: position + 2),
                       (0xDC00...0xDFFF).contains(low) {
                        position += 6
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else {
                        guard replacesLoneSurrogates else { return unpaired(scalar) }
                        scalar = 0xFFFD
                    }
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    guard replacesLoneSurrogates else { return unpaired(scalar) }
                    scalar = 0xFFFD
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                text.append(contentsOf: unicode.utf8)
            default:
                problem = "a string has an invalid escape sequence"
                return nil
            }
        }
        return nil
    }

    private mutating func unpaired(_ scalar: UInt32) -> String? {
        problem = "a string has an unpaired UTF-16 surrogate escape (\\u\(String(scalar, radix: 16, uppercase: true)))"
        return nil
    }

    private mutating func validUTF8(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        guard let string = String(validating: text, as: UTF8.self) else {
            problem = "a string is not valid UTF-8"
            return nil
        }
        return string
    }

    private func hex4(at position: Int) -> UInt32? {
        guard position + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// A number in JSON's grammar that a `Double` holds as a finite value.
    private mutating func number() -> Double? {
        let start = index
        func digits() -> Int {
            let first = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
            }
            return index - first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count else { return nil }
        let zero = bytes[index] == UInt8(ascii: "0")
        if zero {
            index += 1
        } else if digits() == 0 {
            return nil
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return nil }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            // Foundation's JSONDecoder rejects some such numbers ("0e4", "-0.0e3") and reads others ("0e10"), so
            // they are left to it.
            if zero { return nil }
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { return nil }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        // Too small a number rounds to zero, and JSONDecoder rejects that as it rejects one too large.
        let mantissa = text.utf8.prefix { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }
        guard let value = Double(text), value.isFinite,
              value != 0 || !mantissa.contains(where: { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") })
        else {
            problem = "the number \(text.prefix(32)) is out of range"
            return nil
        }
        return value
    }

    /// Reads the elements of the array under `key` in a top-level object, each on its own; see
    /// `JSONValue.parseElements(of:in:)`.
    mutating func elements(of key: String) -> [Result<JSONValue, ValidationError>]? {
        var found: [Result<JSONValue, ValidationError>]?
        var keys: Set<String> = []
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { return nil }
        while true {
            skipSpace()
            guard let name = string(), keys.insert(name).inserted else { return nil }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            skipSpace()
            if name == key {
                guard let items = arrayElements() else { return nil }
                found = items
            } else {
                guard skipValue(depth: 0) else { return nil }
            }
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                break
            } else {
                return nil
            }
        }
        skipSpace()
        return index == bytes.count ? found : nil
    }

    /// The elements of the array at `index`, each read on its own: one that cannot be read is skipped over and
    /// given to `JSONDecoder` alone, and fails with the reason when that cannot read it either.
    private mutating func arrayElements() -> [Result<JSONValue, ValidationError>]? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { return nil }
        index += 1
        var items: [Result<JSONValue, ValidationError>] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return items
        }
        while true {
            skipSpace()
            let start = index
            problem = nil
            if let item = value(depth: 1) {
                items.append(.success(item))
            } else {
                let reason = problem
                index = start
                guard skipValue(depth: 1) else { return nil }
                let element = Data(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                // A repeated key or deep nesting is only beyond this reader; JSONDecoder reads those.
                if let decoded = try? JSONDecoder().decode(JSONValue.self, from: element) {
                    items.append(.success(decoded))
                } else {
                    let detail = reason ?? "it cannot be read"
                    items.append(.failure(ValidationError("the event is not valid JSON: \(detail)")))
                }
            }
            skipSpace()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return items
            } else {
                return nil
            }
        }
    }

    /// Moves past one value of JSON's grammar without reading it: strings may hold any escape, numbers any
    /// magnitude. False when the text there is not JSON.
    private mutating func skipValue(depth: Int) -> Bool {
        guard index < bytes.count, depth <= 512 else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""):
            index += 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    return true
                }
                if byte < 0x20 { return false }
                index += byte == UInt8(ascii: "\\") ? 2 : 1
            }
            return false
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObject = close == UInt8(ascii: "}")
            index += 1
            skipSpace()
            if index < bytes.count, bytes[index] == close {
                index += 1
                return true
            }
            while true {
                skipSpace()
                if isObject {
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), skipValue(depth: depth + 1)
                    else { return false }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    skipSpace()
                }
                guard skipValue(depth: depth + 1) else { return false }
                skipSpace()
                guard index < bytes.count else { return false }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == close {
                    index += 1
                    return true
                } else {
                    return false
                }
            }
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default:
            let start = index
            while index < bytes.count, (bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9"))
                    || [UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"),
                        UInt8(ascii: "E")].contains(bytes[index]) {
                index += 1
            }
            return index > start
        }
    }
}
