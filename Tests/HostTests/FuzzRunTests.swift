import Foundation
import Testing

/// The test suite's bounded fuzzing run: for each fuzz target, `scripts/fuzz.sh --prebuilt`
/// makes its libFuzzer binary on top of the plain build (scripts/fuzz-build.py compiles
/// again with coverage only the harness and the modules it exercises) and runs it for
/// `FUZZ_TIME` seconds (default 60). A crash, a failed property or a hang (an input over
/// 10 s) fails the test, and libFuzzer leaves the input in fuzz/<target>/crash-* (or
/// timeout-*). `FUZZ=0` skips the suite; longer runs are scripts/fuzz.sh's (600 s a target).
///
/// Serialized: each run uses both cores.
@Suite("Fuzzing (bounded libFuzzer runs)", .serialized, .enabled(if: ProcessInfo.processInfo.environment["FUZZ"] != "0"))
struct FuzzRunTests {
    static var seconds: Int { ProcessInfo.processInfo.environment["FUZZ_TIME"].flatMap { Int($0) } ?? 60 }

    @Test("a bounded libFuzzer run finds no crash, failed property or hang", .timeLimit(.minutes(15)),
          arguments: ["http", "form", "json"])
    func fuzz(target: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [TestSupport.root + "/scripts/fuzz.sh", "--prebuilt", "--time", String(Self.seconds), target]
        p.currentDirectoryURL = URL(fileURLWithPath: TestSupport.root)
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let started = Date()
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let elapsed = Date().timeIntervalSince(started)
        #expect(p.terminationStatus == 0, "fuzz-\(target) found a problem (input kept in fuzz/\(target)/):\n\(text.suffix(4000))")

        // libFuzzer's final statistics and its last status line ("#N DONE cov: C ft: F corp: ...").
        func stat(_ name: String) -> Int? {
            text.split(separator: "\n").last { $0.hasPrefix("stat::\(name):") }
                .flatMap { Int($0.split(separator: " ").last ?? "") }
        }
        let done = text.split(separator: "\n").last { $0.contains("\tDONE ") }.map(String.init) ?? ""
        func field(_ name: String) -> Int? {
            guard let r = done.range(of: name + ": ") else { return nil }
            return Int(done[r.upperBound...].prefix { $0.isNumber })
        }
        let runs = stat("number_of_executed_units") ?? 0
        let cov = field("cov") ?? 0
        let built = text.split(separator: "\n").last { $0.hasPrefix("== fuzz targets built in") } ?? ""
        print("fuzz-\(target): \(runs) inputs in \(Self.seconds) s (\(stat("average_exec_per_sec") ?? 0)/s), cov \(cov), ft \(field("ft") ?? 0), corpus \(field("corp") ?? 0); \(built.dropFirst(3)); \(Int(elapsed)) s in all")
        #expect(runs >= 100, "the fuzzer ran only \(runs) inputs:\n\(text.suffix(2000))")
        // Coverage feedback from the instrumented modules (the harness alone has a few dozen edges).
        #expect(cov >= 300, "coverage \(cov): the parsers were not instrumented?\n\(text.suffix(2000))")
    }
}
