// Session lookup latency with N sessions stored (issue 3 benchmark).
//
//   darkspere-router-bench <store-url> [sessions=1000000] [lookups=100000]
//   darkspere-router-bench turns <store-url> [threads] [seconds] [numbers]   (TurnBench.swift)
//
// Loads N sessions (20,000 rows per transaction) unless the store already holds them,
// then times `Store.activeSession` for random existing conversations, one at a time
// from one thread, and prints p50/p99/max in microseconds.
import Foundation
import Host

let args = CommandLine.arguments
if args.count >= 3 && args[1] == "turns" {
    try runTurnBench(url: args[2], threads: args.count > 3 ? Int(args[3])! : 64, seconds: args.count > 4 ? Double(args[4])! : 10,
                     numbers: args.count > 5 ? Int(args[5])! : 10_000)
    exit(0)
}
guard args.count >= 2 else {
    FileHandle.standardError.write("usage: darkspere-router-bench <sqlite:PATH | postgres://...> [sessions] [lookups]\n       darkspere-router-bench turns <store-url> [threads] [seconds] [numbers]\n".data(using: .utf8)!)
    exit(2)
}
let url = args[1]
let n = args.count > 2 ? Int(args[2])! : 1_000_000
let lookups = args.count > 3 ? Int(args[3])! : 100_000
let store = try openStore(url: url, configDir: FileManager.default.currentDirectoryPath, lockConnections: 1) as! SQLStore
let now = Int64(Date().timeIntervalSince1970 * 1000)
func number(_ i: Int) -> String { "+1" + String(format: "%010d", i) }

let have = try store.withConnection { try $0.one("SELECT COUNT(*) FROM sessions", [])?[0].int ?? 0 }
if have < Int64(n) {
    let t0 = Date()
    var i = Int(have)
    while i < n {
        let end = min(n, i + 20_000)
        try store.withConnection { c in
            try c.execute("BEGIN")
            for k in i..<end {
                try c.query("INSERT INTO sessions (channel, remote, local, agent, state, created_ms, last_ms, message_count) VALUES (?, ?, ?, ?, '', ?, ?, 2)",
                            [.text("test"), .text(number(k)), .text("+15550000001"), .text("echo"), .int(now), .int(now)])
            }
            try c.execute("COMMIT")
        }
        i = end
    }
    if store.backend == "postgres" { try store.withConnection { try $0.execute("ANALYZE sessions") } }
    print("loaded \(n - Int(have)) sessions in \(String(format: "%.1f", Date().timeIntervalSince(t0)))s")
}
let total = try store.withConnection { try $0.one("SELECT COUNT(*) FROM sessions", [])?[0].int ?? 0 }
var lat: [Double] = []
lat.reserveCapacity(lookups)
var found = 0
for _ in 0..<lookups {
    let k = Int.random(in: 0..<n)
    let t = DispatchTime.now().uptimeNanoseconds
    let s = try store.activeSession(channel: "test", remote: number(k), local: "+15550000001", sinceMs: now - 3_600_000)
    lat.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1000)
    if s != nil { found += 1 }
}
lat.sort()
func pct(_ p: Double, _ lat: [Double]) -> Double { lat[min(lat.count - 1, Int(Double(lat.count) * p))] }
print("backend=\(store.backend) sessions=\(total) lookups=\(lookups) found=\(found) p50=\(String(format: "%.1f", pct(0.5, lat)))us p99=\(String(format: "%.1f", pct(0.99, lat)))us max=\(String(format: "%.1f", lat.last ?? 0))us")
store.close()
