import Foundation
import Testing
@testable import Host

/// `darkspere check` reports every problem in one run, with one form of key path, and
/// asks the plugins (ABI 1.2 validate_config / validate_agent_config); the schema subset
/// is exactly the documented one.
@Suite struct ConfigCheckTests {
    func write(_ yaml: String) throws -> String {
        let path = TestSupport.tempDir() + "/plugins.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func everyProblemInOneRun() throws {
        let yaml = TestSupport.yaml(plugins: """
              - id: ghost
                library: ./no-such-plugin.so
              - id: a12
                library: \(TestSupport.library("fixture-abi12"))
                config: { url: "http://plain.example", mode: b, strict: true }
            """, agents: """
              - name: bot
                transport: a12
                config: { bad: true }
              - name: chatty
                transport: a12
                config: { greeting: "this greeting is far too long" }
            """, extra: "routing:\n  histroy_depth: 3\n")
            .replacingOccurrences(of: "public_url: http://gateway.test", with: "public_url: ${DARKSPERE_TEST_UNSET}")
        let path = try write(yaml)
        let report = ConfigCheck.run(path: path, environment: [:])
        #expect(!report.ok)
        let text = report.text
        #expect(text.contains("7 problems"), "\(text)")
        // The file's own problems...
        #expect(text.contains("server.public_url: environment variable DARKSPERE_TEST_UNSET is not set"), "\(text)")
        #expect(text.contains("routing.histroy_depth: unknown key (did you mean 'history_depth'?)"), "\(text)")
        // ...and, in the same run, the missing library and what the plugin itself says.
        #expect(text.contains("no-such-plugin.so does not exist"), "\(text)")
        #expect(text.contains("plugins[1]: config.url: must start with https://"), "\(text)")
        #expect(text.contains("plugins[1]: config.mode: \"b\" cannot be strict"), "\(text)")
        #expect(text.contains("agents[0]: config.bad: must not be true"), "\(text)")
        #expect(text.contains("agents[1].config.greeting: must be at most 20 characters"), "\(text)")
    }

    @Test func aValidConfigPassesThePluginsOwnChecks() throws {
        let path = try write(TestSupport.yaml(plugins: """
              - id: a12
                library: \(TestSupport.library("fixture-abi12"))
                config: { url: "https://ok.example" }
            """, agents: "  - name: bot\n    transport: a12\n"))
        let report = ConfigCheck.run(path: path, environment: [:])
        #expect(report.ok, "\(report.text)")
    }

    @Test func pluginsListsLibrariesTheConfigLoadsByPath() throws {
        let dir = TestSupport.tempDir()
        try FileManager.default.copyItem(atPath: TestSupport.library("fixture-abi12"), toPath: dir + "/my-plugin.so")
        let path = dir + "/plugins.yaml"
        try "plugin_path: [\"\(dir)/empty\"]\nplugins:\n  - id: mine\n    library: ./my-plugin.so\n".write(toFile: path, atomically: true, encoding: .utf8)
        let text = PluginListing.table(configPath: path)
        #expect(text.contains("abi12") && text.contains(dir + "/my-plugin.so"), "\(text)")
    }

    @Test func unknownSchemaKeywordsAreFound() throws {
        let s = try JSONSchema(json: #"""
            {"type":"object","properties":{"name":{"type":"string","minLenght":3},
             "list":{"type":"array","items":{"type":"string","patern":"x"}},
             "pick":{"oneOf":[{"type":"string"},{"type":"integer","maximun":3}]}},
             "description":"ignored","$schema":"ignored","additionalProperties":false}
            """#)
        #expect(s.unknownKeywords == ["properties.name.minLenght", "properties.list.items.patern", "properties.pick.oneOf[1].maximun"])
    }

    @Test func theSubsetBeyond11() throws {
        let s = try JSONSchema(json: #"""
            {"type":"object","properties":{
              "code":{"type":"string","minLength":1,"maxLength":4},
              "kind":{"enum":["sms","mms"],"default":"sms"},
              "port":{"anyOf":[{"type":"integer","minimum":1},{"type":"string","pattern":"^\\$\\{"}]},
              "target":{"oneOf":[{"type":"string","pattern":"^https://"},{"type":"string","pattern":"^https://x"}]},
              "tags":{"type":"array","minItems":1,"maxItems":2},
              "version":{"const":2},
              "nested":{"type":"object","properties":{"depth":{"type":"integer","default":3}},"default":{}}}}
            """#)
        #expect(s.validate(json: #"{"code":"ab","port":80,"target":"https://a","tags":["a"],"version":2}"#).isEmpty)
        let v = s.validate(json: #"{"code":"","port":0,"target":"https://x","tags":[],"version":3,"kind":"fax"}"#)
        #expect(v.contains(.init(path: "code", message: "must be at least 1 character")))
        #expect(v.contains(.init(path: "port", message: "matches none of the 2 allowed forms (anyOf)")))
        #expect(v.contains(.init(path: "target", message: "matches 2 of the allowed forms, but must match exactly one (oneOf)")))
        #expect(v.contains(.init(path: "tags", message: "must have at least 1 item")))
        #expect(v.contains(.init(path: "version", message: "must be 2, got 3")))
        #expect(v.contains { $0.path == "kind" && $0.message.hasPrefix("must be one of") })
        #expect(s.validate(json: #"{"code":"abcde"}"#) == [.init(path: "code", message: "must be at most 4 characters")])
        // Defaults: absent properties filled, present ones kept, nested objects too.
        #expect(s.applyingDefaults(json: #"{"code":"x"}"#) == #"{"code":"x","kind":"sms","nested":{"depth":3}}"#)
        #expect(s.applyingDefaults(json: #"{"kind":"mms","nested":{"depth":1}}"#) == #"{"kind":"mms","nested":{"depth":1}}"#)
    }
}
