import Foundation
import PluginKit

/// One MCP agent's `config` block from plugins.yaml, validated.
///
/// Exactly one of `command` (stdio) or `url` (Streamable HTTP) is set.
/// A value type: built once in `open`, read from any thread afterwards.
struct MCPAgentConfig: Sendable {
    enum Endpoint: Sendable {
        case stdio(command: String, args: [String], env: [String: String], cwd: String?)
        case http(url: String, headers: [(String, String)])
    }

    /// Which protocol era to speak: `auto` probes `server/discover` (2026-07-28) and
    /// falls back to the `initialize` handshake; `handshake` skips the probe;
    /// `2026-07-28` requires the per-request revision.
    enum Era: String, Sendable { case auto, handshake, perRequest = "2026-07-28" }

    var endpoint: Endpoint
    var era: Era
    /// The tool a message is sent to.
    var tool: String
    /// Per-call deadline (ms); the host's own deadline also applies.
    var timeoutMs: UInt32
    /// Deadline of the handshake and tools/list at open (ms).
    var startupTimeoutMs: UInt32

    private struct Raw: Decodable {
        var command: String?
        var args: [String]?
        var env: [String: String]?
        var cwd: String?
        var url: String?
        var headers: [String: String]?
        var tool: String?
        var timeout: Double?
        var startup_timeout: Double?
        var `protocol`: String?
    }

    /// Parses and checks the block; errors name the field.
    init(_ config: PluginConfig) throws {
        let raw = try config.decode(Raw.self)
        switch (raw.command, raw.url) {
        case (let c?, nil):
            guard !c.isEmpty else { throw PluginError.config("command: must not be empty") }
            if raw.headers != nil { throw PluginError.config("headers: only valid with url (Streamable HTTP)") }
            endpoint = .stdio(command: c, args: raw.args ?? [], env: raw.env ?? [:], cwd: raw.cwd)
        case (nil, let u?):
            guard let parsed = URL(string: u), let scheme = parsed.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", parsed.host != nil else {
                throw PluginError.config("url: must be an absolute http:// or https:// URL")
            }
            if raw.args != nil || raw.env != nil || raw.cwd != nil {
                throw PluginError.config("args/env/cwd: only valid with command (stdio)")
            }
            endpoint = .http(url: u, headers: (raw.headers ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        case (nil, nil):
            throw PluginError.config("set either command (stdio) or url (Streamable HTTP)")
        case (_?, _?):
            throw PluginError.config("command and url: set only one of them")
        }
        guard let era = Era(rawValue: raw.protocol ?? "auto") else {
            throw PluginError.config("protocol: must be auto, handshake or 2026-07-28, got '\(raw.protocol ?? "")'")
        }
        self.era = era
        tool = raw.tool ?? "chat"
        guard !tool.isEmpty else { throw PluginError.config("tool: must not be empty") }
        let t = raw.timeout ?? 30
        guard t > 0, t <= 3600 else { throw PluginError.config("timeout: must be between 0 and 3600 seconds") }
        timeoutMs = UInt32(t * 1000)
        let s = raw.startup_timeout ?? 15
        guard s > 0, s <= 3600 else { throw PluginError.config("startup_timeout: must be between 0 and 3600 seconds") }
        startupTimeoutMs = UInt32(s * 1000)
    }
}

/// Where a relative `command` is looked for: the directory of the running executable
/// (the `darkspere` binary), so `command: darkspere-example-agent` finds the example
/// agent built next to it. A bare name not found there is looked up on PATH.
enum CommandResolver {
    static func executableDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "."
        return (exe as NSString).deletingLastPathComponent
    }

    /// An absolute path to run, or an error naming what was tried.
    static func resolve(_ command: String) throws -> String {
        let fm = FileManager.default
        if command.hasPrefix("/") {
            guard fm.isExecutableFile(atPath: command) else { throw PluginError.config("command: '\(command)' is not an executable file") }
            return command
        }
        let beside = (executableDirectory() as NSString).appendingPathComponent(command)
        if fm.isExecutableFile(atPath: beside) { return (beside as NSString).standardizingPath }
        if !command.contains("/") {
            for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
                let p = "\(dir)/\(command)"
                if fm.isExecutableFile(atPath: p) { return p }
            }
        }
        throw PluginError.config("command: '\(command)' not found next to the gateway executable (\(executableDirectory())) nor on PATH")
    }
}
