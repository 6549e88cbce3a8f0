import Foundation

/// A small JSON Schema validator for plugin config blocks: type, properties, required,
/// additionalProperties, enum, minimum, maximum, minLength, maxLength, pattern, items.
/// Enough to tell an operator which field is wrong and why.
public struct JSONSchema: Sendable {
    let root: JSONValue

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
        if let n = v.doubleValue {
            if let min = s["minimum"]?.doubleValue, n < min { out.append(Violation(path: here, message: "must be at least \(JSONValue.number(min).text), got \(v.text)")) }
            if let max = s["maximum"]?.doubleValue, n > max { out.append(Violation(path: here, message: "must be at most \(JSONValue.number(max).text), got \(v.text)")) }
        }
        if let str = v.stringValue {
            if let min = s["minLength"]?.intValue, str.count < min { out.append(Violation(path: here, message: "must be at least \(min) characters")) }
            if let max = s["maxLength"]?.intValue, str.count > max { out.append(Violation(path: here, message: "must be at most \(max) characters")) }
            if let pattern = s["pattern"]?.stringValue, str.range(of: pattern, options: .regularExpression) == nil {
                out.append(Violation(path: here, message: "does not match the pattern \(pattern)"))
            }
        }
        if let arr = v.arrayValue, let items = s["items"] {
            for (i, item) in arr.enumerated() { check(item, items, "\(path)[\(i)]", &out) }
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
}
