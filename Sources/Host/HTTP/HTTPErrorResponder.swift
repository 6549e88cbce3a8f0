import NIOCore
import NIOHTTP1

/// Answers a request the HTTP decoder could not parse: 431 when its head broke the header
/// limits (`server.max_header_bytes`, `server.max_headers`), 400 otherwise; the decoder then
/// closes the connection. Replaces NIO's `HTTPServerProtocolErrorHandler`, which says 400
/// for everything.
///
/// Threading: the channel's event loop.
final class HTTPErrorResponder: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private var responding = false

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else { return context.fireErrorCaught(error) }
        if !responding {
            let (status, text): (HTTPResponseStatus, String) = switch parse {
            case .headerOverflow: (.requestHeaderFieldsTooLarge, "request headers exceed the server's limits\n")
            default: (.badRequest, "malformed HTTP request\n")
            }
            var buf = context.channel.allocator.buffer(capacity: text.utf8.count)
            buf.writeString(text)
            let headers = HTTPHeaders([("Content-Type", "text/plain"), ("Content-Length", String(text.utf8.count)), ("Connection", "close")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.fireErrorCaught(error)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let h) where h.status.code >= 200: responding = true
        case .end: responding = false
        default: break
        }
        context.write(data, promise: promise)
    }
}
