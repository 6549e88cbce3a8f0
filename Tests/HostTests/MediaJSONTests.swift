import Testing
@testable import Host

/// The attachment list an operator or agent gives (`media: [{"url", "content_type"}]`):
/// lengths are the OpenAPI document's maxLength, which counts code points.
@Suite struct MediaJSONTests {
    @Test func lengthsCountCodePointsNotCharacters() throws {
        func media(url: String, type: String = "image/png") throws -> [MediaJSON.Item] {
            try MediaJSON.items(.array([.object([("url", .string(url)), ("content_type", .string(type))])]))
        }
        let base = "https://example.com/"
        #expect(try media(url: base + String(repeating: "a", count: 2048 - base.count)).count == 1)
        // 2,049 code points, but only a few characters (combining marks join the "e").
        #expect(throws: MediaError.self) { try media(url: base + "e" + String(repeating: "\u{301}", count: 2048 - base.count)) }
        #expect(try media(url: base, type: String(repeating: "t", count: 255)).count == 1)
        #expect(throws: MediaError.self) { try media(url: base, type: "t" + String(repeating: "\u{301}", count: 255)) }
        #expect(throws: MediaError.self) { try media(url: "ftp://example.com/x") }
    }
}
