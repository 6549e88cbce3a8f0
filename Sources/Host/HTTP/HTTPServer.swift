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
/// body limit (413), per-request timeout (503), graceful drain on shutdown.
///
/// Threading: request handling runs on NIO event loops; plugin route handlers are called
/// on those loops and may answer from any thread (answers hop back to the channel's loop).
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
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    let requestsTotal: Metric
    let requestSeconds: Metric

    public init(runtime: HostRuntime, config: ServerConfig, logger: Logger, threads: Int = System.coreCount) {
        self.runtime = runtime
        self.config = config
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        requestsTotal = runtime.metrics.counter("darkspere_http_requests_total", help: "HTTP requests served")
        requestSeconds = runtime.metrics.histogram("darkspere_http_request_seconds", help: "HTTP request handling time")
    }

    /// The bound port (useful when listening on port 0).
    public private(set) var boundPort: Int = 0

    /// Binds and starts accepting.
    public func start() async throws {
        guard !draining.load(ordering: .acquiring) else { throw PluginLoadError(message: "the HTTP server was shut down; make a new Gateway") }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                track(channel)
                return channel.pipeline.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(HTTPRequestHandler(server: self))
                }
            }
        let ch = try await bootstrap.bind(host: config.host, port: config.port).get()
        serverChannel = ch
        boundPort = ch.localAddress?.port ?? config.port
        logger.info("listening on http://\(config.host):\(boundPort)")
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        connections.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in self?.connections.withLock { _ = $0.removeValue(forKey: id) } }
    }

    /// Stops accepting, lets in-flight requests finish (up to `grace` seconds), closes connections.
    public func shutdown(grace: Double) async {
        draining.store(true, ordering: .releasing)
        try? await serverChannel?.close()
        let deadline = Date().addingTimeInterval(grace)
        while inFlight.load(ordering: .acquiring) > 0 && Date() < deadline {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        let left = inFlight.load(ordering: .acquiring)
        if left > 0 { logger.warning("shutdown: \(left) request(s) still in flight after \(grace)s") }
        let open = connections.withLock { Array($0.values) }
        for c in open { try? await c.close() }
        try? await group.shutdownGracefully()
    }
}

/// One connection's request handling. Runs on the connection's event loop.
final class HTTPRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: HTTPServer
    private var head: HTTPRequestHead?
    private var body: ByteBuffer?
    private var tooLarge = false
    private var started: UInt64 = 0

    init(server: HTTPServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = nil
            tooLarge = false
            started = DispatchTime.now().uptimeNanoseconds
            if let len = h.headers.first(name: "content-length").flatMap(Int.init), len > server.config.maxBodyBytes { tooLarge = true }
        case .body(var chunk):
            guard !tooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > server.config.maxBodyBytes {
                tooLarge = true
                body = nil
                return
            }
            if body == nil { body = chunk } else { body!.writeBuffer(&chunk) }
        case .end:
            guard let h = head else { return }
            head = nil
            server.inFlight.add(1, ordering: .relaxed)
            if tooLarge {
                respond(context, h, 413, [("Content-Type", "text/plain")], Array("request body exceeds \(server.config.maxBodyBytes) bytes\n".utf8), close: true)
                return
            }
            dispatch(context, h, body ?? ByteBuffer())
        }
    }

    private func dispatch(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ body: ByteBuffer) {
        let uri = h.uri
        let path: Substring, query: Substring
        if let q = uri.firstIndex(of: "?") { path = uri[..<q]; query = uri[uri.index(after: q)...] } else { path = Substring(uri); query = "" }
        let method = h.method.rawValue
        if let handler = server.handler { return serve(handler, context, h, path: String(path), query: String(query), body: body) }
        switch (method, path) {
        case ("GET", "/livez"):
            return respond(context, h, 200, [("Content-Type", "text/plain")], Array("ok\n".utf8))
        case ("GET", "/readyz"):
            let ready = !server.draining.load(ordering: .acquiring) && (server.delegate?.isReady() ?? false)
            return respond(context, h, ready ? 200 : 503, [("Content-Type", "text/plain")], Array((ready ? "ready\n" : "not ready\n").utf8))
        case ("GET", "/metrics"):
            return respond(context, h, 200, [("Content-Type", "text/plain; version=0.0.4")], Array((server.delegate?.metricsText() ?? "").utf8))
        default: break
        }
        let (route, pathKnown) = server.runtime.route(method: method, path: String(path))
        guard let route else {
            return respond(context, h, pathKnown ? 405 : 404, [("Content-Type", "text/plain")], Array((pathKnown ? "method not allowed\n" : "not found\n").utf8))
        }
        let loop = context.eventLoop
        let ctx = NIOLoopBound(context, eventLoop: loop)
        let handler = NIOLoopBound(self, eventLoop: loop)
        let timeoutTask = NIOLoopBoundBox<Scheduled<Void>?>(nil, eventLoop: loop)
        let op = PluginOperation(onRespond: { response in
            loop.execute {
                timeoutTask.value?.cancel()
                handler.value.respond(ctx.value, h, response.status, response.headers, response.body)
            }
        })
        let opPointer = op.retainedPointer(owner: route.handle)
        let headers = h.headers.map { ($0.name.lowercased(), $0.value) }
        var bodyBytes = body
        let bytes = bodyBytes.readBytes(length: bodyBytes.readableBytes) ?? []
        let publicURL = server.config.publicURL + uri
        let remote = context.remoteAddress.map { "\($0.ipAddress ?? ""):\($0.port ?? 0)" } ?? ""
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

    func respond(_ context: ChannelHandlerContext, _ h: HTTPRequestHead, _ status: Int, _ headers: [(String, String)], _ body: [UInt8], close: Bool = false) {
        server.inFlight.add(-1, ordering: .relaxed)
        server.requestsTotal.increment()
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
        if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
    }
}
