import Synchronization

/// Stripe does not deliver events in order (a retried `customer.subscription.created`
/// can arrive after the `updated` that followed it). This keeps, per customer, the
/// `created` time of the last event applied to the tier and to the status, and skips an
/// event older than that, so a late event never undoes a newer change.
///
/// Bounded: only customers whose account was found are remembered (at most one entry
/// per configured account). Threading: any thread; `apply` runs the check, the change
/// and the bookkeeping under one lock, so concurrent events of one customer are ordered.
final class EventOrder: Sendable {
    enum Field: Hashable, Sendable { case tier, status }
    private struct Key: Hashable { let customer: String; let field: Field }
    private let latest = Mutex<[Key: Int64]>([:])

    enum Outcome: Equatable { case applied, stale(Int64), notFound }

    /// Runs `change` unless an event newer than `created` already changed `fields` of
    /// `customer`. `change` returns whether the account exists; it must not call back here.
    func apply(customer: String, fields: [Field], created: Int64, _ change: () throws -> Bool) rethrows -> Outcome {
        try latest.withLock { m in
            for f in fields {
                if let seen = m[Key(customer: customer, field: f)], seen > created { return .stale(seen) }
            }
            guard try change() else { return .notFound }
            for f in fields { m[Key(customer: customer, field: f)] = created }
            return .applied
        }
    }
}
