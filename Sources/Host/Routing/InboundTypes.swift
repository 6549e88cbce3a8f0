/// A message a channel submitted, copied out of ds_inbound_message.
public struct Inbound: Sendable {
    public var channel: String
    public var channelMessageId: String
    public var from: String
    public var to: String
    public var text: String
    public var media: [(url: String, contentType: String)]
    public var metadata: String
    public init(channel: String, channelMessageId: String, from: String, to: String, text: String,
                media: [(url: String, contentType: String)] = [], metadata: String = "") {
        self.channel = channel; self.channelMessageId = channelMessageId; self.from = from; self.to = to
        self.text = text; self.media = media; self.metadata = metadata
    }
}

/// What the router answers for a submitted message (mirrors ds_submit_callback).
public enum SubmitOutcome: Sendable, Equatable {
    /// Reply now with this text ("" = nothing to send).
    case reply(String)
    /// Reply now with this text and these attachments (`MediaJSON` text; ABI 1.2: the
    /// submit callback's data `{"media": […]}`).
    case replyWithMedia(String, mediaJSON: String)
    /// Stored; the reply goes out later through the channel's send.
    case deferred
    /// Refused: a DS_ERR_* status and why.
    case rejected(Int32, String)
}

/// Receives what channels submit. The Gateway's router implements it.
/// Thread safety: called from any thread, concurrently.
public protocol InboundRouter: AnyObject, Sendable {
    /// Handles one inbound message; calls `completion` exactly once, from any thread.
    func submit(_ message: Inbound, completion: @escaping @Sendable (SubmitOutcome) -> Void)
    /// A channel's delivery report. Returns false if no such message is known.
    func reportStatus(channel: String, providerMessageId: String, status: String, errorCode: Int32) -> Bool
}
