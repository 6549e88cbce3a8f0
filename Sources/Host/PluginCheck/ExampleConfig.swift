import Foundation
import Yams

/// The config blocks `plugin-check` creates instances with: the plugin's own example, and
/// invalid ones derived from its schema.
///
/// Where the example comes from, first match wins:
///  1. `--config FILE` (or `--agent-config FILE` for `agents[].config`): JSON or YAML;
///  2. the schema's top-level `examples[0]` (an annotation the host's schema subset accepts);
///  3. an object of each property's `examples[0]`, `default`, `const` or first `enum` value,
///     used if it satisfies the schema (so a schema whose required properties all have
///     one of those needs nothing else);
///  4. `{}` for a plugin with no schema.
/// Otherwise there is no example and the cases that need an instance are skipped, saying so.
/// The host's schema `default`s are applied to the example, as before a real create().
/// Pure functions; any thread.
enum ExampleConfig {
    struct Example { var json: String; var source: String }

    static func example(schemaText: String?, given: String?, what: String) -> Result<Example, ExampleConfigMissing> {
        if let given { return .success(Example(json: given, source: "--\(what == "config" ? "config" : "agent-config") file")) }
        guard let schemaText else { return .success(Example(json: "{}", source: "no \(what)_schema: {}")) }
        guard let schema = try? JSONSchema(json: schemaText) else {
            return .failure(ExampleConfigMissing(message: "its \(what)_schema is not a JSON object"))
        }
        if let first = schema.root["examples"]?.arrayValue?.first, case .object = first {
            return .success(Example(json: schema.applyingDefaults(first).text, source: "\(what)_schema examples[0]"))
        }
        var props: [(String, JSONValue)] = []
        for (name, p) in schema.root["properties"]?.objectValue ?? [] {
            if let v = p["examples"]?.arrayValue?.first ?? p["default"] ?? p["const"] ?? p["enum"]?.arrayValue?.first {
                props.append((name, v))
            }
        }
        let built = JSONValue.object(props)
        let problems = schema.validate(built)
        guard problems.isEmpty else {
            let list = problems.prefix(4).map { "\($0.path.isEmpty ? "config" : $0.path): \($0.message)" }.joined(separator: "; ")
            return .failure(ExampleConfigMissing(message: "its \(what)_schema gives no example (\(list)): add \"examples\":[{...}] to the schema, or pass --\(what == "config" ? "config" : "agent-config") FILE"))
        }
        return .success(Example(json: schema.applyingDefaults(built).text, source: props.isEmpty ? "\(what)_schema: {}" : "\(what)_schema examples/defaults"))
    }

    /// Config blocks the schema refuses, each with one property of the wrong type (or,
    /// with required properties, `{}`); for a plugin without a schema, blocks it has no
    /// reason to know. At most `limit`.
    static func invalid(schemaText: String?, example: String, limit: Int = 6) -> [String] {
        guard let schemaText, let schema = try? JSONSchema(json: schemaText),
              let base = (try? JSONValue.parse(example))?.objectValue else {
            return [#"{"plugin_check_unknown_option":true}"#, #"{"plugin_check":["not","a","config"]}"#]
        }
        var out: [String] = []
        var unknown = base
        unknown.append(("plugin_check_unknown_option", .bool(true)))
        if !schema.validate(.object(unknown)).isEmpty { out.append(JSONValue.object(unknown).text) }
        if !(schema.root["required"]?.arrayValue ?? []).isEmpty, !schema.validate(.object([])).isEmpty { out.append("{}") }
        for (name, p) in schema.root["properties"]?.objectValue ?? [] {
            let type = p["type"]?.stringValue ?? p["type"]?.arrayValue?.first?.stringValue
            let wrong: JSONValue
            switch type {
            case "string": wrong = .number(12345)
            case "integer", "number": wrong = .string("not a number")
            case "boolean": wrong = .string("yes please")
            case "object", "array": wrong = .string("not a \(type!)")
            default: continue
            }
            var obj = base.filter { $0.0 != name }
            obj.append((name, wrong))
            let candidate = JSONValue.object(obj)
            guard !schema.validate(candidate).isEmpty else { continue }
            out.append(candidate.text)
            if out.count >= limit { break }
        }
        return out
    }
}

struct ExampleConfigMissing: Error, Sendable { var message: String }

/// Reads `--config FILE`: a JSON object, or YAML (converted to JSON).
public enum PluginCheckConfigFile {
    public static func read(_ path: String) throws -> String {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        if let v = try? JSONValue.parse(text) {
            guard case .object = v else { throw PluginLoadError(message: "\(path): the config must be a JSON object") }
            return v.text
        }
        let yaml = try YAMLToJSON.convert(text)
        guard case .object = yaml else { throw PluginLoadError(message: "\(path): the config must be a mapping") }
        return yaml.text
    }
}

/// A YAML document as JSON (through Foundation's JSON writer).
enum YAMLToJSON {
    static func convert(_ text: String) throws -> JSONValue {
        guard let any = try Yams.load(yaml: text), JSONSerialization.isValidJSONObject(any) else {
            throw PluginLoadError(message: "not a YAML mapping")
        }
        let data = try JSONSerialization.data(withJSONObject: any)
        return try JSONValue.parse(String(decoding: data, as: UTF8.self))
    }
}
