// libFuzzer target over the gateway's HTTP request path: NIO's HTTP/1.1 decoder and our
// handler pipeline (ConnectionGuard, HTTPErrorResponder, HTTPRequestHandler) exactly as
// HTTPServer.configureConnection sets them up, on an EmbeddedChannel.
//
// Input: byte 0 picks how the rest is cut into reads (1..64 bytes each, or all at once);
// the rest is what a client sends. Properties checked for every input:
// - no crash (a trap is a crash: libFuzzer reports it);
// - every answer starts with an HTTP/1.1 status line;
// - no hang: after the input, once `read_timeout`, `idle_timeout` and the 2 s linger have
//   passed on the loop's clock, the connection is closed.
// Small limits (max_body_bytes 256, max_header_bytes 512, 8 headers) so the fuzzer reaches
// the 413/431/408 paths.
//
// Built with -DFUZZING and coverage by scripts/fuzz.sh (scripts/fuzz-build.py); the plain
// build makes a replay driver: `fuzz-http FILE|DIR...` runs each input once.
#if DEBUG
// The harness reaches the server's internal pipeline, so it needs `@testable`, which only a
// debug build allows; a release build (`swift build -c release`, scripts/run.sh) gets the
// stub at the end of this file instead of failing the whole build.
@testable import Host
import Logging
import NIOCore
import NIOEmbedded

enum HTTPTarget {
    static let server: HTTPServer = {
        var config = ServerConfig()
        config.maxBodyBytes = 256
        config.maxHeaderBytes = 512
        config.maxHeaders = 8
        config.readTimeout = 10
        config.idleTimeout = 60
        config.requestTimeout = 30
        let runtime = HostRuntime(logLevel: .critical)
        return HTTPServer(runtime: runtime, config: config, logger: Logger(label: "fuzz"), threads: 1)
    }()
    static let registry = ConnectionRegistry(capacity: 64, metrics: server.runtime.metrics)

    static func run(_ input: [UInt8]) {
        guard let mode = input.first else { return }
        let bytes = input.dropFirst()
        let step = mode == 0 ? max(1, bytes.count) : Int(mode % 64) + 1
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        try! server.configureConnection(channel, registry: registry)
        try! channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 40000)).wait()
        var out: [UInt8] = []
        func drain() {
            while let b = try? channel.readOutbound(as: ByteBuffer.self) { out += b.readableBytesView }
        }
        var i = bytes.startIndex
        while i < bytes.endIndex, channel.isActive {
            let j = min(i + step, bytes.endIndex)
            var buf = channel.allocator.buffer(capacity: j - i)
            buf.writeBytes(bytes[i..<j])
            // Errors surface as answers (400/431) and a close; what matters is no crash.
            _ = try? channel.writeInbound(buf)
            loop.run()
            drain()
            i = j
        }
        // Time passes: a request still arriving gets 408, an idle connection closes, a
        // lingering one closes after 2 s.
        for _ in 0..<3 {
            loop.advanceTime(by: .seconds(61))
            drain()
        }
        if channel.isActive {
            fatalError("hang: the connection is still open after read_timeout, idle_timeout and linger (\(out.count) bytes answered)")
        }
        if !out.isEmpty && !out.starts(with: Array("HTTP/1.1 ".utf8)) && !out.starts(with: Array("HTTP/1.0 ".utf8)) {
            fatalError("the answer does not start with a status line: \(String(decoding: out.prefix(64), as: UTF8.self))")
        }
        _ = try? channel.finish()
        try? loop.syncShutdownGracefully()
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    HTTPTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
import FuzzSupport

/// Replay driver (the plain build): `fuzz-http FILE|DIR...` runs each input once.
@main enum Replay {
    static func main() { FuzzReplay.main(HTTPTarget.run) }
}
#endif
#else
import Foundation

@main enum ReleaseStub {
    static func main() {
        FileHandle.standardError.write(Data("fuzz-http needs a debug build: swift build --product fuzz-http, or scripts/fuzz.sh\n".utf8))
        exit(2)
    }
}
#endif
