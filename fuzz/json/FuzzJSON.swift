// libFuzzer target over the JSON parsers of the request path: the host's JSONValue (config,
// admin API), Telegram's update parsing, the Twilio JSON (bodySHA256) webhook variant and
// the web chat's token and query checks.
//
// Input: JSON text (any bytes). Properties checked:
// - no crash;
// - what JSONValue parses, its `text` parses back to the same value;
// - what the channels' JSON reader parses, JSONWriter writes back to the same value;
// - a web chat token made up by the fuzzer is never valid.
//
// Built with -DFUZZING and coverage by scripts/fuzz.sh (scripts/fuzz-build.py); the plain
// build makes a replay driver: `fuzz-json FILE|DIR...` runs each input once.
import Host
import TelegramCore
import TwilioCore
import WebChatCore
import ChannelSupport

enum JSONTarget {
    static let tokens = VisitorToken(secret: "fuzz-secret")

    static func run(_ input: [UInt8]) {
        let text = String(decoding: input, as: UTF8.self)
        if let v = try? JSONValue.parse(text) {
            let out = v.text
            guard let again = try? JSONValue.parse(out) else { fatalError("JSONValue.text wrote invalid JSON: \(out.prefix(200))") }
            guard again == v else { fatalError("JSONValue round trip changed the value: \(out.prefix(200))") }
            _ = v.typeName
        }
        // The channels' hand-written reader (ChannelSupport.JSON): what it reads, JSONWriter
        // writes back to text it reads as the same value.
        if let v = try? JSON.parse(input) {
            var w = JSONWriter()
            w.value(v)
            guard let again = try? JSON.parse(w.bytes), again == v else { fatalError("JSON/JSONWriter round trip changed the value: \(w.text.prefix(200))") }
        }
        _ = try? WebChatPost.parse(input, maxLength: 2000)
        if let u = try? TelegramUpdate.parse(json: input) {
            _ = u.chatId
            _ = u.channelMessageId
        }
        _ = try? TwilioWebhook.verifiedParams(signature: TwilioSignature(authToken: "t"), headers: [], body: input,
                                             publicURL: "https://gw.example/twilio/sms?bodySHA256=x", validate: false)
        if case .valid = tokens.verify(text, now: 0) { fatalError("a made-up web chat token was accepted") }
        _ = QueryString.value(text, "visitor")
        _ = QueryString.encode(text)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    JSONTarget.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !FUZZING
import FuzzSupport

/// Replay driver (the plain build): `fuzz-json FILE|DIR...` runs each input once.
@main enum Replay {
    static func main() { FuzzReplay.main(JSONTarget.run) }
}
#endif
