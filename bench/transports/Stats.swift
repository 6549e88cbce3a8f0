import Foundation

/// Latency samples (seconds) and their summary. Value type; one task at a time.
struct Samples {
    var values: [Double] = []
    mutating func add(_ v: Double) { values.append(v) }
    func percentile(_ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let s = values.sorted()
        return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
    }
}

/// One row of the results table.
struct Row {
    var name: String
    var callsPerSecond: Double
    var p50: Double
    var p99: Double
    var errors: Int
}

/// Runs `call` `n` times one after another (latency) and then `n` times with
/// `concurrency` in flight (throughput).
func measure(_ name: String, n: Int, concurrency: Int, warmup: Int = 50, _ call: @escaping @Sendable () async -> Bool) async -> Row {
    for _ in 0..<warmup { _ = await call() }
    var samples = Samples()
    var errors = 0
    for _ in 0..<n {
        let t0 = DispatchTime.now().uptimeNanoseconds
        if !(await call()) { errors += 1 }
        samples.add(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    let t0 = DispatchTime.now().uptimeNanoseconds
    let failed = await withTaskGroup(of: Int.self) { group in
        for w in 0..<concurrency {
            group.addTask {
                var f = 0
                for _ in stride(from: w, to: n, by: concurrency) where !(await call()) { f += 1 }
                return f
            }
        }
        return await group.reduce(0, +)
    }
    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    return Row(name: name, callsPerSecond: Double(n) / elapsed, p50: samples.percentile(0.5), p99: samples.percentile(0.99), errors: errors + failed)
}

func printTable(_ rows: [Row]) {
    print("| path | calls/s (\(Config.concurrency) in flight) | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    for r in rows {
        print(String(format: "| %@ | %.0f | %.3f | %.3f | %d |", r.name, r.callsPerSecond, r.p50 * 1000, r.p99 * 1000, r.errors))
    }
}

/// `nonisolated(unsafe)`: set once by main.swift from the arguments before any measurement
/// starts, only read after.
enum Config {
    nonisolated(unsafe) static var n = 2000
    nonisolated(unsafe) static var concurrency = 8
}
