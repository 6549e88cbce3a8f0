import Foundation
import Testing
@testable import TwilioCore
import Digests

/// X-Twilio-Signature: our computation against the official twilio library's.
@Suite struct SignatureTests {
    let token = Support.authToken
    let params: [String: String] = [
        "MessageSid": "SM1234567890abcdef1234567890abcdef", "From": "+15551234567", "To": "+15557654321",
        "Body": "Hé & <ok> = 100% + ünïcödé 🤖", "NumMedia": "0", "AccountSid": Support.accountSid,
        "a": "", "Zeta": "last?", "zeta": "lower",
    ]

    @Test func sha1AndSha256MatchKnownVectors() {
        #expect(Digest.hex(Digest.sha1(Array("abc".utf8))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.hex(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array(String(repeating: "a", count: 1_000).utf8)
        #expect(Digest.hex(Digest.sha1(long)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
        // RFC 2202 / RFC 4231 HMAC test case 2.
        #expect(Digest.hex(Digest.hmac(.sha1, key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))) == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
        #expect(Digest.hex(Digest.hmac(.sha256, key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func hmacMatchesPython() throws {
        var cases: [[String: Any]] = []
        var ours: [String] = []
        for keyLength in [0, 1, 20, 63, 64, 65, 100] {
            let key = (0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
            for messageLength in [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
                let m = (0..<messageLength).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
                let mac = Digest.hex(Digest.hmac(.sha1, key: key, message: m))
                // The prepared key (inner and outer pad states made once) gives the same bytes.
                #expect(Digest.hex(Digest.HMACKey(.sha1, key: key).mac(m)) == mac, "key \(keyLength) message \(messageLength)")
                #expect(Digest.HMACKey(.sha256, key: key).mac(m) == Digest.hmac(.sha256, key: key, message: m), "key \(keyLength) message \(messageLength)")
                cases.append(["k": Digest.hex(key), "m": Digest.hex(m)])
                ours.append(mac)
            }
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: cases), as: UTF8.self)
        let out = try Support.python("""
        import hmac, hashlib, json, sys
        print(json.dumps([hmac.new(bytes.fromhex(c["k"]), bytes.fromhex(c["m"]), hashlib.sha1).hexdigest() for c in json.load(sys.stdin)]))
        """, input: json)
        #expect(try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String] == ours)
    }

    @Test func matchesOfficialLibraryForManyURLsAndParams() throws {
        let urls = ["https://sms.example.com/twilio/sms", "https://sms.example.com:443/twilio/sms",
                    "http://127.0.0.1:8080/twilio/sms?x=1&y=%20z", "https://example.com/twilio/sms?bodySHA256=abc"]
        var cases: [(token: String, url: String, params: [String: String], algorithm: String?)] = []
        for u in urls { cases.append((token, u, params, nil)); cases.append((token, u, [:], nil)) }
        cases.append((token, urls[0], params, "HMAC_SHA256"))
        let official = try Support.officialSignatures(cases)
        let signer = TwilioSignature(authToken: token)
        for (c, expected) in zip(cases, official) {
            let alg: TwilioSignature.Algorithm = c.algorithm == "HMAC_SHA256" ? .hmacSHA256 : .hmacSHA1
            let ours = signer.compute(url: c.url, params: c.params.map { ($0.key, $0.value) }, algorithm: alg)
            #expect(ours == expected, "url \(c.url) params \(c.params.count)")
            #expect(signer.isValid(signature: expected, url: c.url, params: c.params.map { ($0.key, $0.value) }, algorithm: alg))
        }
    }

    @Test func refusesTamperedParamWrongTokenWrongURL() throws {
        let url = "https://sms.example.com/twilio/sms"
        let sig = try Support.officialSignatures([(token, url, params, nil)])[0]
        let signer = TwilioSignature(authToken: token)
        let pairs = params.map { ($0.key, $0.value) }
        #expect(signer.isValid(signature: sig, url: url, params: pairs))
        var tampered = params; tampered["Body"] = "Hé & <ok> = 100% + ünïcödé 🤖!"
        #expect(!signer.isValid(signature: sig, url: url, params: tampered.map { ($0.key, $0.value) }))
        var added = pairs; added.append(("Extra", "1"))
        #expect(!signer.isValid(signature: sig, url: url, params: added))
        #expect(!TwilioSignature(authToken: "wrong-token-wrong-token-wrong-to").isValid(signature: sig, url: url, params: pairs))
        #expect(!signer.isValid(signature: sig, url: "https://evil.example.com/twilio/sms", params: pairs))
        #expect(!signer.isValid(signature: sig, url: url + "?a=1", params: pairs))
        #expect(!signer.isValid(signature: "", url: url, params: pairs))
        #expect(!signer.isValid(signature: String(sig.dropLast()) + "A", url: url, params: pairs))
        // The official validator agrees on both sides.
        #expect(try Support.officialValidate(token: token, url: url, params: params, signature: sig))
        #expect(!(try Support.officialValidate(token: token, url: url, params: tampered, signature: sig)))
    }

