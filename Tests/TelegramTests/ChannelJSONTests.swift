import ChannelSupport
import Foundation
import Testing

/// The channels' hand-written JSON reader and writer (ChannelSupport), with odd inputs:
/// escapes, unicode, big ids, malformed text; and the same answers as JSONSerialization.
@Suite struct ChannelJSONTests {
    func parse(_ s: String) throws -> JSON { try JSON.parse(s) }
    func fails(_ bytes: [UInt8]) -> JSON.ParseError? {
        do { _ = try JSON.parse(bytes); return nil } catch let e as JSON.ParseError { return e } catch { return nil }
    }

    @Test func valuesObjectsAndArrays() throws {
        let v = try parse(#" {"a": [1, -2, 3.5, true, false, null, "x"], "b": {"c": {}}, "d": [], "a": "last"} "#)
        #expect(v["a"] == .string("last"))   // a duplicate key: the last one wins
        #expect(v.members?.first?.value == .array([.integer(1), .integer(-2), .number(3.5), .bool(true), .bool(false), .null, .string("x")]))
        #expect(v["b"]?["c"] == .object([]) && v["d"] == .array([]) && v["missing"] == nil && v["b"]?["c"]?["x"] == nil)
        #expect(try parse("\u{FEFF}{}") == .object([]))   // a UTF-8 byte order mark
        #expect(try parse("\t\r\n 42 \n") == .integer(42))
        #expect(try parse(#""top""#) == .string("top"))
    }

    @Test func stringEscapesAndUnicode() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try parse(#""caf\u00e9 \u00C9 \u4e2d""#) == .string("café É 中"))
        #expect(try parse(#""\ud83d\ude00 and 😀""#) == .string("😀 and 😀"))
        // Lone surrogates read as U+FFFD; what follows stands alone.
        #expect(try parse(#""\ud800x""#) == .string("\u{FFFD}x"))
        #expect(try parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try parse(#""\udc00""#) == .string("\u{FFFD}"))
        #expect(try parse(#""\u0000""#) == .string("\u{0}"))
        #expect(try parse("\"mañana 👩‍👩‍👧 עברית\"") == .string("mañana 👩‍👩‍👧 עברית"))
        let long = String(repeating: "ab\\n", count: 5000)
        #expect(try parse("\"\(long)\"").string?.utf8.count == 15000)
    }

    @Test func bigIdsStayExact() throws {
        #expect(try parse("9223372036854775807").int64 == Int64.max)
        #expect(try parse("-9223372036854775808").int64 == Int64.min)
        #expect(try parse("-1001234567890123") == .integer(-1_001_234_567_890_123))
        #expect(try parse("9223372036854775808") == .number(9_223_372_036_854_775_808))   // beyond Int64: a Double
        #expect(try parse("9223372036854775808").int64 == nil)
        #expect(try parse("99999999999999999999999").int64 == nil)
        #expect(try parse("5.0").int64 == 5)
        #expect(try parse("1e3").int64 == 1000)
        #expect(try parse("5.5").int64 == nil)
        #expect(try parse("-0") == .integer(0))
        #expect(try parse("0.25e-2") == .number(0.0025))
        #expect(try parse("true").int64 == nil)
        #expect(try parse(#""7""#).int64 == nil)
    }

    @Test func malformedTextIsRefusedWithItsOffset() {
        let bad = ["", " ", "{", "}", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "[1 2]", "1 2", "01", "-01", "1.", ".5", "+1", "-",
                   "1e", "1e+", "tru", "nul", "falsy", "NaN", "Infinity", "1e999", "-1e999", #""\x""#, #""\u12""#, #""\u12G4""#,
                   #""abc"#, "\"a\nb\"", "\"a\u{1}b\"", "'single'", "[", "[[[]]", #"{"a":}"#, "\u{0}"]
        for text in bad {
            #expect(fails(Array(text.utf8)) != nil, "\(text.debugDescription)")
        }
        #expect(fails(Array("[1,]".utf8))?.offset == 3)
        #expect(fails(Array(#"{"k": "\x"}"#.utf8))?.offset == 7)
        // Invalid UTF-8 inside a string, with and without escapes; a truncated sequence.
        #expect(fails([0x22, 0xFF, 0x22]) != nil && fails([0x22, 0x5C, 0x6E, 0xC3, 0x22]) != nil && fails([0x22, 0xE2, 0x82]) != nil)
        // The error never echoes the text (it may carry secrets).
        #expect(!"\(fails(Array(#"{"secret": "hunter2" x}"#.utf8))!)".contains("hunter2"))
    }

    @Test func nestingIsBounded() throws {
        let ok = String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)
        #expect((try? parse(ok)) != nil)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(fails(Array(deep.utf8))?.reason.contains("nested") == true)
        let deepObjects = String(repeating: #"{"a":"#, count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        #expect(fails(Array(deepObjects.utf8)) != nil)
    }

    @Test func writerEscapesAndRoundTrips() throws {
        #expect(JSONWriter.quoted("a\"b\\c\n\r\t\u{8}\u{C}\u{1}\u{1F}/é😀") == #""a\"b\\c\n\r\t\b\f\u0001\u001f/é😀""#)
        var w = JSONWriter()
        w.beginObject()
        w.field("s", "x")
        w.field("i", Int64.min)
        w.field("b", false)
        w.key("a"); w.beginArray(); w.int(1); w.null(); w.beginObject(); w.endObject(); w.number(0.5); w.number(.nan); w.number(1000); w.endArray()
        w.key("e"); w.beginArray(); w.endArray()
        w.endObject()
        #expect(w.text == #"{"s":"x","i":-9223372036854775808,"b":false,"a":[1,null,{},0.5,null,1000.0],"e":[]}"#)
        let samples = [#"{"a":[1,-2,3.5,true,null,"\u0000\"\\"],"b":{"c":{}},"a":"dup"}"#, #"["😀","\ud83d\ude00",-0,1e300,123456789012345678,5.0,1e3,-0.0,2.5e-7]"#,
                       #""control \u001f chars \t""#, "[]", "{}"]
        for s in samples {
            let v = try parse(s)
            var out = JSONWriter()
            out.value(v)
            #expect(try JSON.parse(out.bytes) == v, "\(s)")
            // Foundation reads what the writer wrote.
            #expect((try? JSONSerialization.jsonObject(with: Data(out.bytes), options: [.fragmentsAllowed])) != nil, "\(s)")
        }
    }

    @Test func agreesWithJSONSerializationOnRealBodies() throws {
        let bodies: [[String: Any]] = [
            ["update_id": 900_000_000_001, "message": ["message_id": 1, "text": "héllo \"world\"\n😀", "chat": ["id": -1_001_234_567_890, "type": "supergroup"]]],
            ["text": "  spaces and\ttabs  ", "id": "b1f", "extra": [1, 2.5, NSNull(), false]],
        ]
        for b in bodies {
            let data = try JSONSerialization.data(withJSONObject: b)
            let v = try JSON.parse(Array(data))
            #expect(v.isObject)
            for (k, x) in b {
                switch x {
                case let s as String: #expect(v[k]?.string == s)
                case let d as [String: Any]: #expect(v[k]?.isObject == true && v[k]?.members?.count == d.count)
                default: #expect(v[k] != nil)
                }
            }
        }
        #expect(try JSON.parse(Array(try JSONSerialization.data(withJSONObject: bodies[0])))["message"]?["chat"]?["id"]?.int64 == -1_001_234_567_890)
    }

    @Test func trimmingMatchesFoundation() {
        for s in ["", " ", "  a b  ", "\n\t x \r\n", "\u{00A0}nbsp\u{3000}", "\u{2028}sep\u{2029}", "x", "😀 ", " é", "\u{85}a\u{85}", "a\u{200B}"] {
            #expect(Whitespace.trimmed(s) == s.trimmingCharacters(in: .whitespacesAndNewlines), "\(s.debugDescription)")
        }
    }
}
