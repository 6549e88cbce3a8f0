import Foundation

/// The operator console: the static files of Sources/Host/Admin/Console (plain HTML, CSS
/// and JavaScript; no build step, nothing fetched from elsewhere), a resource of this module,
/// served on the admin listener at `/`, `/console.css` and `/console.js` without a token.
/// The page holds no data: every API call it makes carries the operator's bearer token.
///
/// Ownership: read once, when the admin listener is made; immutable afterwards, so safe
/// from any thread.
struct AdminConsole: Sendable {
    struct File: Sendable {
        var contentType: String
        var body: [UInt8]
    }

    /// URL path → file.
    let files: [String: File]

    /// The files a console needs, by URL path and resource name.
    static let manifest: [(path: String, resource: String, type: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/console.css", "console.css", "text/css; charset=utf-8"),
        ("/console.js", "console.js", "text/javascript; charset=utf-8"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ]

    /// The installed console folder (DarkSpere_Host.resources/Console next to the binary).
    static var directory: URL? { Bundle.module.url(forResource: "Console", withExtension: nil) }

    /// Loads the files; a missing folder gives a page that says so instead of a console.
    static func load() -> AdminConsole {
        var files: [String: File] = [:]
        let dir = directory
        for m in manifest {
            if let dir, let data = try? Data(contentsOf: dir.appendingPathComponent(m.resource)) {
                files[m.path] = File(contentType: m.type, body: Array(data))
            }
        }
        if files["/"] == nil {
            files["/"] = File(contentType: "text/html; charset=utf-8", body: Array("""
                <!doctype html><meta charset="utf-8"><title>DarkSpere console</title>
                <p>The console's files were not installed next to the binary (DarkSpere_Host.resources/Console).
                The admin API works: see /api/v1/openapi.json.</p>
                """.utf8))
        }
        return AdminConsole(files: files)
    }

    /// Headers of every console file: the page may only load itself and talk to this listener.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cache-Control", "no-cache"),
    ]

    /// The file for a GET of `path`, if it is one of the console's.
    func file(_ path: String) -> File? { files[path == "/index.html" ? "/" : path] }
}
