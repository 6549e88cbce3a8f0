import Testing
@testable import Host

@Suite struct ConfigLoaderTests {
    func load(_ yaml: String, env: [String: String] = [:]) throws -> GatewayConfig {
        try ConfigLoader(environment: env).load(yaml: yaml)
    }

    func problems(_ yaml: String, env: [String: String] = [:]) -> [ConfigProblem] {
        do { _ = try load(yaml, env: env); return [] } catch let e as ConfigErrors { return e.problems } catch { return [] }
    }

    @Test func defaultsWhenSectionsAreMissing() throws {
        let c = try load("plugins: []\n")
        #expect(c.server.host == "127.0.0.1" && c.server.port == 8080)
        #expect(c.routing.sessionTimeout == 1800 && c.routing.historyDepth == 20 && c.routing.inlineReplyBudget == 5)
        #expect(c.store.url == "sqlite:data/darkspere.sqlite")
    }

    @Test func interpolatesVariablesAndDefaults() throws {
        let c = try load("""
            server:
              listen: ${HOST:-0.0.0.0}:${PORT}
              public_url: https://${DOMAIN:-example.org}/sms
            plugins:
              - id: tw
                library: twilio
                config:
                  auth_token: ${TOKEN}
                  port: ${PORT}
                  literal: "$${NOT_A_VAR}"
            """, env: ["PORT": "9090", "TOKEN": "s3cret"])
        #expect(c.server.host == "0.0.0.0" && c.server.port == 9090)
        #expect(c.server.publicURL == "https://example.org/sms")
        let cfg = try JSONValue.parse(c.plugins[0].configJSON)
        #expect(cfg["auth_token"] == .string("s3cret"))
        #expect(cfg["port"] == .number(9090))
        #expect(cfg["literal"] == .string("${NOT_A_VAR}"))
    }

    @Test func missingVariableNamesKeyAndLine() {
        let p = problems("""
            server:
              listen: 127.0.0.1:8080
              public_url: ${PUBLIC_URL}
            """)
        #expect(p == [ConfigProblem(path: "server.public_url", line: 3, message: "environment variable PUBLIC_URL is not set (use ${PUBLIC_URL:-default} for a default)")])
    }

    @Test func unknownKeysAreErrorsWithSuggestion() {
        let p = problems("""
            server:
              lisen: 127.0.0.1:80
            routing:
              history_dept: 5
            colour: blue
            """)
        #expect(p.count == 3)
        #expect(p[0] == ConfigProblem(path: "server.lisen", line: 2, message: "unknown key (did you mean 'listen'?)"))
        #expect(p[1].path == "routing.history_dept" && p[1].line == 4)
        #expect(p[2].path == "colour" && p[2].line == 5 && p[2].message.hasPrefix("unknown key"))
    }

    @Test func billingSection() throws {
        let c = try load("""
            plugins: [{ id: pay, library: stripe }]
            billing: { provider: pay, report_interval: 30s, past_due: deny, canceled: allow, quota_reply: "no more" }
            """)
        #expect(c.billing.provider == "pay" && c.billing.reportInterval == 30 && c.billing.quotaReply == "no more")
        #expect(c.billing.effect(of: .pastDue) == .deny && c.billing.effect(of: .canceled) == .allow && c.billing.effect(of: .active) == .allow)
        #expect(try load("plugins: []\n").billing == BillingConfig())
        let p = problems("""
            plugins: []
            billing:
              provider: nowhere
              past_due: maybe
              report_intervl: 5s
            """)
        #expect(p.map(\.path).sorted() == ["billing.past_due", "billing.provider", "billing.report_intervl"], "\(p)")
        #expect(p.contains { $0.path == "billing.past_due" && $0.line == 4 && $0.message.contains("expected allow or deny, got 'maybe'") })
        #expect(p.contains { $0.path == "billing.report_intervl" && $0.message.contains("did you mean 'report_interval'") })
        #expect(p.contains { $0.path == "billing.provider" && $0.message.contains("no enabled plugin with id 'nowhere'") })
    }

