import NIOCore
import NIOPosix
import NIOHTTP1
import Foundation
import Logging
import PluginAPI
import Synchronization

/// What the HTTP server serves besides plugin routes.
public protocol HTTPServerDelegate: AnyObject, Sendable {
    /// True once every plugin instance started and the store answers.
    func isReady() -> Bool
    /// The Prometheus text for GET /metrics.
    func metricsText() -> String
}

/// The gateway's HTTP/1.1 server (SwiftNIO): plugin routes, /livez, /readyz, /metrics;
/// graceful drain on shutdown. A reusable listener configured by a `ServerConfig`; every
/// limit applies to each listener made from it:
/// - body: a declared or streamed body over `max_body_bytes` gets 413 at once;
/// - head: over `max_header_bytes` / `max_headers` (or a request line that long) gets 431;
/// - time: a request not all in within `read_timeout` gets 408; a connection idle for
///   `idle_timeout` is closed; a handler that has not answered by `request_timeout` gets 503;
/// - connections: at most `max_connections` (capped to what the file limit allows); when
///   full, the connection idle the longest makes room (`ConnectionRegistry`); accepting
///   backs off on EMFILE instead of spinning;
/// - plugin routes answer 503 until `openRoutes()` (while the gateway starts), never 404;
/// - /readyz runs its store check off the event loop with a `ready_timeout`.
///
/// Threading: request handling runs on NIO event loops; plugin route handlers are called
/// on those loops and may answer from any thread (answers hop back to the channel's loop).
/// Unchecked Sendable: `delegate` and `handler` are set before `start()`; `serverChannel`,
/// `registry` and `boundPort` are set by `start()` before it returns and read by shutdown (one task
/// drives start and stop); counters are atomics.
public final class HTTPServer: @unchecked Sendable {
    let runtime: HostRuntime
    let config: ServerConfig
    let logger: Logger
    /// Answers /readyz and /metrics. Set before start(); not retained.
    public weak var delegate: (any HTTPServerDelegate)?
    /// Serves every request instead of the built-in and plugin routes (the admin listener;
    /// see HTTPServer+Handler.swift). Set before start().
    public var handler: (any HTTPHandler)?
    let group: MultiThreadedEventLoopGroup
    private var serverChannel: (any Channel)?
    let inFlight = Atomic<Int>(0)
    let draining = Atomic<Bool>(false)
    /// Woken when the last request in flight was answered while draining (`shutdown`).
    private let drained: ServiceSleeper
    /// The open connections; made by start() (its capacity depends on the file limit).
    private(set) var registry: ConnectionRegistry?
    /// False until `openRoutes()`: plugin routes answer 503 (starting), not 404.
    let routesOpen: Atomic<Bool>
    let readiness = ReadinessProbe()
    let requestsTotal: Metric
    let requestSeconds: Metric
    /// Responses by status class (1xx..5xx), index 0...4: the alert rules' error rate.
    let responsesByClass: [Metric]

    /// - Parameter routesOpen: false to answer plugin routes 503 until `openRoutes()` (the
    ///   gateway opens them once every plugin and the router are in place).
    public init(runtime: HostRuntime, config: ServerConfig, logger: Logger, threads: Int = System.coreCount, routesOpen: Bool = true) {
        self.routesOpen = Atomic(routesOpen)
        self.runtime = runtime
        self.config = config
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        drained = ServiceSleeper(loop: group.next())
        requestsTotal = runtime.metrics.counter("darkspere_http_requests_total", help: "HTTP requests served")
        requestSeconds = runtime.metrics.histogram("darkspere_http_request_seconds", help: "HTTP request handling time")
        responsesByClass = (1...5).map { runtime.metrics.counter("darkspere_http_responses_total", help: "HTTP responses by status class", labels: [("code", "\($0)xx")]) }
    }

    /// Counts one response of `status` in its class.
    func countResponse(_ status: Int) { responsesByClass[min(4, max(0, status / 100 - 1))].increment() }

    /// The bound port (useful when listening on port 0).
    public private(set) var boundPort: Int = 0

    /// Plugin routes are served from now on (before, they answer 503).
    public func openRoutes() { routesOpen.store(true, ordering: .releasing) }

