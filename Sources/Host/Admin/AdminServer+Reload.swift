import Foundation

/// POST /api/v1/reload (operator): re-reads the gateway's config file and applies it, or
/// refuses it as a whole. 200 with what changed; 422 `config_refused` with every problem
/// (`problems`, and `text` exactly as `darkspere check` prints them); the running config
/// stays. The body, if any, must be an empty JSON object (400 otherwise). Runs the reload on a task of its own (it may wait for plugins' create()).
extension AdminServer {
    func reload(_ call: AdminRequest, _ response: HTTPResponder) {
        do { try call.only([]); _ = try call.body([:], required: []) } catch let e as AdminError { return Self.send(response, e) } catch { return }
        let trigger = "admin:\(call.token.name)"
        Task {
            let outcome = await reloader(trigger)
            if outcome.ok { return Self.send(response, 200, outcome.json) }
            var body = outcome.json
            if case .object(var f) = body {
                f.insert(("error", .object([("code", .string("config_refused")),
                                            ("message", .string("the new config was refused; the running config stays: " + outcome.problems.joined(separator: "; ")))])), at: 0)
                body = .object(f)
            }
            Self.send(response, 422, body)
        }
    }
}
