import Foundation
import Synchronization

/// A metric exposed in Prometheus text format on GET /metrics.
/// Recording is lock-free (atomics); thread-safe.
public final class Metric: Sendable {
    public enum Kind: Int32, Sendable { case counter = 0, gauge = 1, histogram = 2 }
    public let kind: Kind
    public let name: String
    public let help: String
    public let labels: [(String, String)]
    /// Counter/gauge value, or histogram sum, as Double bits.
    private let value = Atomic<UInt64>(0)
    private let count = Atomic<UInt64>(0)
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    private let bucketCounts: [AtomicCell]

    init(kind: Kind, name: String, help: String, labels: [(String, String)]) {
        self.kind = kind; self.name = name; self.help = help; self.labels = labels
        bucketCounts = kind == .histogram ? Metric.buckets.map { _ in AtomicCell() } : []
    }

    public func record(_ v: Double) {
        switch kind {
        case .counter: if v >= 0 { add(v) }
        case .gauge: value.store(v.bitPattern, ordering: .relaxed)
        case .histogram:
            add(v)
            count.add(1, ordering: .relaxed)
            for (i, b) in Metric.buckets.enumerated() where v <= b { bucketCounts[i].value.add(1, ordering: .relaxed) }
        }
    }

    public func increment() { record(1) }

    private func add(_ v: Double) {
        var old = value.load(ordering: .relaxed)
        while true {
            let new = (Double(bitPattern: old) + v).bitPattern
            let (done, current) = value.compareExchange(expected: old, desired: new, ordering: .relaxed)
            if done { return }
            old = current
        }
    }

    public var current: Double { Double(bitPattern: value.load(ordering: .relaxed)) }
    public var observations: UInt64 { count.load(ordering: .relaxed) }

    func render(into out: inout String) {
        let lbl = Self.labelText(labels)
        switch kind {
        case .counter, .gauge: out += "\(name)\(lbl) \(Self.num(current))\n"
        case .histogram:
            for (i, b) in Metric.buckets.enumerated() {
                out += "\(name)_bucket\(Self.labelText(labels + [("le", Self.num(b))])) \(bucketCounts[i].value.load(ordering: .relaxed))\n"
            }
            out += "\(name)_bucket\(Self.labelText(labels + [("le", "+Inf")])) \(observations)\n"
            out += "\(name)_sum\(lbl) \(Self.num(current))\n\(name)_count\(lbl) \(observations)\n"
        }
    }

    static func num(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d) }
    static func labelText(_ l: [(String, String)]) -> String {
        guard !l.isEmpty else { return "" }
        return "{" + l.map { "\($0.0)=\"\($0.1.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n"))\"" }.joined(separator: ",") + "}"
    }
}

/// All metrics of the process. Thread-safe.
public final class MetricsRegistry: Sendable {
    private let lock = Mutex<[String: Metric]>([:])
    private let collectors = Mutex<[@Sendable () -> Void]>([])

    /// `collect` runs at the start of every `render` (on the rendering thread) to bring
    /// gauges that mirror state up to date. It must be short and must not block.
    public func addCollector(_ collect: @escaping @Sendable () -> Void) { collectors.withLock { $0.append(collect) } }

    public init() {}

    static func validName(_ n: String) -> Bool {
        guard let f = n.unicodeScalars.first, f == "_" || f == ":" || f.properties.isAlphabetic && f.isASCII else { return false }
        return n.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == ":") }
    }

    /// Registers or finds a metric; nil for an invalid name or a kind clash.
    public func metric(_ kind: Metric.Kind, _ name: String, help: String = "", labels: [(String, String)] = []) -> Metric? {
        guard Self.validName(name), labels.allSatisfy({ Self.validName($0.0) }) else { return nil }
        let key = name + Metric.labelText(labels)
        return lock.withLock { map in
            if let m = map[key] { return m.kind == kind ? m : nil }
            if let other = map.values.first(where: { $0.name == name }), other.kind != kind { return nil }
            let m = Metric(kind: kind, name: name, help: help, labels: labels)
            map[key] = m
            return m
        }
    }

    /// Removes a metric (an info metric whose label value changed); nothing if unknown.
    public func remove(_ name: String, labels: [(String, String)] = []) {
        let key = name + Metric.labelText(labels)
        _ = lock.withLock { $0.removeValue(forKey: key) }
    }

    public func counter(_ name: String, help: String = "", labels: [(String, String)] = []) -> Metric {
        metric(.counter, name, help: help, labels: labels)!
    }
    public func gauge(_ name: String, help: String = "", labels: [(String, String)] = []) -> Metric {
        metric(.gauge, name, help: help, labels: labels)!
    }
    public func histogram(_ name: String, help: String = "", labels: [(String, String)] = []) -> Metric {
        metric(.histogram, name, help: help, labels: labels)!
    }

    /// Prometheus text exposition format 0.0.4.
    public func render() -> String {
        for collect in collectors.withLock({ $0 }) { collect() }
        let all = lock.withLock { Array($0.values) }.sorted { ($0.name, Metric.labelText($0.labels)) < ($1.name, Metric.labelText($1.labels)) }
        var out = ""
        var last = ""
        for m in all {
            if m.name != last {
                if !m.help.isEmpty { out += "# HELP \(m.name) \(m.help.replacingOccurrences(of: "\n", with: " "))\n" }
                out += "# TYPE \(m.name) \(["counter", "gauge", "histogram"][Int(m.kind.rawValue)])\n"
                last = m.name
            }
            m.render(into: &out)
        }
        return out
    }
}

/// An atomic counter in a class, so that several can live in an array.
final class AtomicCell: Sendable {
    let value = Atomic<UInt64>(0)
}
