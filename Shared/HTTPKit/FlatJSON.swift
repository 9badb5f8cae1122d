import Model

/// A value of a flat JSON object, as `FlatJSON.parse` reads it.
public enum FlatJSONValue: Sendable, Equatable {
    case string(String)
    case bool(Bool)
    case null
}

/// Reads the common shape of small request bodies, one JSON object of strings, booleans and nulls, without
/// `JSONDecoder`, for endpoints called on every page view.
///
/// It reads with `JSONValue.read`, which reads any document the way `JSONDecoder` does. A number, a nested value or
/// anything `JSONValue.read` rejects gives nil, and the caller then decodes the body with `JSONDecoder`, which also
/// explains what is wrong with it. So the fast path never changes what a body means.
public enum FlatJSON {
    public static func parse(_ bytes: [UInt8]) -> [String: FlatJSONValue]? {
        guard case .object(let object)? = JSONValue.parse(bytes) else { return nil }
        var fields: [String: FlatJSONValue] = [:]
        for (name, value) in object {
            switch value {
            case .string(let text): fields[name] = .string(text)
            case .bool(let flag): fields[name] = .bool(flag)
            case .null: fields[name] = .null
            default: return nil
            }
        }
        return fields
    }
}
