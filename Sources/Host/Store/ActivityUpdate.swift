/// A statement that updates a session with its last activity (`last_ms = ?, ` as the first
/// parameter of the session's part), and the same statement without it, for a turn whose
/// `recordsActivity` is false (`ConversationRouter.activityGranularityMs`). Made once, as a
/// static of `SQLStore`; a value, thread-safe.
struct ActivityUpdate: Sendable {
    let recording: String
    let quiet: String

    init(_ sql: String) {
        let quiet = sql.replacingOccurrences(of: "UPDATE sessions SET last_ms = ?, ", with: "UPDATE sessions SET ")
        precondition(quiet != sql, "no session activity to leave out in: \(sql.prefix(80))")
        recording = sql
        self.quiet = quiet
    }

    /// The statement for a turn, and the session part's parameters: `nowMs` ahead of
    /// `session` when the turn records its activity.
    func callAsFunction(_ records: Bool, nowMs: Int64, _ session: [SQLValue]) -> (sql: String, params: [SQLValue]) {
        records ? (recording, [.int(nowMs)] + session) : (quiet, session)
    }
}
