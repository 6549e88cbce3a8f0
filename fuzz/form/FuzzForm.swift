// libFuzzer target over Twilio's inbound path: form decoding (FormEncoding), the webhook
// signature check (TwilioSignature, TwilioWebhook.verifiedParams, form and bodySHA256/JSON
// variants), the inbound/status mapping, and TwiML writing and reading.
//
// Input: the request body; its first line (up to a newline) also serves as a query string
// and as reply text. Properties checked:
// - no crash;
// - a parsed form encodes and parses back to the same pairs;
// - a signature computed for (URL, params) is accepted, and refused for another token;
// - a reply written as TwiML reads back as the text's parts (text free of characters
//   XML 1.0 cannot carry);
// - FormEncoding.escape output is plain ASCII.
//
// Built with -DFUZZING and coverage by scripts/fuzz.sh (scripts/fuzz-build.py); the plain
// build makes a replay driver: `fuzz-form FILE|DIR...` runs each input once.
import TwilioCore

enum FormTarget {
    static let checker = TwilioSignature(authToken: "fuzz-token")
    static let other = TwilioSignature(authToken: "another-token")

    static func run(_ input: [UInt8]) {
        let firstLine = Array(input.prefix { $0 != 0x0A })
        let text = String(decoding: firstLine, as: UTF8.self)
        let url = "https://gw.example/twilio/sms?" + text
        _ = FormEncoding.queryValue(url, "bodySHA256")

        if let pairs = try? FormEncoding.parse(input) {
            let encoded = FormEncoding.encode(pairs)
            guard encoded.utf8.allSatisfy({ $0 < 0x80 }) else { fatalError("escape produced non-ASCII: \(encoded)") }
            guard let again = try? FormEncoding.parse(Array(encoded.utf8)) else { fatalError("re-encoded form does not parse: \(encoded)") }
            guard again.map(\.0) == pairs.map(\.0), again.map(\.1) == pairs.map(\.1) else { fatalError("form round trip changed the pairs") }
            let plainURL = "https://gw.example/twilio/sms"
            for algorithm in [TwilioSignature.Algorithm.hmacSHA1, .hmacSHA256] {
                let sig = checker.compute(url: plainURL, params: pairs, algorithm: algorithm)
                guard checker.isValid(signature: sig, url: plainURL, params: pairs, algorithm: algorithm) else { fatalError("own signature refused") }
                if other.isValid(signature: sig, url: plainURL, params: pairs, algorithm: algorithm) { fatalError("signature of another token accepted") }
                let headers = [("x-twilio-signature", sig), ("x-twilio-webhooks-signature-settings", algorithm == .hmacSHA1 ? "" : "algorithm=HMAC_SHA256")]
                do {
                    let params = try TwilioWebhook.verifiedParams(signature: checker, headers: headers, body: input, publicURL: plainURL)
                    _ = try? TwilioWebhook.inbound(params)
                    _ = try? TwilioWebhook.statusUpdate(params)
                } catch {
                    fatalError("a correctly signed form was refused: \(error)")
                }
            }
            _ = try? TwilioWebhook.inbound(pairs)
            _ = try? TwilioWebhook.statusUpdate(pairs)
        }
        // Hostile headers and URLs: whatever they say, no crash, and no acceptance
        // with a signature the fuzzer made up.
        let forged = [("x-twilio-signature", text), ("x-twilio-webhooks-signature-settings", text)]
        if let p = try? TwilioWebhook.verifiedParams(signature: checker, headers: forged, body: input, publicURL: url) {
            _ = try? TwilioWebhook.inbound(p)
            _ = p
            // Only possible if the fuzzer found an HMAC: impossible in practice.
            fatalError("a forged signature was accepted")
        }
        _ = try? TwilioWebhook.verifiedParams(signature: checker, headers: [], body: input, publicURL: url + "&bodySHA256=x", validate: false)
        _ = TwilioSignature.algorithm(settingsHeader: text)
        _ = TwilioSignature.urlVariants(url)

        // TwiML: write the text as a reply and read it back.
        let body = String(decoding: input, as: UTF8.self)
        let doc = TwiML.reply(body)
        let parts = TwiML.messages(in: doc)
        let xmlSafe = body.unicodeScalars.allSatisfy { s in
            (s.value >= 0x20 || s == "\t" || s == "\n" || s == "\r") && s.value != 0xFFFE && s.value != 0xFFFF
        }
        if xmlSafe {
            let split = body.isEmpty ? [] : MessageSplitter.split(body, maxCharacters: MessageSplitter.maxCharacters)
            if parts != split { fatalError("TwiML round trip changed the reply: \(parts.count) parts, expected \(split.count)") }
        }
        _ = TwiML.messages(in: body)
        _ = TwiML.unescape(Substring(body))
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FormTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
import FuzzSupport

/// Replay driver (the plain build): `fuzz-form FILE|DIR...` runs each input once.
@main enum Replay {
    static func main() { FuzzReplay.main(FormTarget.run) }
}
#endif
