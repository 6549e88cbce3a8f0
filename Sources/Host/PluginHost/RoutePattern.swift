import Foundation

/// A route path as a plugin registered it: an exact path ("/twilio/sms") or, from ABI 1.2,
/// a pattern whose whole segments may be parameters ("/hooks/{tenant}/sms").
///
/// Immutable; any thread.
struct RoutePattern: Sendable, Equatable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case param(String)
    }

    let text: String
    let segments: [Segment]

    var isExact: Bool { !segments.contains { if case .param = $0 { true } else { false } } }

    /// Parses `path`; throws a message for the plugin's `err` if it is not a valid route path.
    init(_ path: String) throws {
        guard path.hasPrefix("/") else { throw RoutePatternError("route path must start with '/': '\(path)'") }
        text = path
        var segs: [Segment] = []
        var names: Set<String> = []
        for raw in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let s = String(raw)
            if s.hasPrefix("{") && s.hasSuffix("}") && s.count >= 3 {
                let name = String(s.dropFirst().dropLast())
                guard Self.isParamName(name) else { throw RoutePatternError("route parameter '{\(name)}' in '\(path)': names are [a-z_][a-z0-9_]*") }
                guard names.insert(name).inserted else { throw RoutePatternError("route parameter '{\(name)}' appears twice in '\(path)'") }
                segs.append(.param(name))
            } else {
                guard !s.contains("{") && !s.contains("}") else {
                    throw RoutePatternError("route path '\(path)': a parameter must be a whole segment, like /hooks/{tenant}")
                }
                segs.append(.literal(s))
            }
        }
        segments = segs
    }

    static func isParamName(_ n: String) -> Bool {
        guard let f = n.unicodeScalars.first, f == "_" || ("a"..."z").contains(f) else { return false }
        return n.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }

    /// The parameters if `path` matches (each one non-empty segment, percent-decoded), else nil.
    func match(_ path: String) -> [(String, String)]? {
        guard path.hasPrefix("/") else { return nil }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var params: [(String, String)] = []
        for (seg, part) in zip(segments, parts) {
            switch seg {
            case .literal(let l): if l != part { return nil }
            case .param(let name):
                guard !part.isEmpty else { return nil }
                params.append((name, String(part).removingPercentEncoding ?? String(part)))
            }
        }
        return params
    }

    /// True if some path matches both patterns.
    func overlaps(_ other: RoutePattern) -> Bool {
        guard segments.count == other.segments.count else { return false }
        return zip(segments, other.segments).allSatisfy { a, b in
            if case .literal(let x) = a, case .literal(let y) = b { return x == y }
            return true
        }
    }
}

struct RoutePatternError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