    @Test func wrongTypesNameKeyAndLine() {
        let p = problems("""
            server:
              listen: nowhere
              max_body_bytes: lots
            routing:
              history_depth: 500
              session_timeout: forever
            plugins:
              - id: x
                library: y
                enabled: maybe
            agents: notalist
            """)
        #expect(p.map(\.path) == ["server.listen", "server.max_body_bytes", "routing.history_depth", "routing.session_timeout", "plugins[0].enabled", "agents"])
        #expect(p.map(\.line) == [2, 3, 5, 6, 10, 11])
        #expect(p[1].message == "expected an integer, got 'lots'")
        #expect(p[2].message == "must be at most 50, got 500")
        #expect(p[5].message == "expected a list, found a scalar")
    }

    @Test func everyProblemIsListedAtOnce() {
        let p = problems("""
            plugins:
              - library: a
              - id: Bad Id
                library: b
              - id: dup
                library: c
              - id: dup
                library: d
            agents:
              - name: bot
                transport: nothere
            """)
        #expect(p.contains { $0.path == "plugins[0].id" && $0.message.contains("missing") })
        #expect(p.contains { $0.path == "plugins[1].id" && $0.line == 3 })
        #expect(p.contains { $0.message == "duplicate plugin id 'dup' (first at line 5)" && $0.line == 7 })
        #expect(p.contains { $0.path == "agents[0].transport" && $0.message == "no plugin with id 'nothere'" })
    }

    @Test func invalidYAMLIsReported() {
        let p = problems("server: [unclosed\n")
        #expect(p.count == 1 && p[0].message.hasPrefix("not valid YAML"))
    }

    @Test func durations() {
        #expect(Reader.parseDuration("250ms") == 0.25)
        #expect(Reader.parseDuration("5m") == 300)
        #expect(Reader.parseDuration("30d") == 2_592_000)
        #expect(Reader.parseDuration("12") == 12)
        #expect(Reader.parseDuration("-1s") == nil)
        #expect(Reader.parseDuration("soon") == nil)
    }

    @Test func secretsAreRedacted() throws {
        let v = try JSONValue.parse(#"{"auth_token":"abc","nested":{"api_key":"k","url":"postgres://u:pw@h/db"},"name":"x"}"#)
        let r = Redactor.redact(v)
        #expect(r.text == #"{"auth_token":"***","nested":{"api_key":"***","url":"postgres://u:***@h/db"},"name":"x"}"#)
    }

    /// libpq takes a password in the query too (a socket URL has no userinfo to put it in):
    /// `darkspere check` and the start-up error printed these whole.
    @Test func urlPasswordsAreRedactedWherePostgresTakesThem() {
        #expect(Redactor.redactURL("postgresql:///ds?host=/run/postgresql&user=ds&password=hunter2")
                == "postgresql:///ds?host=/run/postgresql&user=ds&password=***")
        #expect(Redactor.redactURL("postgres://u:pw@h:5432/db?sslmode=require&sslpassword=k1&application_name=gw")
                == "postgres://u:***@h:5432/db?sslmode=require&sslpassword=***&application_name=gw")
        // A raw "@" or "/" in the password: the whole of it is hidden, not the part after them.
        #expect(Redactor.redactURL("postgres://u:p@ss/w@h/db") == "postgres://u:***@h/db")
        // An "@" in the query is not userinfo.
        #expect(Redactor.redactURL("postgresql://h/db?password=a@b") == "postgresql://h/db?password=***")
        #expect(Redactor.redactURL("postgres://h/db") == "postgres://h/db")
        #expect(Redactor.redactURL("sqlite:data/x.sqlite") == "sqlite:data/x.sqlite")
    }

    @Test func checkDoesNotPrintAQueryPassword() throws {
        let c = try load("""
            store:
              url: "postgresql:///ds?host=/run/postgresql&password=hunter2"
            plugins: []
            """)
        let shown = ConfigCheck.effective(c)
        #expect(!shown.contains("hunter2"))
        #expect(shown.contains("password=***"))
    }
}