    @Test func acceptsPortVariantsLikeTwilio() throws {
        let signer = TwilioSignature(authToken: token)
        let pairs = params.map { ($0.key, $0.value) }
        let sigs = try Support.officialSignatures([
            (token, "https://sms.example.com/twilio/sms", params, nil),
            (token, "https://sms.example.com:443/twilio/sms", params, nil),
            (token, "http://gw.example.com:80/twilio/sms?q=1", params, nil),
        ])
        // Signed without the port, received with it, and the other way round.
        #expect(signer.isValid(signature: sigs[0], url: "https://sms.example.com:443/twilio/sms", params: pairs))
        #expect(signer.isValid(signature: sigs[1], url: "https://sms.example.com/twilio/sms", params: pairs))
        #expect(signer.isValid(signature: sigs[2], url: "http://gw.example.com/twilio/sms?q=1", params: pairs))
        // Like twilio-python's validate(), a URL received on another port matches the
        // port-less signature (remove_port drops any port) ...
        #expect(signer.isValid(signature: sigs[0], url: "https://sms.example.com:8443/twilio/sms", params: pairs))
        #expect(try Support.officialValidate(token: token, url: "https://sms.example.com:8443/twilio/sms", params: params, signature: sigs[0]))
        // ... but a signature made for one explicit port does not match another.
        let sig8443 = try Support.officialSignatures([(token, "https://sms.example.com:8443/twilio/sms", params, nil)])[0]
        #expect(!signer.isValid(signature: sig8443, url: "https://sms.example.com:9443/twilio/sms", params: pairs))
        #expect(!(try Support.officialValidate(token: token, url: "https://sms.example.com:9443/twilio/sms", params: params, signature: sig8443)))
        #expect(!signer.isValid(signature: sig8443, url: "https://sms.example.com/twilio/sms", params: pairs))
        #expect(TwilioSignature.urlVariants("https://h.example/p?x=1") == ["https://h.example/p?x=1", "https://h.example:443/p?x=1"])
        #expect(TwilioSignature.urlVariants("http://h:8080/p") == ["http://h:8080/p", "http://h/p"])
    }

    @Test func bodySHA256Variant() throws {
        let body = #"{"MessageSid":"SM1","From":"+15551234567","To":"+15557654321","Body":"hi"}"#
        let hash = try Support.python("import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())", input: body)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hash == Digest.hex(Digest.sha256(Array(body.utf8))))
        let url = "https://sms.example.com/twilio/sms?bodySHA256=\(hash)"
        let sig = try Support.officialSignatures([(token, url, [:], nil)])[0]
        let signer = TwilioSignature(authToken: token)
        #expect(signer.isValidBodySHA256(signature: sig, url: url, body: Array(body.utf8)))
        #expect(signer.isValidBodySHA256(signature: sig, url: "https://sms.example.com:443/twilio/sms?bodySHA256=\(hash)", body: Array(body.utf8)))
        #expect(!signer.isValidBodySHA256(signature: sig, url: url, body: Array(body.replacingOccurrences(of: "hi", with: "ho").utf8)))
        #expect(!signer.isValidBodySHA256(signature: sig, url: "https://sms.example.com/twilio/sms", body: Array(body.utf8)))
        // Through the webhook reader: parameters come from the JSON body.
        let params = try TwilioWebhook.verifiedParams(signature: signer, headers: [("x-twilio-signature", sig)], body: Array(body.utf8), publicURL: url)
        #expect(params.first { $0.0 == "Body" }?.1 == "hi")
        #expect(throws: TwilioWebhook.Rejection.self) {
            try TwilioWebhook.verifiedParams(signature: signer, headers: [("x-twilio-signature", sig)], body: Array((body + " ").utf8), publicURL: url)
        }
    }

    @Test func webhookReaderRefusesMissingOrBadSignatureAndMalformedForms() throws {
        let signer = TwilioSignature(authToken: token)
        let url = "https://sms.example.com/twilio/sms"
        let p = Support.smsParams(body: "hello")
        let sig = signer.compute(url: url, params: p)
        let body = Array(FormEncoding.encode(p).utf8)
        #expect(try TwilioWebhook.verifiedParams(signature: signer, headers: [("x-twilio-signature", sig)], body: body, publicURL: url).count == p.count)
        #expect(throws: TwilioWebhook.Rejection.forbidden("missing X-Twilio-Signature")) {
            try TwilioWebhook.verifiedParams(signature: signer, headers: [], body: body, publicURL: url)
        }
        #expect(throws: TwilioWebhook.Rejection.forbidden("invalid X-Twilio-Signature")) {
            try TwilioWebhook.verifiedParams(signature: signer, headers: [("x-twilio-signature", sig)], body: body + Array("&x=1".utf8), publicURL: url)
        }
        #expect(throws: TwilioWebhook.Rejection.self) {
            try TwilioWebhook.verifiedParams(signature: signer, headers: [("x-twilio-signature", sig)], body: Array("a=%zz".utf8), publicURL: url)
        }
    }
}

/// The byte order signatures and metadata sort by: `utf8Precedes` is `utf8.lexicographicallyPrecedes`.
@Suite struct UTF8OrderTests {
    @Test func agreesWithTheGenericByteOrder() {
        let pieces = ["", "a", "A", "z", "Z", "é", "e", "ü", "🤖", "\u{0}", "~", "MessageSid", "MessageSi", "Body", "body"]
        var strings = pieces
        for a in pieces { for b in pieces { strings.append(a + b) } }
        strings.append(String(repeating: "x", count: 40))           // a native (non-small) string
        strings.append(String(repeating: "x", count: 40) + "y")
        for a in strings {
            for b in strings {
                #expect(a.utf8Precedes(b) == a.utf8.lexicographicallyPrecedes(b.utf8), "\(a.debugDescription) < \(b.debugDescription)")
            }
        }
    }
}
