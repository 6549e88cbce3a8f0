import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Host
import Logging
import TestPeers

/// Shared helpers of the Stripe tests: python3 subprocesses (the official `stripe`
/// library, the fake Stripe API), a gateway with the `stripe` plugin started in
/// process, and HTTP requests to it.
enum StripeSupport {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let repoRoot = URL(fileURLWithPath: TestPeers.repoRoot)
    static let buildDir = TestPeers.buildDir

    static let webhookSecret = "whsec_test_0123456789abcdef0123456789abcdef"
    static let apiKey = "sk_test_DO_NOT_LOG_51H0123456789"

    typealias ProcessFailure = TestPeers.ProcessFailure

    /// Runs python3 with `script` (see TestPeers.python).
    static func python(_ script: String, input: String = "") throws -> String { try TestPeers.python(script, input: input) }

    /// A `Stripe-Signature` header for `payload` made with the official library's
    /// signing helper (`stripe.WebhookSignature._compute_signature`), checked with
    /// `stripe.Webhook.construct_event` before it is returned (so the header is one
    /// Stripe's own verifier accepts). `age` seconds in the past.
    static func officialHeader(payload: String, secret: String = webhookSecret, age: Int = 0, verify: Bool = true) throws -> String {
        let input = String(decoding: try JSONSerialization.data(withJSONObject: ["payload": payload, "secret": secret, "age": age, "verify": verify]), as: UTF8.self)
        let out = try python("""
        import json, sys, time
        import stripe
        c = json.load(sys.stdin)
        t = int(time.time()) - c["age"]
        sig = stripe.WebhookSignature._compute_signature("%d.%s" % (t, c["payload"]), c["secret"])
        header = "t=%d,v1=%s" % (t, sig)
        if c["verify"]:
            event = stripe.Webhook.construct_event(c["payload"], header, c["secret"])
            assert event["id"] == json.loads(c["payload"])["id"]
        print(header)
        """, input: input)
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether the official library's `construct_event` accepts (payload, header) with its default tolerance.
    static func officialAccepts(payload: String, header: String, secret: String = webhookSecret) throws -> Bool {
        let input = String(decoding: try JSONSerialization.data(withJSONObject: ["payload": payload, "header": header, "secret": secret]), as: UTF8.self)
        let out = try python("""
        import json, sys
        import stripe
        c = json.load(sys.stdin)
        try:
            stripe.Webhook.construct_event(c["payload"], c["header"], c["secret"])
            print("yes")
        except stripe.SignatureVerificationError:
            print("no")
        """, input: input)
        return out.trimmingCharacters(in: .whitespacesAndNewlines) == "yes"
    }

    /// A Stripe event JSON (compact, as Stripe sends it).
    static func event(id: String = "evt_" + UUID().uuidString.prefix(12).lowercased(), type: String, object: [String: Any],
                      created: Int = Int(Date().timeIntervalSince1970)) -> String {
        let e: [String: Any] = ["id": id, "object": "event", "api_version": "2024-06-20", "created": created,
                                "type": type, "livemode": false, "data": ["object": object]]
        return String(decoding: try! JSONSerialization.data(withJSONObject: e, options: [.sortedKeys]), as: UTF8.self)
    }

    /// A subscription object on one price with `lookupKey`.
    static func subscription(customer: String, lookupKey: String, status: String = "active") -> [String: Any] {
        ["id": "sub_123", "object": "subscription", "customer": customer, "status": status,
         "items": ["object": "list", "data": [["id": "si_1", "object": "subscription_item",
                                               "price": ["id": "price_1", "object": "price", "lookup_key": lookupKey]]]]]
    }

    /// The fake Stripe API (shared with the host's billing tests).
    typealias FakeStripe = TestPeers.FakeStripe

    // MARK: Gateway in process

    /// A gateway with two accounts and the stripe plugin.
    static func gatewayYAML(apiBase: String = "http://127.0.0.1:9", interval: Int = 60_000, extra: String = "") -> String {
        """
        server:
          listen: 127.0.0.1:0
        store:
          url: "sqlite::memory:"
        plugin_path: [\(buildDir)]
        accounts:
          - id: acme
            name: Acme Inc.
            stripe_customer_id: cus_acme
            tier: free
          - id: globex
            name: Globex
            stripe_customer_id: cus_globex
            tier: pro
        plugins:
          - id: stripe
            library: stripe
            config:
              api_key: "\(apiKey)"
              api_base: \(apiBase)
              webhook_secret: "\(webhookSecret)"
              meter_events:
                sms_inbound: ds_sms_inbound
                agent_messages: ds_agent_messages
              price_tiers:
                darkspere_pro_monthly: pro
                darkspere_enterprise: enterprise
        billing:
          report_interval: \(interval)ms
        \(extra)
        """
    }

    /// Starts a gateway, runs `body` with it and its port, stops it.
    static func withGateway<T>(_ yaml: String, _ body: (Gateway, Int) async throws -> T) async throws -> T {
        let g = Gateway(config: try ConfigLoader().load(yaml: yaml), logger: Logger(label: "stripe-test"), runtime: HostRuntime(logLevel: .error))
        let port = try await g.start()
        do {
            let r = try await body(g, port)
            await g.stop()
            return r
        } catch {
            await g.stop()
            throw error
        }
    }

    struct Response { var status: Int; var body: String }

    /// POSTs a webhook to the gateway on loopback.
    static func post(port: Int, path: String = "/stripe/webhook", body: String, signature: String?) async throws -> Response {
        var req = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        req.httpMethod = "POST"
        req.httpBody = Data(body.utf8)
        req.setValue("application/json; charset=utf-8", forHTTPHeaderField: "Content-Type")
        if let signature { req.setValue(signature, forHTTPHeaderField: "Stripe-Signature") }
        let (data, resp) = try await URLSession.shared.data(for: req)
        return Response(status: (resp as! HTTPURLResponse).statusCode, body: String(decoding: data, as: UTF8.self))
    }
}
