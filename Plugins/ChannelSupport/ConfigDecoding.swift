import Foundation

/// Decodes a plugin's `config` block (JSON) with errors that name the field and never
/// echo a value (a secret could be the offending one). Pure: thread-safe.
public enum ConfigDecoding {
    /// A problem with the config block, fit for the host's refusal to start.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public static func decode<T: Decodable>(_ type: T.Type, json: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data((json.isEmpty ? "{}" : json).utf8))
        } catch let e as DecodingError {
            switch e {
            case .keyNotFound(let key, _): throw Problem(description: "missing field \(key.stringValue)")
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
                throw Problem(description: ctx.codingPath.isEmpty ? "config is not a valid JSON object"
                              : "\(ctx.codingPath.map(\.stringValue).joined(separator: ".")): invalid value")
            @unknown default: throw Problem(description: "config is not valid")
            }
        }
    }
}