    /// Binds and starts accepting.
    public func start() async throws {
        guard !draining.load(ordering: .acquiring) else { throw PluginLoadError(message: "the HTTP server was shut down; make a new Gateway") }
        let fileLimit = FileLimit.current
        let capacity = ConnectionRegistry.capacity(configured: config.maxConnections, fileLimit: fileLimit)
        if capacity < config.maxConnections {
            logger.warning("server.max_connections \(config.maxConnections) lowered to \(capacity): the open-file limit is \(fileLimit) (raise LimitNOFILE)")
        }
        let registry = ConnectionRegistry(capacity: capacity, metrics: runtime.metrics)
        self.registry = registry
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // Out of descriptors (EMFILE/ENFILE): pause accepting briefly instead of retrying
            // at once in a loop (this bootstrap path does not add NIO's backoff by itself).
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler(backoffProvider: { _ in .milliseconds(100) }))
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try configureConnection(channel, registry: registry) }
            }
        let ch: any Channel
        do {
            ch = try await bootstrap.bind(host: config.host, port: config.port).get()
        } catch {
            throw Self.listenError(host: config.host, port: config.port, error)
        }
        serverChannel = ch
        boundPort = ch.localAddress?.port ?? config.port
        logger.info("listening on http://\(config.host):\(boundPort)")
    }

    /// What an operator reads when the address cannot be taken: which address, why, and for
    /// the usual causes what to do (NIO's own text names neither the address nor a remedy).
    static func listenError(host: String, port: Int, _ error: any Error) -> StartupErrors {
        let address = "\(host):\(port)"
        guard let io = error as? IOError else { return StartupErrors(problems: ["cannot listen on \(address): \(error)"]) }
        let reason = String(cString: strerror(io.errnoCode))
        let hint = switch io.errnoCode {
        case EADDRINUSE: " (another process listens there: stop it or choose another port)"
        case EACCES: " (ports below 1024 need privileges: use a higher port behind a proxy)"
        case EADDRNOTAVAIL: " (no interface of this machine has that address)"
        default: ""
        }
        return StartupErrors(problems: ["cannot listen on \(address): \(reason)\(hint)"])
    }

    /// Sets up the pipeline of one accepted connection, on its event loop: the byte-level
    /// guard, NIO's HTTP/1.1 decoder and encoder with this config's limits, the error
    /// responder and the request handler. Also used by fuzz/http over an EmbeddedChannel.
    func configureConnection(_ channel: any Channel, registry: ConnectionRegistry) throws {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = config.maxHeaderBytes
        decoderLimits.maxHeaderFieldSize = config.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = config.maxHeaders
        let limits = ConnectionGuard.Limits(idleTimeout: .milliseconds(Int64(config.idleTimeout * 1000)),
                                            readTimeout: .milliseconds(Int64(config.readTimeout * 1000)),
                                            maxHeadBytes: config.maxHeaderBytes + 8192 + 4 * config.maxHeaders)
        let guardian = ConnectionGuard(channel: channel, limits: limits, registry: registry)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(guardian)
        try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false,
                                             withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
        try sync.addHandler(HTTPErrorResponder())
        try sync.addHandler(HTTPRequestHandler(server: self, guardian: guardian))
    }

    /// A request was answered (or its stream started): one fewer in flight. Called on the
    /// connection's event loop; wakes `shutdown` when it was the last one while draining.
    func requestDone() {
        if inFlight.add(-1, ordering: .sequentiallyConsistent).newValue == 0 && draining.load(ordering: .sequentiallyConsistent) {
            drained.wake()
        }
    }

    /// Stops accepting, lets in-flight requests finish (up to `grace` seconds), closes connections.
    public func shutdown(grace: Double) async {
        draining.store(true, ordering: .sequentiallyConsistent)
        try? await serverChannel?.close()
        let deadline = ContinuousClock.now + .milliseconds(Int64(max(0, grace) * 1000))
        while inFlight.load(ordering: .sequentiallyConsistent) > 0 && ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            _ = await drained.sleep(Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18)
        }
        let left = inFlight.load(ordering: .acquiring)
        if left > 0 { logger.warning("shutdown: \(left) request(s) still in flight after \(grace)s") }
        let open = registry?.channels ?? []
        for c in open { try? await c.close() }
        try? await group.shutdownGracefully()
    }
}

