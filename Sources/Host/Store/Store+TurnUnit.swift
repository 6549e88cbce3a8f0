extension Store {
    /// Default for stores without group commit: two writes (start, then end of the turn).
    public func beginAndFinishTurn(_ t: TurnStart, finish: @escaping @Sendable (SessionRecord, Int64) -> TurnFinish) throws -> (SessionRecord, messageId: Int64) {
        let r = try beginTurn(t)
        try finishTurn(finish(r.0, r.messageId))
        return r
    }
}
