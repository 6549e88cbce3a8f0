extension Store {
    /// Default for stores without group commit: two writes (start, then end of the turn) on
    /// the caller's thread, then the completion.
    public func beginAndFinishTurn(_ t: TurnStart, finish: @escaping @Sendable (SessionRecord, Int64) -> TurnFinish,
                                   completion: @escaping @Sendable (Result<(SessionRecord, messageId: Int64), any Error>) -> Void) {
        completion(Result {
            let r = try beginTurn(t)
            try finishTurn(finish(r.0, r.messageId))
            return r
        })
    }
}
