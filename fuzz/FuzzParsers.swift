// libFuzzer target over the request path's parsers: the Twilio webhook (form and signed
// JSON variants, signature checks, normalisation into an inbound message or a status
// update), the form decoder, the TwiML writer and reader, and the host's JSON parser.
// Built by scripts/fuzz.sh with `swiftc -sanitize=fuzzer,address` from the sources listed
// there; a crash, an assertion below or a hang (-timeout) is a finding.
//
// Properties checked, besides "no crash": a JSON value survives serialise → parse; a form
// survives encode → parse; any text survives TwiML's escape → document → messages (after
// the documented replacement of characters XML forbids).
import Foundation

let token = "fuzz-token-0123456789abcdef012345"
let checker = TwilioSignature(authToken: token)
let publicURL = "https://sms.example.com/twilio/sms"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)

    // The host's JSON parser: whatever parses serialises to text that parses to the same value.
    if let v = try? JSONValue.parse(text) {
        let again = try? JSONValue.parse(v.text)
        precondition(again == v || v.containsNaN, "JSON round trip changed \(v.text)")
    }

    // The form decoder, and its encoder as the inverse.
    if let pairs = try? FormEncoding.parse(bytes) {
        let back = try? FormEncoding.parse(Array(FormEncoding.encode(pairs).utf8))
        precondition(back.map { $0.map(\.0) == pairs.map(\.0) && $0.map(\.1) == pairs.map(\.1) } ?? false, "form round trip changed \(pairs)")
    }

    // The webhook: unsigned, signed for this exact body (the signature check then passes and
    // normalisation runs on hostile fields), and the bodySHA256 JSON variant.
    _ = try? TwilioWebhook.verifiedParams(signature: checker, headers: [], body: bytes, publicURL: publicURL, validate: false)
    if let params = try? FormEncoding.parse(bytes) {
        let sig = checker.compute(url: publicURL, params: params)
        if let p = try? TwilioWebhook.verifiedParams(signature: checker, headers: [("x-twilio-signature", sig)], body: bytes, publicURL: publicURL) {
            _ = try? TwilioWebhook.inbound(p)
            _ = try? TwilioWebhook.statusUpdate(p)
        }
    }
    _ = try? TwilioWebhook.verifiedParams(signature: checker, headers: [("x-twilio-signature", "x"), ("x-twilio-webhooks-signature-settings", text)],
                                          body: bytes, publicURL: publicURL + "?bodySHA256=" + text.prefix(64), validate: false)

    // TwiML: any reply text comes back out of the document it is written into.
    let doc = TwiML.response(messages: [text])
    let read = TwiML.messages(in: doc)
    let expected = [TwiML.unescape(Substring(TwiML.escape(text)))]
    precondition(read == expected, "TwiML round trip: \(read) != \(expected)")
    _ = TwiML.messages(in: text)
    _ = TwiML.reply(text, maxCharacters: 160)
    return 0
}

extension JSONValue {
    /// NaN is not equal to itself; such values are exempt from the equality check.
    var containsNaN: Bool {
        switch self {
        case .number(let d): return d.isNaN
        case .array(let a): return a.contains { $0.containsNaN }
        case .object(let o): return o.contains { $0.1.containsNaN }
        default: return false
        }
    }
}

/// The host's JSONValue quotes strings with the host's JSONText (in ConfigLoader.swift, which
/// this target does not build); the Twilio core's JSONText writes the same JSON strings.
extension JSONText {
    static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        string(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
