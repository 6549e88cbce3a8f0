import Testing
@testable import Host

@Suite struct JSONTests {
    @Test func parsesAndSerialisesExactly() throws {
        let text = #"{"a":[1,2.5,true,false,null],"b":"x\"\n\u00e9\ud83d\ude00"}"#
        let v = try JSONValue.parse(text)
        #expect(v["a"] == .array([.number(1), .number(2.5), .bool(true), .bool(false), .null]))
        #expect(v["b"] == .string("x\"\né😀"))
        #expect(try JSONValue.parse(v.text) == v)
    }

    @Test func rejectsGarbage() {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(#"{"a":1,}"#) }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("[1 2]") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(#"{"a":1} x"#) }
    }

    /// Found while fuzzing the JSON path (inputs kept in fuzz/json/corpus/regression-*).
    @Test func unpairedSurrogatesBecomeReplacementCharacters() throws {
        // A high surrogate followed by an escape that is not a low surrogate used to trap
        // (UInt32 overflow) in the parser: a crash from any admin API or config body.
        #expect(try JSONValue.parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try JSONValue.parse(#""\ud800\ud800\udc00""#) == .string("\u{FFFD}\u{10000}"))
        #expect(try JSONValue.parse(#""\udbff\udfff""#) == .string("\u{10FFFF}"))
        #expect(try JSONValue.parse(#""\ud800""#) == .string("\u{FFFD}"))
        #expect(try JSONValue.parse(#""\udc00x""#) == .string("\u{FFFD}x"))
    }

    @Test func numbersTooLargeForADoubleAreRefused() throws {
        // 1e999 read as infinity, which `text` wrote as "inf": not JSON.
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse("1e999") }
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(#"{"a":-1e400}"#) }
        #expect(try JSONValue.parse("1e308") == .number(1e308))
    }

    @Test func schemaViolationsNameTheField() throws {
        let s = try JSONSchema(json: #"""
            {"type":"object","required":["token"],"additionalProperties":false,
             "properties":{"token":{"type":"string","minLength":3},"port":{"type":"integer","minimum":1,"maximum":65535},
                           "mode":{"enum":["a","b"]},"urls":{"type":"array","items":{"type":"string","pattern":"^https?://"}},
                           "flag":{"type":"boolean"}}}
            """#)
        #expect(s.validate(json: #"{"token":"abcd","port":80,"mode":"a","urls":["http://x"],"flag":true}"#).isEmpty)
        let v = s.validate(json: #"{"port":0,"mode":"c","urls":["ftp://x"],"flag":1,"extra":1}"#)
        #expect(v.contains(.init(path: "token", message: "required field is missing")))
        #expect(v.contains(.init(path: "port", message: "must be at least 1, got 0")))
        #expect(v.contains { $0.path == "mode" && $0.message.hasPrefix("must be one of") })
        #expect(v.contains { $0.path == "urls[0]" && $0.message.hasPrefix("does not match") })
        #expect(v.contains(.init(path: "flag", message: "expected boolean, found integer")))
        #expect(v.contains { $0.path == "extra" && $0.message.hasPrefix("unknown field") })
    }
}