/// One connection's request handling. Runs on the connection's event loop.
/// Unchecked Sendable: a channel handler: its `var`s are touched only on its channel's event loop
/// (NIO's rule); it crosses threads only inside NIOLoopBound.
final class HTTPRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: HTTPServer
    private let guardian: ConnectionGuard
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    /// The request was refused (413) before its end: the rest of it is dropped.
    private var refused = false
    private var started: UInt64 = 0
    /// The connection's peer, read once (its text form cost 1.6 % of a Twilio turn's CPU when
    /// read on every request of a keep-alive connection).
    private var peer: (ip: String?, port: Int?)?
    /// Host routes, all GET/HEAD only.
    static let hostPaths: Set<Substring> = ["/livez", "/readyz", "/metrics"]

    init(server: HTTPServer, guardian: ConnectionGuard) {
        self.server = server
        self.guardian = guardian
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            guardian.headReceived()
            head = h
            body = nil
            refused = false
            started = DispatchTime.now().uptimeNanoseconds
            // A declared length over the limit (or too large for an Int) is refused now,
            // before the body: the client may never send it.
            if let declared = h.headers.first(name: "content-length"),
               Int(declared.trimmingCharacters(in: .whitespaces)).map({ $0 > server.config.maxBodyBytes }) ?? true {
                refuseTooLarge(context, h)
            }
        case .body(var chunk):
            guard !refused, let h = head else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > server.config.maxBodyBytes {
                body = nil
                return refuseTooLarge(context, h)
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let h = head else { return }
            head = nil
            guard !refused else { return }
            guardian.requestComplete()
            server.inFlight.add(1, ordering: .relaxed)
            dispatch(context, h, body ?? ByteBuffer())
        }
    }

    /// 413 while the body is (or is not) still coming; the connection then closes.
    private func refuseTooLarge(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        refused = true
        guardian.requestComplete()
        server.inFlight.add(1, ordering: .relaxed)
        respond(context, h, 413, [("Content-Type", "text/plain")], Array("request body exceeds \(server.config.maxBodyBytes) bytes\n".utf8), close: true)
    }

    private func dispatch(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ body: ByteBuffer) {
        let uri = h.uri
        let path: Substring, query: Substring
        if let q = uri.firstIndex(of: "?") { path = uri[..<q]; query = uri[uri.index(after: q)...] } else { path = Substring(uri); query = "" }
        let method = h.method.rawValue
        if let handler = server.handler { return serve(handler, context, h, path: String(path), query: String(query), body: body) }
        if Self.hostPaths.contains(path) {
            guard method == "GET" || method == "HEAD" else {
                return respond(context, h, 405, [("Content-Type", "text/plain"), ("Allow", "GET, HEAD")], Array("method not allowed\n".utf8))
            }
            switch path {
            case "/livez":
                return respond(context, h, 200, [("Content-Type", "text/plain")], Array("ok\n".utf8))
            case "/readyz":
                return readyz(context, h)
            default:
                return respond(context, h, 200, [("Content-Type", "text/plain; version=0.0.4")], Array((server.delegate?.metricsText() ?? "").utf8))
            }
        }
        guard server.routesOpen.load(ordering: .acquiring) else {
            return respond(context, h, 503, [("Content-Type", "text/plain"), ("Retry-After", "1")], Array("starting\n".utf8))
        }
        let (route, pathKnown) = server.runtime.route(method: method, path: String(path))
        guard let route else {
            guard pathKnown else { return respond(context, h, 404, [("Content-Type", "text/plain")], Array("not found\n".utf8)) }
            let allow = server.runtime.allowedMethods(path: String(path)).joined(separator: ", ")
            return respond(context, h, 405, [("Content-Type", "text/plain"), ("Allow", allow)], Array("method not allowed\n".utf8))
        }
        let loop = context.eventLoop
        let ctx = NIOLoopBound(context, eventLoop: loop)
        let handler = NIOLoopBound(self, eventLoop: loop)
        let timeoutTask = NIOLoopBoundBox<Scheduled<Void>?>(nil, eventLoop: loop)
        let server = self.server
        let op = PluginOperation(onRespond: { response in
            HopProbe.record("channel.respond", port: server.boundPort, path: path)
            // On the event loop (a handler that answered before it suspended) it is written
            // at once; from any other thread it hops there (one hop, unavoidable).
            @Sendable func write() {
                HopProbe.record("http.write", port: server.boundPort, path: path)
                timeoutTask.value?.cancel()
                handler.value.respond(ctx.value, h, response.status, response.headers, response.body)
            }
            if loop.inEventLoop { write() } else { loop.execute { write() } }
        })
        let opPointer = op.retainedPointer(owner: route.handle)
        let headers = h.headers.map { ($0.name.lowercased(), $0.value) }
        var bodyBytes = body
        let bytes = bodyBytes.readBytes(length: bodyBytes.readableBytes) ?? []
        let publicURL = server.config.publicURL + uri
        if peer == nil { peer = (context.remoteAddress?.ipAddress, context.remoteAddress?.port) }
        let remote = ForwardedFor.remote(peerIP: peer?.ip, peerPort: peer?.port, headers: headers, trusted: server.config.trustedProxies)
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        var req = ds_route_request()
        req.struct_size = UInt32(MemoryLayout<ds_route_request>.size)
        req.method = arena.str(method)
        req.path = arena.str(String(path))
        req.query = arena.str(String(query))
        req.headers = arena.kvs(headers)
        req.header_count = headers.count
        req.body = arena.bytes(bytes)
        req.public_url = arena.str(publicURL)
        req.remote_address = arena.str(remote)
        req.route = arena.str(route.path)                      // ABI 1.2: the pattern and its parameters
        req.params = route.params.isEmpty ? nil : arena.kvs(route.params)
        req.param_count = route.params.count
        HopProbe.record("http.read", port: server.boundPort, path: path)
        let status = route.handler(route.user, &req, opPointer)
        if status < 0 {
            PluginOperation.respond(opPointer, RouteResponse(status: 500, headers: [("Content-Type", "text/plain")], body: Array("plugin error\n".utf8)))
        } else if !op.isDelivered {
            // The plugin answers later: if it has not by the request timeout, answer 503 for it
            // (its late answer is then ignored).
            timeoutTask.value = loop.scheduleTask(in: .milliseconds(Int64(server.config.requestTimeout * 1000))) {
                op.deliver(OpOutcome(status: DS_ERR_TIMEOUT, error: "the handler did not answer in time\n"))
            }
        }
    }

    /// /readyz: the delegate's check (the store's ping) runs off the event loop; no answer
    /// within `ready_timeout` counts as not ready.
    private func readyz(_ context: ChannelHandlerContext, _ h: HTTPRequestHead) {
        guard !server.draining.load(ordering: .acquiring), let delegate = server.delegate else { return respondReady(context, h, false) }
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        server.readiness.check(timeout: server.config.readyTimeout, on: loop, { [weak delegate] in delegate?.isReady() ?? false }) { ready in
            loop.execute { bound.value.0.respondReady(bound.value.1, h, ready) }
        }
    }

    private func respondReady(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ ready: Bool) {
        respond(context, h, ready ? 200 : 503, [("Content-Type", "text/plain")], Array((ready ? "ready\n" : "not ready\n").utf8))
    }

    func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: Int, _ headers: [(String, String)], _ body: [UInt8], close: Bool = false) {
        server.requestDone()
        server.requestsTotal.increment()
        server.countResponse(status)
        server.requestSeconds.record(Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9)
        var hs = HTTPHeaders()
        for (k, v) in headers where k.lowercased() != "content-length" && k.lowercased() != "connection" { hs.add(name: k, value: v) }
        hs.replaceOrAdd(name: "Content-Length", value: String(body.count))
        let keepAlive = h.isKeepAlive && !close && !server.draining.load(ordering: .relaxed)
        if !keepAlive { hs.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: h.version, status: HTTPResponseStatus(statusCode: status), headers: hs)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !body.isEmpty {
            var buf = context.channel.allocator.buffer(capacity: body.count)
            buf.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        guardian.responseSent(keepAlive: keepAlive)
        if close {
            // A refusal: let the client read it even if it is still sending.
            let guardian = NIOLoopBound(self.guardian, eventLoop: context.eventLoop)
            done.whenComplete { _ in guardian.value.lingerClose() }
        } else if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
