extension Store {
    /// Default for stores without group commit: two writes (start, then end of the turn) on
    /// the caller's thread, then the completion.
    public func writeAnsweredTurn(_ t: TurnStart, finish: @escaping @Sendable () -> TurnFinish,
                                  completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(Result {
            let r = try beginTurn(t)
            var f = finish()
            f.sessionId = r.0.id
            f.inboundMessageId = r.messageId
            try finishTurn(f)
        })
    }
}
