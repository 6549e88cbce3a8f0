import Foundation

/// The admin API's OpenAPI 3.1 document: Sources/Host/Admin/openapi.json, a resource of
/// this module (kept in the repository; the fuzz test checks the server against it).
enum AdminOpenAPI {
    static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url) else {
            return #"{"openapi":"3.1.0","info":{"title":"DarkSpere admin API","version":"unavailable","description":"openapi.json was not installed next to the binary (DarkSpere_Host.resources)"},"paths":{}}"#
        }
        return String(decoding: data, as: UTF8.self)
    }()
}
