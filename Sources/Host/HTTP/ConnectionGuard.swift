import NIOCore
import Synchronization
import Dispatch

/// Guards one connection at the byte level, first in its pipeline (before the HTTP decoder):
/// - closes it after `idleTimeout` without a request (keep-alive or never used);
/// - answers 408 and closes when a request's head and body have not all arrived within
///   `readTimeout` of its first byte (slow clients);
/// - answers 431 when a request head (request line included) grows past `maxHeadBytes`
///   (the decoder's own limits cover header names and values, not the URL);
/// - takes part in the listener's connection limit (`ConnectionRegistry`): refused with 503
///   when the listener is full of busy connections, closed when a newer one takes its place;
/// - after a refusal (413), shuts its output and drops what the client still sends, so the
///   answer is read instead of being lost to a reset.
///
/// The request handler tells it when a head arrives, when a request is complete and when
/// the answer is written. Ownership: one per channel, owned by the pipeline; the registry
/// holds it while the channel is open. Threading: everything runs on the channel's event
/// loop except `evictableSince` (an atomic, read by the registry from any thread) and
/// `evict()` (any thread).
/// Unchecked Sendable: a channel handler: its `var`s are touched only on its channel's event loop;
/// `evictableSince` is an atomic and `evict()` hops to the loop.
final class ConnectionGuard: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Limits: Sendable {
        var idleTimeout: TimeAmount
        var readTimeout: TimeAmount
        var maxHeadBytes: Int
    }

    private enum Phase { case idle, reading, handling, closing }

    let channel: any Channel
    private let limits: Limits
    private let registry: ConnectionRegistry
    private var phase = Phase.idle
    private var headSeen = false
    private var headBytes = 0
    /// Bytes of a next (pipelined) request arrived while one was being handled.
    private var pendingInput = false
    /// When the current phase times out, and what then happens; nil in phases without one.
    private var deadline: (due: NIODeadline, fire: (ConnectionGuard, ChannelHandlerContext) -> Void)?
    /// The one scheduled check, armed at most `granularity` ahead (see `schedule`).
    private var timer: Scheduled<Void>?
    private var armedFor = NIODeadline.uptimeNanoseconds(0)
    private var context: ChannelHandlerContext?
    private var admitted = false
    /// Monotonic nanoseconds since when no request of this connection is being handled
    /// (idle, or a request still arriving); 0 while one is handled. The registry evicts the
    /// smallest non-zero one first.
    let evictableSince = Atomic<UInt64>(0)

    init(channel: any Channel, limits: Limits, registry: ConnectionRegistry) {
        self.channel = channel
        self.limits = limits
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        guard registry.admit(self) else {
            phase = .closing
            answer(context, 503, "too many connections\n", extra: "Retry-After: 1\r\n")
            return
        }
        admitted = true
        enterIdle()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        deadline = nil
        phase = .closing
        if admitted { registry.remove(self) }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch phase {
        case .closing: return            // refused or answered: what still comes is dropped
        case .idle: beginReading()
        case .handling: pendingInput = true
        case .reading: break
        }
        if phase == .reading && !headSeen { headBytes += unwrapInboundIn(data).readableBytes }
        context.fireChannelRead(data)
        if phase == .reading && !headSeen && headBytes > limits.maxHeadBytes && context.channel.isActive {
            answer(context, 431, "request head exceeds \(limits.maxHeadBytes) bytes\n")
        }
    }

    // MARK: from the request handler (same event loop)

    /// A request head was decoded.
    func headReceived() {
        if phase == .idle { beginReading() }
        headSeen = true
    }

    /// The whole request is in (or it was refused early): no read deadline while it is handled.
    func requestComplete() {
        guard phase != .closing else { return }
        phase = .handling
        pendingInput = false
        evictableSince.store(0, ordering: .relaxed)
        deadline = nil
    }

    /// The answer was written; with keep-alive the connection waits for the next request.
    func responseSent(keepAlive: Bool) {
        guard phase != .closing else { return }
        guard keepAlive else { phase = .closing; deadline = nil; return }
        if pendingInput { pendingInput = false; beginReading() } else { enterIdle() }
    }

    /// Half-closes after a refusal: the client reads the answer, what it still sends is
    /// dropped, and the connection closes when it stops (or after 2 s).
    func lingerClose() {
        guard let context, context.channel.isActive else { return }
        phase = .closing
        context.close(mode: .output, promise: nil)
        schedule(.seconds(2)) { _, ctx in ctx.close(promise: nil) }
    }

    /// Closes the connection to make room for a new one. Any thread.
    func evict() { channel.close(promise: nil) }

    // MARK: phases

    private func beginReading() {
        phase = .reading
        headSeen = false
        headBytes = 0
        evictableSince.store(max(1, DispatchTime.now().uptimeNanoseconds), ordering: .relaxed)
        schedule(limits.readTimeout) { g, ctx in
            g.answer(ctx, 408, g.headSeen ? "request body not received in time\n" : "request head not received in time\n")
        }
    }

    private func enterIdle() {
        phase = .idle
        evictableSince.store(max(1, DispatchTime.now().uptimeNanoseconds), ordering: .relaxed)
        schedule(limits.idleTimeout) { g, ctx in
            g.phase = .closing
            ctx.close(promise: nil)
        }
    }

    /// Sets the phase's deadline. A keep-alive connection changes phase three times per
    /// request; scheduling and cancelling an event-loop task each time cost 3–4 % of a
    /// Twilio turn's CPU (NIO's cancel searches its task heap). Instead one check is armed,
    /// never further ahead than the shorter of the read and idle timeouts: a later deadline
    /// (every phase's but the linger's 2 s) is then always met by re-arming when the check
    /// finds it not yet due, and an earlier one re-arms at once.
    private func schedule(_ after: TimeAmount, _ fire: @escaping (ConnectionGuard, ChannelHandlerContext) -> Void) {
        let now = channel.eventLoop.now   // the loop's clock (an embedded loop's is its own)
        let due = now + after
        deadline = (due, fire)
        if timer != nil && armedFor <= due { return }
        timer?.cancel()
        arm(at: min(due, now + granularity))
    }

    /// How far ahead the check is armed: any deadline is met (a check that finds it not yet
    /// due re-arms); this only sets how rarely an idle connection's check re-arms. At least
    /// 100 ms, so that a zero timeout does not make the check re-arm in a loop.
    private var granularity: TimeAmount { max(min(limits.readTimeout, limits.idleTimeout), .milliseconds(100)) }

    private func arm(at when: NIODeadline) {
        guard let context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        armedFor = when
        timer = context.eventLoop.scheduleTask(deadline: when) { bound.value.check() }
    }

    /// The armed check: runs the phase's timeout if it is due, else arms for the rest.
    private func check() {
        timer = nil
        guard let (due, fire) = deadline, let context else { return }
        let now = context.eventLoop.now
        guard now >= due else { return arm(at: min(due, now + granularity)) }
        deadline = nil
        fire(self, context)
    }

    /// Writes a final plain-text answer straight to the socket (no HTTP encoder: none is
    /// mid-response in these phases) and closes after it.
    private func answer(_ context: ChannelHandlerContext, _ status: Int, _ text: String, extra: String = "") {
        phase = .closing
        deadline = nil
        let reason = HTTPReason.phrase(status)
        var buf = context.channel.allocator.buffer(capacity: 128 + text.utf8.count)
        buf.writeString("HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain\r\nContent-Length: \(text.utf8.count)\r\n\(extra)Connection: close\r\n\r\n\(text)")
        context.writeAndFlush(wrapOutboundOut(buf)).whenComplete { [weak self] _ in self?.lingerClose() }
    }
}

/// Reason phrases of the statuses the connection guard writes itself.
enum HTTPReason {
    static func phrase(_ status: Int) -> String {
        switch status {
        case 408: "Request Timeout"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Error"
        }
    }
}
