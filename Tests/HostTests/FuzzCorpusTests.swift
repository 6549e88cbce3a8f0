import Foundation
import Testing

/// Replays the fuzz corpora (fuzz/<target>/corpus: seeds and every input a fuzzing run
/// found a bug with) through the plain builds of the fuzz targets, so a fixed crash stays
/// fixed without an instrumented build. The fuzzing itself is scripts/fuzz.sh (and
/// `FUZZ=1 scripts/test.sh`).
@Suite("Fuzz corpus replay", .serialized)
struct FuzzCorpusTests {
    @Test("every corpus input runs through its target without a crash or a failed property",
          arguments: ["http", "form", "json"])
    func replay(target: String) throws {
        let corpus = TestSupport.root + "/fuzz/\(target)/corpus"
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(inputs.count >= 3, "fuzz/\(target)/corpus should hold seed inputs")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: TestSupport.buildDir + "/fuzz-\(target)")
        p.arguments = [corpus]
        var env = ProcessInfo.processInfo.environment
        env["SWIFT_BACKTRACE"] = "enable=no"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "fuzz-\(target) failed on its corpus:\n\(text.suffix(2000))")
        #expect(text.contains("ran \(inputs.count) inputs"), "\(text.suffix(500))")
    }
}
