import ArgumentParser
import Foundation
import Host

/// Where the CLI's admin commands find the admin API and which token they send:
/// `--admin-url` or the config's `admin.listen`; `DARKSPERE_ADMIN_TOKEN` or the config's
/// first operator token (then the first token).
struct AdminOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file (for admin.listen and admin.tokens).")
    var config: String = "plugins.yaml"

    @Option(help: "The admin API's base URL (default: from admin.listen in the config, else http://127.0.0.1:8081).")
    var adminURL: String?

    @Flag(help: "Print the API's JSON instead of a table.")
    var json = false

    func client() throws -> AdminAPIClient {
        let env = ProcessInfo.processInfo.environment
        var base = adminURL
        var token = env["DARKSPERE_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if base == nil || token == nil, FileManager.default.fileExists(atPath: config) {
            let cfg = try ConfigLoader().load(path: config)
            if let a = cfg.admin {
                let host = a.host == "0.0.0.0" || a.host == "::" ? "127.0.0.1" : (a.host.contains(":") ? "[\(a.host)]" : a.host)
                if base == nil { base = "http://\(host):\(a.port)" }
                if token == nil { token = (a.tokens.first { $0.role == .operator } ?? a.tokens.first)?.token }
            }
        }
        guard let token else {
            throw ValidationError("no admin token: set DARKSPERE_ADMIN_TOKEN, or admin.tokens in \(config)")
        }
        var url = base ?? "http://127.0.0.1:8081"
        while url.hasSuffix("/") { url.removeLast() }
        return AdminAPIClient(base: url, token: token, json: json)
    }
}

/// A failed admin call: the API's error message, or why it could not be reached.
struct AdminCallError: Error, CustomStringConvertible {
    var description: String
}

/// Calls the admin API with a bearer token; prints tables or JSON.
struct AdminAPIClient {
    let base: String
    let token: String
    let json: Bool
    static let http = HTTPClient()

    /// Percent-encodes a path segment or query value (`+` included).
    static func enc(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    func call(_ method: String, _ path: String, body: JSONValue? = nil, headers extra: [(String, String)] = []) async throws -> JSONValue {
        var headers = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")] + extra
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let r: ClientResponse
        do {
            r = try await Self.http.send(method: method, url: base + path, headers: headers, body: Array((body?.text ?? "").utf8), timeoutMs: 15_000)
        } catch {
            throw AdminCallError(description: "cannot reach the admin API at \(base): \(error) (is the gateway running with an admin: section?)")
        }
        let text = String(decoding: r.body, as: UTF8.self)
        let value = (try? JSONValue.parse(text)) ?? .null
        guard (200..<300).contains(r.status) else {
            let msg = value["error"]?["message"]?.stringValue ?? text
            throw AdminCallError(description: "\(r.status): \(msg)")
        }
        return value
    }

    /// Runs `body`, printing an API error as `darkspere <what>: <message>` with exit 1.
    static func run(_ what: String, _ body: () async throws -> Void) async throws {
        do { try await body() } catch let e as ValidationError { throw e } catch {
            FileHandle.standardError.write(Data("darkspere \(what): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Prints `value` as JSON (--json) or `rows` as an aligned table.
    func show(_ value: JSONValue, columns: [String], rows: [[String]]) {
        if json { return print(value.text) }
        guard !rows.isEmpty else { return print("(none)") }
        var widths = columns.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        print(line(columns.map { $0.uppercased() }))
        for r in rows { print(line(r)) }
    }

    /// Prints a one-line confirmation, or the JSON with --json.
    func done(_ value: JSONValue, _ message: String) { print(json ? value.text : message) }
}

extension JSONValue {
    /// A table cell: strings as is, numbers without ".0", null as "-".
    var cell: String {
        switch self {
        case .null: return "-"
        case .string(let s): return s
        default: return text
        }
    }
    func cell(_ key: String) -> String { self[key]?.cell ?? "-" }
}
