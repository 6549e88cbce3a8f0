import Foundation

/// A small JSON Schema validator for plugin config blocks. The subset, exactly (the
/// header's `config_schema` comment is the reference): type (with "integer"), properties,
/// required, additionalProperties, items, minItems, maxItems, enum, const, minimum,
/// maximum, minLength, maxLength (characters), pattern (ICU regex, unanchored), oneOf,
/// anyOf, default; annotations (description, title, $schema, $comment, examples, writeOnly,
/// readOnly, deprecated) ignored.
/// Any other keyword is reported by `unknownKeywords`, so `check` catches a typo.
///
/// Immutable; safe to share between threads.
public struct JSONSchema: Sendable {
    let root: JSONValue

    /// Keywords this validator implements or deliberately ignores.
    static let keywords: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
        "enum", "const", "minimum", "maximum", "minLength", "maxLength", "pattern", "oneOf", "anyOf", "default",
        "description", "title", "$schema", "$comment", "examples", "writeOnly", "readOnly", "deprecated",
    ]

    /// Parses a schema; throws if it is not a JSON object.
    public init(json: String) throws {
        root = try JSONValue.parse(json)
        guard case .object = root else { throw JSONValue.ParseError(offset: 0, description: "config_schema is not a JSON object") }
    }

    /// A violation: the path inside the config ("config" for the block itself) and the reason.
    public struct Violation: Sendable, Equatable {
        public var path: String
        public var message: String
    }

    public func validate(json: String) -> [Violation] {
        guard let value = try? JSONValue.parse(json) else { return [Violation(path: "config", message: "not valid JSON")] }
        return validate(value)
    }

    public func validate(_ value: JSONValue) -> [Violation] {
        var out: [Violation] = []
        check(value, root, "", &out)
        return out
    }

    /// Keywords of the schema this validator does not know, with where they are
    /// ("properties.name.minLenght"), so a typo is reported instead of ignored.
    public var unknownKeywords: [String] {
        var out: [String] = []
        Self.scan(root, "", &out)
        return out
    }

    private static func scan(_ s: JSONValue, _ at: String, _ out: inout [String]) {
        guard let obj = s.objectValue else { return }
        func sub(_ key: String) -> String { at.isEmpty ? key : "\(at).\(key)" }
        for (k, v) in obj {
            if !keywords.contains(k) { out.append(sub(k)); continue }
            switch k {
            case "properties": for (name, ps) in v.objectValue ?? [] { scan(ps, sub("properties.\(name)"), &out) }
            case "items", "additionalProperties": scan(v, sub(k), &out)
            case "oneOf", "anyOf": for (i, ps) in (v.arrayValue ?? []).enumerated() { scan(ps, sub("\(k)[\(i)]"), &out) }
            default: break
            }
        }
    }

    /// `value` with the `default` of every absent property filled in (recursively, through
    /// properties of objects that are present or defaulted). Applied before create().
    public func applyingDefaults(_ value: JSONValue) -> JSONValue { Self.fill(value, root) }

    /// `applyingDefaults` on JSON text; the text unchanged if it is not a JSON object.
    public func applyingDefaults(json: String) -> String {
        guard let v = try? JSONValue.parse(json), case .object = v else { return json }
        return applyingDefaults(v).text
    }

    private static func fill(_ v: JSONValue, _ s: JSONValue) -> JSONValue {
        guard case .object(var obj) = v, let props = s["properties"]?.objectValue else { return v }
        for (name, ps) in props {
            if let i = obj.firstIndex(where: { $0.0 == name }) {
                obj[i].1 = fill(obj[i].1, ps)
            } else if let d = ps["default"] {
                obj.append((name, fill(d, ps)))
            }
        }
        return .object(obj)
    }

    private func check(_ v: JSONValue, _ s: JSONValue, _ path: String, _ out: inout [Violation]) {
        let here = path.isEmpty ? "config" : path
        if let t = s["type"] {
            let types = t.arrayValue?.compactMap(\.stringValue) ?? [t.stringValue ?? ""]
            let actual = v.typeName
            if !(types.contains(actual) || (actual == "integer" && types.contains("number"))) {
                out.append(Violation(path: here, message: "expected \(types.joined(separator: " or ")), found \(actual)"))
                return
            }
        }
        if let e = s["enum"]?.arrayValue, !e.contains(v) {
            out.append(Violation(path: here, message: "must be one of \(e.map(\.text).joined(separator: ", ")), got \(v.text)"))
        }
        if let c = s["const"], c != v {
            out.append(Violation(path: here, message: "must be \(c.text), got \(v.text)"))
        }
        if let n = v.doubleValue {
            if let min = s["minimum"]?.doubleValue, n < min { out.append(Violation(path: here, message: "must be at least \(JSONValue.number(min).text), got \(v.text)")) }
            if let max = s["maximum"]?.doubleValue, n > max { out.append(Violation(path: here, message: "must be at most \(JSONValue.number(max).text), got \(v.text)")) }
        }
        if let str = v.stringValue {
            if let min = s["minLength"]?.intValue, str.count < min { out.append(Violation(path: here, message: "must be at least \(Self.characters(min))")) }
            if let max = s["maxLength"]?.intValue, str.count > max { out.append(Violation(path: here, message: "must be at most \(Self.characters(max))")) }
            if let pattern = s["pattern"]?.stringValue, str.range(of: pattern, options: .regularExpression) == nil {
                out.append(Violation(path: here, message: "does not match the pattern \(pattern)"))
            }
        }
        if let arr = v.arrayValue {
            if let min = s["minItems"]?.intValue, arr.count < min { out.append(Violation(path: here, message: "must have at least \(min) item\(min == 1 ? "" : "s")")) }
            if let max = s["maxItems"]?.intValue, arr.count > max { out.append(Violation(path: here, message: "must have at most \(max) item\(max == 1 ? "" : "s")")) }
            if let items = s["items"] {
                for (i, item) in arr.enumerated() { check(item, items, "\(path)[\(i)]", &out) }
            }
        }
        if let alternatives = s["oneOf"]?.arrayValue {
            let matching = alternatives.filter { alt in var o: [Violation] = []; check(v, alt, path, &o); return o.isEmpty }.count
            if matching != 1 {
                out.append(Violation(path: here, message: matching == 0 ? "matches none of the \(alternatives.count) allowed forms (oneOf)"
                                                                       : "matches \(matching) of the allowed forms, but must match exactly one (oneOf)"))
            }
        }
        if let alternatives = s["anyOf"]?.arrayValue {
            let any = alternatives.contains { alt in var o: [Violation] = []; check(v, alt, path, &o); return o.isEmpty }
            if !any { out.append(Violation(path: here, message: "matches none of the \(alternatives.count) allowed forms (anyOf)")) }
        }
        if let obj = v.objectValue {
            let props = s["properties"]?.objectValue ?? []
            for r in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !obj.contains(where: { $0.0 == r }) {
                out.append(Violation(path: path.isEmpty ? r : "\(path).\(r)", message: "required field is missing"))
            }
            for (key, value) in obj {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let ps = props.first(where: { $0.0 == key })?.1 {
                    check(value, ps, child, &out)
                } else if let add = s["additionalProperties"] {
                    if add == .bool(false) {
                        let known = props.map(\.0)
                        out.append(Violation(path: child, message: "unknown field" + (known.isEmpty ? "" : " (allowed: \(known.joined(separator: ", ")))")))
                    } else if case .object = add {
                        check(value, add, child, &out)
                    }
                }
            }
        }
    }

    static func characters(_ n: Int) -> String { n == 1 ? "1 character" : "\(n) characters" }
}
