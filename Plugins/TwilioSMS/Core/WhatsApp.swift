import Foundation
import Synchronization

/// WhatsApp through Twilio (`whatsapp: true`): addresses, approved templates and the
/// 24-hour customer-service window.
///
/// WhatsApp lets a business answer free-form only within 24 hours of the user's last
/// message (the customer-service window); outside it only an approved template
/// (Twilio Content API: `ContentSid` + `ContentVariables`) may be sent.
public enum WhatsApp {
    /// `whatsapp:+E164` of a number given as `whatsapp:+…`, `+…` or any form
    /// `PhoneNumber.e164` reads; nil if it is not a phone number.
    public static func address(_ s: String) -> String? {
        var rest = Substring(s.trimmingCharacters(in: .whitespaces))
        if rest.lowercased().hasPrefix("whatsapp:") { rest = rest.dropFirst("whatsapp:".count) }
        return PhoneNumber.e164(String(rest)).map { "whatsapp:" + $0 }
    }

    /// An approved message template: the Content SID (HX…) and its variables.
    public struct Template: Sendable, Equatable, Decodable {
        public var contentSid: String
        /// `{"1": "Ada", ...}`: sent as the `ContentVariables` JSON string.
        public var contentVariables: [String: String]
        enum CodingKeys: String, CodingKey { case contentSid = "content_sid", contentVariables = "content_variables" }
        public init(contentSid: String, contentVariables: [String: String] = [:]) {
            self.contentSid = contentSid; self.contentVariables = contentVariables
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            contentSid = try c.decode(String.self, forKey: .contentSid)
            contentVariables = try c.decodeIfPresent([String: String].self, forKey: .contentVariables) ?? [:]
        }
        /// `ContentVariables` as Twilio takes it: a JSON object in a string.
        public var variablesJSON: String {
            let d = (try? JSONSerialization.data(withJSONObject: contentVariables, options: [.sortedKeys])) ?? Data("{}".utf8)
            return String(decoding: d, as: UTF8.self)
        }
        /// nil, or why the template is unusable.
        public var problem: String? {
            contentSid.hasPrefix("HX") && contentSid.count == 34 ? nil : "content_sid must be HX followed by 32 hex digits"
        }
        /// Reads `{"content_sid": "HX…", "content_variables": {"1": "…"}}` (a parsed JSON value).
        public static func parse(_ v: Any?) -> Template? {
            guard let o = v as? [String: Any], let sid = o["content_sid"] as? String else { return nil }
            var vars: [String: String] = [:]
            for (k, x) in (o["content_variables"] as? [String: Any]) ?? [:] { vars[k] = x as? String ?? "\(x)" }
            return Template(contentSid: sid, contentVariables: vars)
        }
    }
}

/// The customer-service window of each user: when they last wrote. Kept in memory and,
/// with a file, written there (atomically, by rename) after each inbound message so it
/// survives a restart. Threading: thread-safe.
public final class ServiceWindow: Sendable {
    public let hours: Double
    let file: String?
    private let last: Mutex<[String: Int64]>

    public init(hours: Double = 24, file: String? = nil) {
        self.hours = hours
        self.file = file
        var loaded: [String: Int64] = [:]
        if let file, let d = FileManager.default.contents(atPath: file),
           let o = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] {
            for (k, v) in o { if let n = v as? NSNumber { loaded[k] = n.int64Value } }
        }
        last = Mutex(loaded)
    }

    /// The user wrote now.
    public func inbound(_ address: String, nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) {
        let horizon = nowMs - Int64(hours * 3_600_000)
        let snapshot: [String: Int64]? = last.withLock { m in
            m[address] = nowMs
            if m.count > 10_000 { m = m.filter { $0.value >= horizon } }
            return file == nil ? nil : m
        }
        if let file, let snapshot, let d = try? JSONSerialization.data(withJSONObject: snapshot) {
            let tmp = file + ".tmp.\(UInt32.random(in: 0...UInt32.max))"
            if FileManager.default.createFile(atPath: tmp, contents: d, attributes: [.posixPermissions: 0o600]) {
                if rename(tmp, file) != 0 { unlink(tmp) }
            }
        }
    }

    /// Whether a free-form message may go to `address` now.
    public func isOpen(_ address: String, nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> Bool {
        guard let t = last.withLock({ $0[address] }) else { return false }
        return nowMs - t < Int64(hours * 3_600_000)
    }
}
