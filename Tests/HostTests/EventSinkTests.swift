import Foundation
import PluginAPI
import Synchronization
import Testing
@testable import Host

@Suite struct EventTests {
    @Test func eventJSONAppliesPrivacySettings() throws {
        let e = Event("message.received", correlationId: "c1", channel: "twilio", from: "+15551234567", to: "+15557654321", body: "secret text")
        let redacted = try JSONValue.parse(e.json(id: "x", timeMs: 1_790_000_000_123, includeBodies: false, redactNumbers: true))
        #expect(redacted["from"] == .string("+*******4567"))
        #expect(redacted["body"] == nil)
        #expect(redacted["time"] == .string("2026-09-21T14:13:20.123Z"))
        #expect(redacted["v"] == .number(1) && redacted["id"] == .string("x") && redacted["correlation_id"] == .string("c1"))
        let full = try JSONValue.parse(e.json(id: "y", timeMs: 0, includeBodies: true, redactNumbers: false))
        #expect(full["from"] == .string("+15551234567") && full["body"] == .string("secret text"))
    }

    /// The event line is written straight into one buffer (the hot path); it must be the same
    /// text as the generic serializer makes of the same object, escapes and all.
    @Test func eventLineIsTheGenericSerializationByteForByte() throws {
        let odd = "quote \" back\\slash \n\r\t bell\u{07} nul\u{00} é 日本 😀 \u{2028}"
        let events = [
            Event("message.received", correlationId: "c-1", session: "42", agent: "alpha", channel: "twilio",
                  from: "+15551234567", to: "whatsapp:+15557654321", body: odd,
                  fields: [("segments", .number(2)), ("ok", .bool(true)), ("none", .null), ("ratio", .number(0.25)),
                           ("media", .array([.object([("url", .string("https://x/y?a=1&b=\"2\"")), ("n", .number(-3))])])),
                           (odd, .string(odd))]),
            Event("config.reloaded"),
            Event("message.sent", from: "telegram:123", to: "+1", body: ""),
        ]
        for e in events {
            for (bodies, redact) in [(false, false), (true, true), (true, false)] {
                var o: [(String, JSONValue)] = [("v", .number(1)), ("id", .string("i-\"7")), ("type", .string(e.type)),
                                                 ("time", .string(Event.iso8601(ms: 1_790_000_000_123)))]
                func add(_ k: String, _ v: String?) { if let v { o.append((k, .string(v))) } }
                add("correlation_id", e.correlationId); add("session", e.session); add("agent", e.agent); add("channel", e.channel)
                add("from", e.from.map { redact ? Event.redactNumber($0) : $0 })
                add("to", e.to.map { redact ? Event.redactNumber($0) : $0 })
                if bodies { add("body", e.body) }
                o.append(contentsOf: e.fields)
                let line = e.json(id: "i-\"7", timeMs: 1_790_000_000_123, includeBodies: bodies, redactNumbers: redact)
                #expect(line == JSONValue.object(o).text)
                #expect(try JSONValue.parse(line) == JSONValue.object(o))
            }
        }
        #expect(JSONText.quote("a\u{01}\u{1f}b") == "\"a\\u0001\\u001fb\"")
        #expect(Event.redactNumber("+15551234567") == "+*******4567")
        #expect(Event.redactNumber("+1234") == "+1234")
        #expect(Event.redactNumber("123") == "***")
        #expect(Event.redactNumber("tél:😀12345") == "******2345")
    }

    /// The hand-written timestamp is the text `String(format:)` made before (the reference
    /// below is the old implementation).
    @Test func eventTimeIsISO8601WithMilliseconds() {
        func reference(_ ms: Int64) -> String {
            var t = time_t(ms / 1000)
            var tmv = tm()
            gmtime_r(&t, &tmv)
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tmv.tm_year) + 1900, Int(tmv.tm_mon) + 1, Int(tmv.tm_mday),
                          Int(tmv.tm_hour), Int(tmv.tm_min), Int(tmv.tm_sec), Int(ms % 1000))
        }
        var rng = SystemRandomNumberGenerator()
        let samples: [Int64] = [0, 999, 1000, 951_782_400_000, 4_102_444_799_999, 1_790_000_000_123] + (0..<500).map { _ in Int64.random(in: 0...4_102_444_799_999, using: &rng) }
        for ms in samples {
            #expect(Event.iso8601(ms: ms) == reference(ms), "\(ms)")
        }
    }
}

