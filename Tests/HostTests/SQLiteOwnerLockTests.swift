import Foundation
import Testing
@testable import Host

/// SQLite serves one gateway process per file: a second gateway on the same file refused to
/// start with nothing, and ran beside the first (two in-process conversation locks and
/// history caches over one database).
@Suite struct SQLiteOwnerLockTests {
    @Test func aSecondExclusiveOpenIsRefusedUntilTheFirstCloses() throws {
        let path = TestSupport.tempDir() + "/ds.sqlite"
        let first = try SQLStore(sqlitePath: path, exclusive: true)
        #expect(throws: StoreError.self) { _ = try SQLStore(sqlitePath: path, exclusive: true) }
        do {
            _ = try SQLStore(sqlitePath: path, exclusive: true)
        } catch {
            #expect("\(error)".contains("another gateway process (pid \(getpid()))"), "\(error)")
        }
        // Commands that read or maintain the store (usage, backups) open it beside the gateway.
        let reader = try SQLStore(sqlitePath: path)
        #expect(reader.ping())
        reader.close()
        first.close()
        let next = try SQLStore(sqlitePath: path, exclusive: true)
        next.close()
    }

    @Test func aSecondGatewayOnTheSameFileDoesNotStart() async throws {
        let dir = TestSupport.tempDir()
        let yaml = TestSupport.yaml(plugins: HTTPServerTests.plugins, agents: HTTPServerTests.agents, store: "sqlite:\(dir)/ds.sqlite")
        let a = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        _ = try await a.start()
        let b = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        do {
            _ = try await b.start()
            Issue.record("the second gateway started")
            await b.stop()
        } catch {
            #expect("\(error)".contains("another gateway process"), "\(error)")
        }
        await a.stop()
        // Once the first has stopped, its successor starts on the file.
        let c = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        _ = try await c.start()
        await c.stop()
    }
}
