import Testing
@testable import Host

/// Address kinds of ABI 1.2: what the host accepts as from/to, and how logs show it.
@Suite struct AddressTests {
    @Test func acceptsE164AndSchemeIds() {
        #expect(Address.kind("+15551234567") == .e164)
        #expect(Address.kind("+44") == .e164)
        #expect(Address.kind("whatsapp:+15551234567") == .scoped(scheme: "whatsapp"))
        #expect(Address.kind("telegram:123456") == .scoped(scheme: "telegram"))
        #expect(Address.kind("web:visitor-42") == .scoped(scheme: "web"))
        #expect(Address.kind("x.y+z-1:é") == .scoped(scheme: "x.y+z-1"))
    }

    @Test func refusesEverythingElse() {
        for bad in ["", "15551234567", "+0555", "+1", "+1234567890123456", "+1555 123", "Telegram:1", "1abc:x", ":x", "web:",
                    "web:has space", "web:tab\there", String(repeating: "a", count: 33) + ":x", "web:" + String(repeating: "a", count: 257)] {
            #expect(Address.kind(bad) == nil, "\(bad)")
        }
        #expect(Address.problem(field: "from", "+15551234567") == nil)
        #expect(Address.problem(field: "to", "") == "to: required")
        let p = Address.problem(field: "from", "4449876543")
        #expect(p?.hasPrefix("from: not an address") == true)
        #expect(p?.contains("4449876543") == false)   // never echoes the value
    }

    @Test func redactsByKind() {
        #expect(Address.redact("+15551234567") == "+*******4567")
        #expect(Address.redact("whatsapp:+15551234567") == "whatsapp:+*******4567")
        #expect(Address.redact("telegram:123456") == "telegram:******")
        #expect(Address.redact("web:visitor-8f3a") == "web:********8f3a")
        #expect(Address.redact("garbage value") == "*************")
    }
}
