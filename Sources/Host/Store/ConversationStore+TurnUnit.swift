extension ConversationStore {
    /// Without a turn lock (tests, tools).
    public func turnContext(channel: String, channelMessageId: String, remote: String, local: String, sinceMs: Int64,
                            historyDepth: (String) -> Int) throws -> TurnContext {
        try turnContext(channel: channel, channelMessageId: channelMessageId, remote: remote, local: local, sinceMs: sinceMs,
                        under: nil, historyDepth: historyDepth)
    }

    /// Default for stores without group commit: the write on the caller's thread, then the completion.
    public func finishTurn(_ t: TurnFinish, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        completion(Result { try finishTurn(t) })
    }

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
