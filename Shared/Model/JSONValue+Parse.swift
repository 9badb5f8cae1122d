import Foundation

/// The reason `JSONValue.read` gave no value.
public enum JSONReadFailure: Error, Equatable, Sendable {
    /// The text is not JSON, or goes past a limit of the reader. The reason names the problem and its position.
    case invalid(String)
    /// The text contains a number with a zero integer part and an exponent. Foundation's `JSONDecoder` reads such
    /// numbers inconsistently (it rejects `0e4` and reads `0e10`), so only `JSONDecoder` can decide.
    case deferred
}

extension JSONValue {
    /// Reads a JSON document without `JSONDecoder`, for messages and requests read on every page view.
    ///
    /// It follows RFC 8259 and is stricter than `JSONDecoder` in a few ways that keep hostile input cheap and
    /// unambiguous: a key repeated in one object, nesting deeper than 32 levels and a trailing comma are errors.
    /// Whatever it reads, `JSONDecoder` reads the same way (the `json-value` fuzz target checks this). A UTF-8
    /// byte order mark at the start is skipped, as `JSONDecoder` skips it.
    /// - Parameter replacingLoneSurrogates: read an unpaired UTF-16 surrogate escape as U+FFFD, the replacement
    ///   character, instead of failing. Browsers' `JSON.stringify` writes one for a string cut inside an emoji.
    public static func read(_ bytes: [UInt8], replacingLoneSurrogates: Bool = false)
        -> Result<JSONValue, JSONReadFailure>
    {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(bytes: buffer)
            reader.replacesLoneSurrogates = replacingLoneSurrogates
            reader.skipByteOrderMark()
            reader.skipSpace()
            if let value = reader.value(depth: 0) {
                reader.skipSpace()
                if reader.index == buffer.count { return .success(value) }
                return .failure(.invalid("unexpected \(reader.describeByte()) after the JSON value"))
            }
            return .failure(reader.failure)
        }
    }

    /// Reads a JSON document like `read`, or gives nil.
    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        try? read(bytes).get()
    }

    /// Reads the elements of the array under `key` in a top-level object one by one, for a request that carries a
    /// batch: an element that is not valid JSON (a number out of range, say) fails alone, with the reason, and the
    /// others are still read. Unpaired surrogate escapes read as U+FFFD, as `read` does with
    /// `replacingLoneSurrogates`.
    ///
    /// - Throws: `ValidationError` when the document as a whole is not an object with such an array: not JSON, the
    ///   key missing, repeated or not an array, or another key's value not JSON.
    public static func parseElements(of key: String, in bytes: [UInt8]) throws(ValidationError)
        -> [Result<JSONValue, ValidationError>]
    {
        let elements = bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONByteReader(bytes: buffer)
            reader.replacesLoneSurrogates = true
            return reader.elements(of: key)
        }
        return try elements.get()
    }
}

