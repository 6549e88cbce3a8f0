// The replay driver the plain build makes of every fuzz target (fuzz/http, fuzz/form,
// fuzz/json): `fuzz-<target> FILE|DIR...` runs each input once through the target's
// `run`, the same function libFuzzer calls under `-DFUZZING`. The `Fuzz corpus replay`
// suite runs the corpora this way, so a fixed finding stays fixed without an instrumented
// build.
import Foundation

/// Runs inputs through one fuzz target. Single-threaded; owns nothing between calls.
public enum FuzzReplay {
    /// Runs every input file named in `arguments`, or every file of a folder named there
    /// (sorted by name), through `target`; prints "ran N inputs". A path that does not
    /// exist exits with status 2; a failed property traps inside `target` (non-zero exit).
    public static func main(arguments: [String] = Array(CommandLine.arguments.dropFirst()), _ target: ([UInt8]) -> Void) {
        var count = 0
        for arg in arguments {
            var dir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: arg, isDirectory: &dir) else {
                FileHandle.standardError.write(Data("no such file: \(arg)\n".utf8)); exit(2)
            }
            let files = dir.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: arg)) ?? []).sorted().map { arg + "/" + $0 } : [arg]
            for f in files {
                target(Array(FileManager.default.contents(atPath: f) ?? Data()))
                count += 1
            }
        }
        print("ran \(count) inputs")
    }
}
