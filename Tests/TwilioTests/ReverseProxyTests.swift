import Foundation
import Testing
import TestPeers
import TwilioCore

/// TLS in production: Debian's nginx in front of the gateway with the shipped
/// deploy/nginx/darkspere.conf (ports and certificate paths changed for loopback), a
/// self-signed certificate made here with openssl, and a Twilio-signed webhook sent with
/// curl over https. The gateway checks the signature against `server.public_url` (the https
/// URL), and takes the client's address from X-Forwarded-For only as nginx set it.
@Suite(.serialized) struct ReverseProxyTests {
    /// Runs a command; output (stdout and stderr) through a file, so daemons cannot hold a pipe.
    static func run(_ args: [String], env: [String: String]? = nil) -> (Int32, String) {
        let out = NSTemporaryDirectory() + "ds-proxy-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        if let env { p.environment = env }
        guard let h = FileHandle(forWritingAtPath: out) else { return (-1, "no output file") }
        p.standardOutput = h
        p.standardError = h
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return (-1, "\(error)") }
        p.waitUntilExit()
        try? h.close()
        return (p.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    static func nginxPath() -> String? { ["/usr/sbin/nginx", "/usr/bin/nginx"].first { FileManager.default.isExecutableFile(atPath: $0) } }

    static func waitForPort(_ port: Int, seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
            if rc == 0 { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    /// The shipped config on loopback ports, with the test's certificate and include path.
    static func renderNginx(dir: String, gatewayPort: Int, tlsPort: Int, httpPort: Int) throws -> String {
        let deploy = TestPeers.repoRoot + "/deploy/nginx"
        var site = try String(contentsOfFile: deploy + "/darkspere.conf", encoding: .utf8)
        let replacements = [
            ("server 127.0.0.1:8080;", "server 127.0.0.1:\(gatewayPort);"),
            ("listen 443 ssl http2;", "listen 127.0.0.1:\(tlsPort) ssl http2;"),
            ("listen [::]:443 ssl http2;", ""),
            ("listen 80;", "listen 127.0.0.1:\(httpPort);"),
            ("listen [::]:80;", ""),
            ("/etc/letsencrypt/live/sms.example.com/fullchain.pem", "\(dir)/cert.pem"),
            ("/etc/letsencrypt/live/sms.example.com/privkey.pem", "\(dir)/key.pem"),
            ("/etc/nginx/darkspere-proxy.conf", "\(deploy)/darkspere-proxy.conf"),
        ]
        for (from, to) in replacements {
            guard site.contains(from) else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "deploy/nginx/darkspere.conf lacks '\(from)'"]) }
            site = site.replacingOccurrences(of: from, with: to)
        }
        try site.write(toFile: "\(dir)/site.conf", atomically: true, encoding: .utf8)
        return """
            daemon off;
            master_process off;
            pid \(dir)/nginx.pid;
            error_log \(dir)/nginx-error.log warn;
            events { worker_connections 64; }
            http {
                access_log \(dir)/nginx-access.log;
                client_body_temp_path \(dir)/tmp-body;
                proxy_temp_path \(dir)/tmp-proxy;
                fastcgi_temp_path \(dir)/tmp-fastcgi;
                uwsgi_temp_path \(dir)/tmp-uwsgi;
                scgi_temp_path \(dir)/tmp-scgi;
                include \(dir)/site.conf;
            }
            """
    }