/// The JSON Lines file sink, driven through the ABI.
@Suite struct FileSinkTests {
    func sink(_ dir: String, _ extra: String) throws -> (PluginSet, LogSinkInstance) {
        let set = try PluginSet.start(try TestSupport.config(TestSupport.yaml(plugins: """
              - id: file
                library: file-sink
                config: { path: "\(dir)/events.jsonl", \(extra) }
            """)), runtime: HostRuntime(logLevel: .error))
        return (set, try #require(set.sinks.first))
    }

    func events(_ range: Range<Int>) -> [String] {
        range.map { #"{"v":1,"id":"e\#($0)","type":"test","time":"2026-01-01T00:00:00.000Z","n":\#($0),"pad":"\#(String(repeating: "x", count: 60))"}"# }
    }

    func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("events.jsonl") }.sorted()
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func rotatesBySizeKeepsNAndEveryLineParses() async throws {
        let dir = TestSupport.tempDir()
        let (set, s) = try sink(dir, "rotate_bytes: 2048, keep: 2, fsync: always")
        defer { set.shutdown() }
        for i in 0..<20 { #expect(await s.write(events(i * 10..<(i + 1) * 10)).status == DS_OK) }
        let all = files(dir)
        #expect(all.count == 3, "\(all)")                                  // the live file + keep 2
        var seen: [Int] = []
        for f in all {
            let ls = try lines("\(dir)/\(f)")
            #expect(ls.count * 100 <= 2048 + 1100)                        // each file stays near the limit
            for l in ls { seen.append(try #require(JSONValue.parse(l)["n"]?.intValue)) }
        }
        // The newest events are all there, in order, once each.
        #expect(seen.sorted().suffix(10) == Array(190..<200))
        #expect(Set(seen).count == seen.count)
    }

    @Test func aRetriedBatchIsNotWrittenTwice() async throws {
        let dir = TestSupport.tempDir()
        let (set, s) = try sink(dir, "fsync: never")
        defer { set.shutdown() }
        #expect(await s.write(events(0..<5)).status == DS_OK)
        #expect(await s.write(events(3..<8)).status == DS_OK)
        #expect(await s.flush().status == DS_OK)
        #expect(try lines("\(dir)/events.jsonl").count == 8)
    }

    @Test func sighupReopensTheFile() async throws {
        let dir = TestSupport.tempDir()
        let (set, s) = try sink(dir, "fsync: interval, fsync_interval_ms: 50")
        defer { set.shutdown() }
        #expect(await s.write(events(0..<3)).status == DS_OK)
        // logrotate-style: move the file away, then SIGHUP.
        try FileManager.default.moveItem(atPath: "\(dir)/events.jsonl", toPath: "\(dir)/moved.jsonl")
        kill(getpid(), SIGHUP)
        var reopened = false
        for _ in 0..<100 where !reopened {
            try await Task.sleep(nanoseconds: 20_000_000)
            reopened = FileManager.default.fileExists(atPath: "\(dir)/events.jsonl")
        }
        #expect(reopened)
        #expect(await s.write(events(3..<5)).status == DS_OK)
        #expect(try lines("\(dir)/moved.jsonl").count == 3)
        #expect(try lines("\(dir)/events.jsonl").count == 2)
    }

    @Test func badConfigIsRefusedBySchema() async throws {
        let g = Gateway(config: try TestSupport.config(TestSupport.yaml(plugins: """
              - id: file
                library: file-sink
                config: { fsync: sometimes }
            """)), logger: TestSupport.logger)
        do { try await g.start(); await g.stop(); Issue.record("started") } catch let e as StartupErrors {
            #expect(e.problems.contains { $0.hasSuffix("plugins[0].config.path: required field is missing") })
            #expect(e.problems.contains { $0.contains("plugins[0].config.fsync: must be one of") })
        }
    }
}

/// The event stream under a lagging sink, and the PostgreSQL sink across a database restart.
@Suite(.serialized) struct EventPipelineTests {
    static let agents = """
          - name: bot
            transport: c-echo
            config: { prefix: bot }
        """

    func send(_ port: Int, _ count: Int, from: Int = 0) async throws -> Int {
        var ok = 0
        try await withThrowingTaskGroup(of: Bool.self) { g in
            for i in 0..<count {
                g.addTask {
                    let r = try await TestSupport.post(port, "/fixture/in?from=%2B1555000\(String(format: "%04d", (from + i) % 50))&id=M\(from + i)", "msg \(i)")
                    return r.status == 200 && r.text.hasPrefix("bot: ")
                }
                if i % 16 == 15 { for try await r in g.prefix(8) where r { ok += 1 } }
            }
            for try await r in g where r { ok += 1 }
        }
        return ok
    }

    @Test func aHangingSinkNeitherSlowsMessagesNorLosesEvents() async throws {
        let dir = TestSupport.tempDir()
        let hang = dir + "/hang", record = dir + "/written.jsonl"
        FileManager.default.createFile(atPath: hang, contents: nil)
        let yaml = TestSupport.yaml(plugins: """
              - id: all
                library: \(TestSupport.library("fixture-swift-all"))
                config: { path: /fixture/in, hang_file: "\(hang)", record_file: "\(record)" }
              - id: c-echo
                library: c-echo-agent
            """, agents: Self.agents, extra: """
            events:
              queue_capacity: 50
              batch_size: 20
              write_timeout: 200ms
              spool_dir: \(dir)/spool
            """)
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let port = try await g.start()
        let started = Date()
        let answered = try await send(port, 300)
        let elapsed = Date().timeIntervalSince(started)
        #expect(answered == 300)
        #expect(elapsed < 20, "300 messages took \(elapsed)s with a hanging sink")
        let metrics = try await TestSupport.get(port, "/metrics").text
        #expect(metrics.contains(#"darkspere_events_spooled_total{sink="all"}"#))
        let spooled = metricValue(metrics, #"darkspere_events_spooled_total{sink="all"}"#)
        #expect(spooled > 0)
        // The sink recovers: every event is delivered, once, in emission order.
        try FileManager.default.removeItem(atPath: hang)
        let emitted = metricValue(metrics, "darkspere_events_emitted_total")
        #expect(emitted >= 900)
        var written: [String] = []
        for _ in 0..<300 {
            written = (try? String(contentsOfFile: record, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
            if written.count >= Int(emitted) { break }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        await g.stop()
        #expect(written.count == Int(emitted))
        let seqs = written.compactMap { line -> Int? in
            guard let id = (try? JSONValue.parse(line))?["id"]?.stringValue else { return nil }
            return Int(id.split(separator: "-").last ?? "")
        }
        #expect(seqs == seqs.sorted(), "events were delivered out of order")
        #expect(Set(seqs).count == seqs.count, "an event was delivered twice")
    }

    /// A sink database that accepts connections and never answers held the gateway's
    /// start-up (the sink connects in its create) for as long as it stayed silent; the
    /// connection attempt now gives up after libpq's connect_timeout (10 s, CLibPQ's shim).
    @Test func aSilentSinkDatabaseDoesNotHoldStartUp() async throws {
        let silent = try SilentListener()
        let yaml = TestSupport.yaml(plugins: """
              - id: c-echo
                library: c-echo-agent
              - id: pg
                library: postgres-sink
                config: { url: "postgres://nobody@127.0.0.1:\(silent.port)/db" }
            """, agents: Self.agents)
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let started = Date()
        // Polled, not awaited: a start-up that hangs must fail this test, not hang the suite.
        let up = Atomic<Bool>(false)
        Task { if (try? await g.start()) != nil { up.store(true, ordering: .releasing) } }
        for _ in 0..<250 where !up.load(ordering: .acquiring) { try await Task.sleep(nanoseconds: 100_000_000) }
        let outcome = up.load(ordering: .acquiring)
        #expect(outcome, "the gateway did not start within 25 s")
        #expect(Date().timeIntervalSince(started) < 20)
        if outcome { await g.stop() }
    }

    @Test func postgresSinkKeepsEveryEventExactlyOnceAcrossARestart() async throws {
        let pg = try PostgresServer()
        let dir = TestSupport.tempDir()
        let yaml = TestSupport.yaml(plugins: """
              - id: all
                library: \(TestSupport.library("fixture-swift-all"))
                config: { path: /fixture/in }
              - id: c-echo
                library: c-echo-agent
              - id: pg
                library: postgres-sink
                config: { url: "\(pg.url)", table: events_test }
            """, agents: Self.agents, extra: """
            events:
              batch_size: 500
              queue_capacity: 2000
              write_timeout: 2s
              spool_dir: \(dir)/spool
            """)
        let g = Gateway(config: try TestSupport.config(yaml), logger: TestSupport.logger)
        let port = try await g.start()
        let bus = try #require(g.events)
        #expect(try await send(port, 10) == 10)
        try pg.stop()
        // 10,000 events while the database is down; messages keep being answered.
        for i in 0..<10_000 { bus.emit(Event("test.bulk", fields: [("n", .number(Double(i)))])) }
        #expect(try await send(port, 40, from: 10) == 40)
        try pg.start()
        let metrics = try await TestSupport.get(port, "/metrics").text
        let emitted = Int(metricValue(metrics, "darkspere_events_emitted_total"))
        #expect(emitted >= 10_150)
        var rows = 0
        for _ in 0..<600 {
            rows = Int((try? pg.psql("SELECT count(*) FROM events_test")) ?? "0") ?? 0
            if rows >= emitted { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        await g.stop()
        #expect(rows == emitted)
        #expect(try pg.psql("SELECT count(DISTINCT id) FROM events_test") == String(emitted))
        #expect(try pg.psql("SELECT count(*) FROM events_test WHERE type = 'test.bulk'") == "10000")
        #expect(try pg.psql("SELECT count(*) FROM events_test WHERE type = 'message.received' AND event->>'from' LIKE '+%'") == "50")
    }

    func metricValue(_ text: String, _ name: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }
}
