import Foundation

/// Splits a `text/event-stream` body into the `data` payloads of its events
/// (multi-line data joined with "\n"; comments, `id`, `event` and `retry` fields
/// skipped). Pure function; any thread.
enum SSEParser {
    static func dataPayloads(_ body: [UInt8]) -> [String] {
        let text = String(decoding: body, as: UTF8.self)
        var events: [String] = []
        var data: [String] = []
        func dispatch() {
            if !data.isEmpty { events.append(data.joined(separator: "\n")) }
            data.removeAll()
        }
        // Lines end with \r\n, \n or \r.
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = Substring(raw)
            if line.isEmpty { dispatch(); continue }
            if line.hasPrefix(":") { continue }
            let field: Substring, value: Substring
            if let colon = line.firstIndex(of: ":") {
                field = line[..<colon]
                var v = line[line.index(after: colon)...]
                if v.hasPrefix(" ") { v = v.dropFirst() }
                value = v
            } else {
                field = line; value = ""
            }
            if field == "data" { data.append(String(value)) }
        }
        dispatch()
        return events
    }
}
