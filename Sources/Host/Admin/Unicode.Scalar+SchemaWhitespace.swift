extension Unicode.Scalar {
    /// Whitespace as the OpenAPI document's `\s` and `\S` mean it to any of its readers: the
    /// union of ECMA-262's `\s` (JSON Schema's regex dialect, which adds U+FEFF), Python's
    /// `str.isspace` (what schemathesis and most Python clients use, which adds U+001C–U+001F)
    /// and Unicode's White_Space property (Swift's and Foundation's, which adds U+0085).
    /// A value the server accepts must match the document under every one of them, so the
    /// server rejects what any of them calls whitespace.
    var isSchemaWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x180E, 0xFEFF: return true
        default: return properties.isWhitespace
        }
    }
}

extension String {
    /// True when the text has no character but whitespace (`Unicode.Scalar.isSchemaWhitespace`):
    /// it fails the document's `"pattern": "\\S"`.
    var isSchemaBlank: Bool { unicodeScalars.allSatisfy(\.isSchemaWhitespace) }
}
