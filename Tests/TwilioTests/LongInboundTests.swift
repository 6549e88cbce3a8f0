import Foundation
import Host
import Testing
import TwilioCore

/// An inbound SMS longer than 1,600 characters reaches the agent whole (issue 15: it was
/// cut to 1,600 characters silently before being stored).
@Suite(.serialized) struct LongInboundTests {
    @Test func aLongInboundTextReachesTheAgentWhole() async throws {
        try await Support.withGateway(Support.gatewayYAML()) { _, port in
            let text = (0..<400).map { "w\($0)" }.joined(separator: " ") + " END"   // ~1,800 characters
            #expect(text.count > 1600)
            let p = Support.smsParams(body: text)
            let signed = Support.signedForm(p)
            let r = try await Support.post(port: port, path: "/twilio/sms", body: signed.body, headers: ["X-Twilio-Signature": signed.signature])
            #expect(r.status == 200)
            // The echo agent answers "echo: <text> (history: 0)", split into ≤1,600-character messages.
            let reply = TwiML.messages(in: r.body).joined()
            #expect(reply.contains(" END (history: 0)"))
            #expect(reply.replacingOccurrences(of: " ", with: "").contains(text.replacingOccurrences(of: " ", with: "")))
        }
    }
}
