import Foundation
import Synchronization
import Testing
import TestPeers
@testable import Host

/// Two processes on one PostgreSQL database take the same usage counters in different orders
/// (one batch admits a message, the other counts a reply first), and PostgreSQL aborts one of
/// them to break the deadlock. That message was lost with a store error (found by
/// BillingTests' two-process run); the group committer now runs the aborted unit again.
@Suite(.serialized) struct PostgresDeadlockTests {
    /// A unit of the store's writer and another connection lock two rows in opposite
    /// orders: a real deadlock, detected by the server after `deadlock_timeout` (1 s) on the
    /// writer's side (the other connection waits 60 s before it would look). The unit must
    /// still succeed, and both writes must be in the table.
    @Test func aUnitAbortedByADeadlockRunsAgain() async throws {
        let pg = try #require(TestPostgres.shared, "PostgreSQL 15 not installed: run scripts/test-deps.sh")
        let url = try pg.newDatabase()
        let store = try SQLStore(postgresURL: url, lockConnections: 1)
        defer { store.close() }
        let other = try PostgresConnection(url: url)
        try other.execute("CREATE TABLE deadlock_rows (id INT PRIMARY KEY, n INT NOT NULL)")
        try other.execute("INSERT INTO deadlock_rows VALUES (1, 0), (2, 0)")
        try other.execute("SET deadlock_timeout = '60s'")
        try other.execute("BEGIN")
        try other.execute("UPDATE deadlock_rows SET n = n + 10 WHERE id = 1")     // holds row 1

        let runs = Mutex(0)
        let unit = Task.detached { () -> Result<Int, any Error> in
            Result {
                try store.writer.write { c in
                    runs.withLock { $0 += 1 }
                    try c.execute("UPDATE deadlock_rows SET n = n + 1 WHERE id = 2")   // holds row 2
                    try c.execute("UPDATE deadlock_rows SET n = n + 1 WHERE id = 1")   // waits for `other`
                    return 1
                }
            }
        }
        // Once the unit waits for row 1, take row 2: a cycle. The server aborts the unit's
        // statement (its side looks first); `other` then gets row 2 and commits.
        let waiting = try await TestPeers.eventually(30) {
            try other.one("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'", [])?[0].int == 1
        }
        #expect(waiting, "the unit never waited for the row lock")
        try other.execute("UPDATE deadlock_rows SET n = n + 10 WHERE id = 2")
        try other.execute("COMMIT")

        let result = await unit.value
        #expect((try? result.get()) == 1, "the unit failed: \(result)")
        #expect(runs.withLock { $0 } >= 2, "the unit ran once: no deadlock happened, the test proves nothing")
        let rows = try other.query("SELECT id, n FROM deadlock_rows ORDER BY id", []).map { [$0[0].int ?? -1, $0[1].int ?? -1] }
        #expect(rows == [[1, 11], [2, 11]], "both writes of both transactions are there: \(rows)")
    }
}