    @Test func twilioSignedWebhookThroughNginxOverHTTPS() async throws {
        let nginx = try #require(Self.nginxPath(), "nginx is not installed (scripts/install-deps.sh --test installs it)")
        let dir = NSTemporaryDirectory() + "ds-proxy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (crc, cout) = Self.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(dir)/key.pem", "-out", "\(dir)/cert.pem",
                                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        try #require(crc == 0, "openssl: \(cout)")

        let gatewayPort = TestPeers.freePort(), tlsPort = TestPeers.freePort(), httpPort = TestPeers.freePort()
        let publicURL = "https://127.0.0.1:\(tlsPort)"
        let token = "proxy-test-token-0123456789abcdef"
        let config = """
            server:
              listen: 127.0.0.1:\(gatewayPort)
              public_url: \(publicURL)
              trusted_proxies: [127.0.0.1]
            store:
              url: "sqlite::memory:"
            plugin_path: [\(TestPeers.buildDir)]
            plugins:
              - id: twilio
                library: twilio
                config: { account_sid: \(Support.accountSid), auth_token: "\(token)", from: "+15557654321", api_base: "http://127.0.0.1:9" }
              - id: c-echo
                library: c-echo-agent
            agents:
              - name: echo
                transport: c-echo
                config: { prefix: echo }
            """
        try config.write(toFile: "\(dir)/plugins.yaml", atomically: true, encoding: .utf8)
        try Self.renderNginx(dir: dir, gatewayPort: gatewayPort, tlsPort: tlsPort, httpPort: httpPort)
            .write(toFile: "\(dir)/nginx.conf", atomically: true, encoding: .utf8)
        let (trc, tout) = Self.run([nginx, "-t", "-q", "-c", "\(dir)/nginx.conf", "-p", dir])
        try #require(trc == 0, "nginx -t: \(tout)")

        // The gateway as its own process (its log shows the remote address plugins get).
        let gwLog = "\(dir)/gateway.log"
        _ = FileManager.default.createFile(atPath: gwLog, contents: nil)
        let gw = Process()
        gw.executableURL = URL(fileURLWithPath: TestPeers.buildDir + "/darkspere")
        gw.arguments = ["run", "--config", "\(dir)/plugins.yaml", "--log-level", "info"]
        let gwHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: gwLog))
        gw.standardOutput = gwHandle
        gw.standardError = gwHandle
        try gw.run()
        // Stopped by signal without waiting: Foundation's exit monitoring can miss a child here.
        defer { kill(gw.processIdentifier, SIGKILL) }
        let px = Process()
        px.executableURL = URL(fileURLWithPath: nginx)
        px.arguments = ["-c", "\(dir)/nginx.conf", "-p", dir]
        px.standardOutput = FileHandle.nullDevice
        px.standardError = FileHandle.nullDevice
        try px.run()
        defer { kill(px.processIdentifier, SIGKILL) }
        try #require(await Self.waitForPort(gatewayPort, seconds: 30), "gateway: \((try? String(contentsOfFile: gwLog, encoding: .utf8)) ?? "")")
        try #require(await Self.waitForPort(tlsPort, seconds: 10), "nginx: \((try? String(contentsOfFile: "\(dir)/nginx-error.log", encoding: .utf8)) ?? "")")
        var ready = false
        for _ in 0..<200 {
            if Self.run(["curl", "-sf", "http://127.0.0.1:\(gatewayPort)/readyz"]).0 == 0 { ready = true; break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try #require(ready)

        let params = Support.smsParams(body: "through nginx & TLS", sid: "SMproxy1")
        let body = FormEncoding.encode(params)
        let signature = TwilioSignature(authToken: token).compute(url: publicURL + "/twilio/sms", params: params)
        func curl(_ extra: [String], path: String = "/twilio/sms", url: String? = nil) -> (Int32, String) {
            Self.run(["curl", "-sS", "--max-time", "20", "--cacert", "\(dir)/cert.pem", "-w", "\n%{http_code}"] + extra + [url ?? publicURL + path])
        }

        // Signed for the https public URL: the agent's reply as TwiML, through TLS.
        let (rc, out) = curl(["-H", "X-Twilio-Signature: \(signature)", "--data-raw", body])
        #expect(rc == 0, "curl: \(out)")
        #expect(out.hasSuffix("\n200"), "\(out)")
        #expect(TwiML.messages(in: out).first == "echo: through nginx & TLS (history: 0)", "\(out)")

        // The certificate is really checked: without the CA, curl refuses.
        #expect(Self.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", publicURL + "/livez"]).0 == 60)

        // Signed for the plain http URL the gateway listens on: refused (the public URL counts).
        let wrong = TwilioSignature(authToken: token).compute(url: "http://127.0.0.1:\(gatewayPort)/twilio/sms", params: params)
        let (_, refused) = curl(["--interface", "127.0.0.2", "-H", "X-Twilio-Signature: \(wrong)", "-H", "X-Forwarded-For: 203.0.113.9", "--data-raw", body])
        #expect(refused.hasSuffix("\n403"), "\(refused)")
        // The gateway logged the client nginx saw (127.0.0.2), not the address the client claimed.
        try await Task.sleep(nanoseconds: 300_000_000)
        let log = (try? String(contentsOfFile: gwLog, encoding: .utf8)) ?? ""
        #expect(log.contains("(from 127.0.0.2:0)"), "\(log.suffix(2000))")
        #expect(!log.contains("203.0.113.9"))

        // Only the webhook routes and /livez are public; http redirects to https.
        #expect(curl([], path: "/livez").1.hasSuffix("\n200"))
        #expect(curl([], path: "/metrics").1.hasSuffix("\n404"))
        #expect(curl([], path: "/readyz").1.hasSuffix("\n404"))
        let (_, redirect) = Self.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://127.0.0.1:\(httpPort)/twilio/sms"])
        #expect(redirect.hasPrefix("301 https://127.0.0.1/twilio/sms"), "\(redirect)")
    }
}