private struct JSONByteReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// The reason the last value could not be read; the innermost one when several levels gave up.
    var problem: String?
    /// True when the last value contains a number only `JSONDecoder` can judge (`JSONReadFailure.deferred`).
    var deferred = false
    /// Read an unpaired surrogate escape as U+FFFD instead of failing.
    var replacesLoneSurrogates = false
    /// The position of the string being read, for messages.
    var stringStart = 0
    var stringAt: String { "the string at byte \(stringStart)" }

    var failure: JSONReadFailure {
        deferred ? .deferred : .invalid(problem ?? "the text is not JSON")
    }

    /// Records `reason` unless a deeper level already gave one, and gives nil.
    mutating func fail<T>(_ reason: String) -> T? {
        if problem == nil && !deferred { problem = reason }
        return nil
    }

    /// Names the byte at `index` for a message: the character when it is printable ASCII, else its value, with its
    /// position.
    func describeByte() -> String {
        guard index < bytes.count else { return "end of text" }
        let byte = bytes[index]
        let character = byte >= 0x21 && byte <= 0x7E ? "'\(Character(Unicode.Scalar(byte)))'"
            : "byte 0x\(String(byte, radix: 16, uppercase: true))"
        return "\(character) at byte \(index)"
    }

    mutating func skipByteOrderMark() {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
    }

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
        guard index < bytes.count else { return fail("the text ends where a value should be") }
        guard depth <= Self.maxDepth else { return fail("values are nested more than \(Self.maxDepth) levels deep") }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "{"): return object(depth: depth)
        case UInt8(ascii: "["): return array(depth: depth)
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : fail("unexpected \(describeByte())")
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : fail("unexpected \(describeByte())")
        case UInt8(ascii: "n"): return literal("null") ? .null : fail("unexpected \(describeByte())")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number().map(JSONValue.number)
        default: return fail("unexpected \(describeByte()) where a value should be")
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
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                return fail("expected a quoted key, found \(describeByte())")
            }
            let keyStart = index
            guard let name = string() else { return nil }
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                return fail("expected ':' after a key, found \(describeByte())")
            }
            index += 1
            skipSpace()
            guard let value = value(depth: depth + 1) else { return nil }
            guard fields.updateValue(value, forKey: name) == nil else {
                return fail("the key \"\(name.prefix(64))\" at byte \(keyStart) appears a second time in one object")
            }
            skipSpace()
            guard index < bytes.count else { return fail("the text ends inside an object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            } else {
                return fail("expected ',' or '}', found \(describeByte())")
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
            guard index < bytes.count else { return fail("the text ends inside an array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            } else {
                return fail("expected ',' or ']', found \(describeByte())")
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

    /// Reads the string whose opening quote is at `index`.
    mutating func string() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        stringStart = index
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
            if byte < 0x20 { return fail("\(stringAt) contains a control character; escape it, as \\n or \\u0001") }
            end += 1
        }
        guard end < bytes.count else { return fail("\(stringAt) is not closed") }
        return escapedString(from: start, plainUntil: end)
    }

    /// Reads the rest of a string that has an escape sequence at `plainUntil`.
    private mutating func escapedString(from start: Int, plainUntil: Int) -> String? {
        var text = Array(bytes[start..<plainUntil])
        var position = plainUntil
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                index = position + 1
                return text.withUnsafeBufferPointer { validUTF8($0) }
            }
            if byte < 0x20 { return fail("\(stringAt) contains a control character; escape it, as \\n or \\u0001") }
            guard byte == UInt8(ascii: "\\") else {
                text.append(byte)
                position += 1
                continue
            }
            guard position + 1 < bytes.count else { return fail("\(stringAt) is not closed") }
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
                    return fail("\(stringAt) has a \\u escape without four hexadecimal digits")
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
                return fail("\(stringAt) has an invalid escape sequence")
            }
        }
        return fail("\(stringAt) is not closed")
    }

    private mutating func unpaired(_ scalar: UInt32) -> String? {
        fail("\(stringAt) has an unpaired UTF-16 surrogate escape (\\u\(String(scalar, radix: 16, uppercase: true)))")
    }

    private mutating func validUTF8(_ text: UnsafeBufferPointer<UInt8>) -> String? {
        guard let string = String(validating: text, as: UTF8.self) else {
            return fail("\(stringAt) is not valid UTF-8")
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

    /// Reads a number in JSON's grammar that a `Double` represents as a finite value.
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
        guard index < bytes.count else { return fail("a number ends after its sign") }
        let zero = bytes[index] == UInt8(ascii: "0")
        if zero {
            index += 1
        } else if digits() == 0 {
            return fail("a number is malformed at byte \(start)")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return fail("a number is malformed at byte \(start)") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            if zero {
                deferred = true
                return nil
            }
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { return fail("a number is malformed at byte \(start)") }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        // Too small a number rounds to zero, and JSONDecoder rejects that as it rejects one too large.
        let mantissa = text.utf8.prefix { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }
        guard let value = Double(text), value.isFinite,
              value != 0 || !mantissa.contains(where: { $0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9") })
        else { return fail("the number \(text.prefix(32)) is out of range") }
        return value
    }

    /// Reads the elements of the array under `key` in a top-level object, each on its own; see
    /// `JSONValue.parseElements(of:in:)`.
    mutating func elements(of key: String) -> Result<[Result<JSONValue, ValidationError>], ValidationError> {
        func invalid(_ reason: String) -> Result<[Result<JSONValue, ValidationError>], ValidationError> {
            .failure(ValidationError(reason))
        }
        skipByteOrderMark()
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else {
            if case .failure(.invalid(let reason)) = JSONValue.read(Array(bytes)) {
                return invalid("not valid JSON: \(reason)")
            }
            return invalid("the body must be a JSON object with \"\(key)\", an array of events")
        }
        index += 1
        var found: [Result<JSONValue, ValidationError>]?
        var keys: Set<String> = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let name = string() else {
                    return invalid("not valid JSON: " + (problem ?? "expected a quoted key, found \(describeByte())"))
                }
                guard keys.insert(name).inserted else {
                    return invalid("the key \"\(name.prefix(64))\" appears twice in the body")
                }
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                    return invalid("not valid JSON: expected ':' after a key, found \(describeByte())")
                }
                index += 1
                skipSpace()
                if name == key {
                    switch arrayElements() {
                    case .success(let items): found = items
                    case .failure(let error): return .failure(error)
                    }
                } else {
                    let start = index
                    problem = nil
                    deferred = false
                    if value(depth: 1) == nil {
                        // Only a number that JSONDecoder must judge passes here, skipped unread.
                        guard deferred else { return invalid("not valid JSON: \(problem ?? "a value cannot be read")") }
                        index = start
                        guard skipValue() else { return invalid("not valid JSON at byte \(start)") }
                    }
                }
                skipSpace()
                guard index < bytes.count else { return invalid("not valid JSON: the text ends inside the object") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                } else {
                    return invalid("not valid JSON: expected ',' or '}', found \(describeByte())")
                }
            }
        }
        skipSpace()
        guard index == bytes.count else {
            return invalid("not valid JSON: unexpected \(describeByte()) after the object")
        }
        guard let found else { return invalid("missing field \(key)") }
        return .success(found)
    }

    /// Reads the elements of the array at `index`, each on its own. One that cannot be read fails alone with the
    /// reason, once its end is found. A number only `JSONDecoder` can judge is left to it.
    private mutating func arrayElements() -> Result<[Result<JSONValue, ValidationError>], ValidationError> {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else {
            return .failure(ValidationError("batch must be an array of events"))
        }
        index += 1
        var items: [Result<JSONValue, ValidationError>] = []
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .success(items)
        }
        while true {
            skipSpace()
            let start = index
            problem = nil
            deferred = false
            if let item = value(depth: 1) {
                items.append(.success(item))
            } else {
                var reason = failure
                index = start
                guard skipValue() else {
                    return .failure(ValidationError("not valid JSON: \(problem ?? "an event is not closed")"))
                }
                // Read the event alone again, so the message counts bytes from its own start.
                var alone = JSONByteReader(bytes: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                alone.replacesLoneSurrogates = replacesLoneSurrogates
                if alone.value(depth: 1) == nil { reason = alone.failure }
                if reason == .deferred,
                   let decoded = try? JSONDecoder().decode(
                       JSONValue.self, from: Data(UnsafeBufferPointer(rebasing: bytes[start..<index])))
                {
                    items.append(.success(decoded))
                } else if case .invalid(let detail) = reason {
                    items.append(.failure(ValidationError("the event is not valid JSON: \(detail)")))
                } else {
                    items.append(.failure(ValidationError("the event is not valid JSON")))
                }
            }
            skipSpace()
            guard index < bytes.count else {
                return .failure(ValidationError("not valid JSON: the text ends inside the batch"))
            }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .success(items)
            } else {
                return .failure(ValidationError("not valid JSON: expected ',' or ']', found \(describeByte())"))
            }
        }
    }

    /// Moves past one value without reading it, to find where an unreadable event ends: strings may hold any
    /// byte, and any run of other characters counts as one word. Brackets are counted, not recursed into, so
    /// nesting costs no stack. False when the brackets do not match or the text ends first.
    private mutating func skipValue() -> Bool {
        var open: [UInt8] = []
        repeat {
            skipSpace()
            guard index < bytes.count else { return false }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard index < bytes.count else { return false }
                index += 1
            case UInt8(ascii: "{"):
                open.append(UInt8(ascii: "}"))
                index += 1
            case UInt8(ascii: "["):
                open.append(UInt8(ascii: "]"))
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard open.last == bytes[index] else { return false }
                open.removeLast()
                index += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                guard !open.isEmpty else { return false }
                index += 1
            default:
                let start = index
                while index < bytes.count, !Self.endsWord(bytes[index]) { index += 1 }
                guard index > start else { return false }
            }
        } while !open.isEmpty
        return true
    }

    private static func endsWord(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["),
             UInt8(ascii: "]"), UInt8(ascii: ","), UInt8(ascii: ":"):
            return true
        default:
            return false
        }
    }
}
