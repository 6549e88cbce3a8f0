import Foundation
import Testing
@testable import Host

/// The OpenAPI document against the server: a bounded schemathesis run (PyPI, installed by
/// scripts/test-deps.sh) over every operation but the endless event stream must find no
/// 5xx, no undocumented status or content type and no response that violates the schema.
@Suite(.serialized) struct AdminOpenAPITests {
    @Test func schemathesisFindsNoViolation() async throws {
        let (found, _) = sh("command -v schemathesis")
        #expect(found == 0, "schemathesis is not installed: run scripts/test-deps.sh")
        guard found == 0 else { return }
        let g = try await AdminEnv.gateway("admin-fuzz")
        let port = try #require(g.gateway.adminPort)
        // Something to list: sessions, transcripts, an opt-out.
        for i in 0..<3 { _ = await g.reply(from: "+1555700000\(i)", id: "f\(i)", text: "hello \(i)") }
        _ = await g.reply(from: "+15557000009", id: "f9", text: "STOP")
        let doc = TestEnv.repoRoot + "/Sources/Host/Admin/openapi.json"
        let (status, out) = sh("""
            cd \(g.dir) && schemathesis run \(doc) --url http://127.0.0.1:\(port) \
              -H 'Authorization: Bearer \(AdminEnv.operatorToken)' \
              --exclude-path /api/v1/events \
              --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
              --phases examples,coverage,fuzzing --max-examples 40 --max-time 90 --workers 1 \
              --suppress-health-check all --seed 1 --no-color 2>&1
            """)
        #expect(status == 0, "schemathesis found problems:\n\(out.suffix(6000))")
        // The run did exercise the API (not an empty run against a wrong URL).
        #expect(out.contains("Tested: 23"), "\(out.suffix(2000))")
        await g.stop()
    }
}
