// Events per second each bundled log sink sustains, by batch size.
//
//   swift build -c release
//   .build/release/bench-sinks [postgres-url]
//
// file-sink writes to a temporary file (fsync: interval and always); postgres-sink to the
// given database (default: $DARKSPERE_BENCH_PG, skipped if unset). Each figure is the best
// of three runs of ~20,000 events (at least 200 batches for batch size 1... 1,000).
import Foundation
import Host

let buildDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
let pgURL = CommandLine.arguments.dropFirst().first ?? ProcessInfo.processInfo.environment["DARKSPERE_BENCH_PG"]
let dir = NSTemporaryDirectory() + "darkspere-bench-sinks-\(getpid())"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

var plugins = """
      - id: file-interval
        library: file-sink
        config: { path: "\(dir)/interval.jsonl", fsync: interval, rotate_bytes: 1000000000 }
      - id: file-always
        library: file-sink
        config: { path: "\(dir)/always.jsonl", fsync: always, rotate_bytes: 1000000000 }
    """
if let pgURL {
    plugins += "\n  - id: postgres\n    library: postgres-sink\n    config: { url: \"\(pgURL)\", table: bench_events }\n"
}
let yaml = "plugin_path: [\"\(buildDir)\"]\nplugins:\n\(plugins)\n"
let set = try PluginSet.start(try ConfigLoader(environment: [:]).load(yaml: yaml), runtime: HostRuntime(logLevel: .error))

var seq = 0
@MainActor func events(_ n: Int) -> [String] {
    (0..<n).map { _ in
        seq += 1
        return #"{"v":1,"id":"bench-\#(getpid())-\#(seq)","type":"message.received","time":"2026-11-22T04:00:00.000Z","correlation_id":"c-\#(seq)","session":"s-\#(seq % 1000)","agent":"echo","channel":"twilio","from":"+*******4567","to":"+*******0000","channel_message_id":"SM\#(seq)"}"#
    }
}

print("DarkSpere log sinks: events/s by batch size (best of 3)")
print("sink            batch      events/s")
for sink in set.sinks {
    for batch in [1, 100, 1000] {
        let total = batch == 1 ? (sink.instanceId == "file-always" || sink.instanceId == "postgres" ? 2_000 : 20_000) : 20_000
        var best = 0.0
        for _ in 0..<3 {
            let batches = (0..<(total / batch)).map { _ in events(batch) }
            let t0 = Date()
            for b in batches {
                let o = await sink.write(b, timeoutMs: 60_000)
                precondition(o.status == 0, "write failed: \(o.error)")
            }
            best = max(best, Double(total) / Date().timeIntervalSince(t0))
        }
        print(String(format: "%-14@ %6d %13.0f", sink.instanceId as NSString, batch, best))
    }
}
set.shutdown()
try? FileManager.default.removeItem(atPath: dir)
