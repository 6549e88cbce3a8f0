import Foundation
import Synchronization

/// The accounts of `accounts:` with their current tier and status: the host's
/// `AccountDirectory`. Once the gateway attached its store (`attach`), a change made
/// through `update` (Stripe webhooks) is written to the store's `account_state` first and
/// survives restarts; stored states override plugins.yaml when the gateway starts.
/// Admission reads the stored state in its own transaction, so other gateway processes
/// sharing PostgreSQL apply a change at once too.
///
/// Threading: every method may be called from any thread, concurrently; one mutex
/// guards the table, so a change is visible to every reader once `update` returns. A
/// reload replaces accounts and tiers in one step (`replace`).
public final class ConfiguredAccounts: AccountDirectory, Sendable {
    private let tiersBox: Mutex<[String: TierConfig]>
    public var tiers: [String: TierConfig] { tiersBox.withLock { $0 } }
    private let state: Mutex<[String: AccountEntry]>
    private let persistence = Mutex<(any UsageStore)?>(nil)
    /// customer id → account id.
    private let customers: Mutex<[String: String]>
    private var byCustomer: [String: String] { customers.withLock { $0 } }

    public init(accounts: [AccountEntry], tiers: [String: TierConfig]) {
        tiersBox = Mutex(tiers)
        let (table, byCustomer) = Self.tables(accounts)
        state = Mutex(table)
        customers = Mutex(byCustomer)
    }

    private static func tables(_ accounts: [AccountEntry]) -> ([String: AccountEntry], [String: String]) {
        var table: [String: AccountEntry] = [:]
        var customers: [String: String] = [:]
        for a in accounts {
            table[a.id] = a
            if let c = a.stripeCustomerId, !c.isEmpty { customers[c] = a.id }
        }
        return (table, customers)
    }

    /// A reload's new `accounts:` and `tiers:`; stored states (Stripe's changes) still
    /// override the file, as at start-up. Throws if the stored states cannot be read
    /// (nothing changes then).
    public func replace(accounts: [AccountEntry], tiers: [String: TierConfig]) throws {
        var (table, byCustomer) = Self.tables(accounts)
        if let store = persistence.withLock({ $0 }) {
            for (id, s) in try store.accountStates() {
                guard var a = table[id] else { continue }
                if let tier = s.tier, tiers[tier] != nil { a.tier = tier }
                if let status = s.status { a.status = status }
                table[id] = a
            }
        }
        tiersBox.withLock { $0 = tiers }
        customers.withLock { $0 = byCustomer }
        state.withLock { $0 = table }
    }

    public convenience init(config: GatewayConfig) {
        self.init(accounts: config.accounts, tiers: config.tiers)
    }

    /// The account with id `id`, as it is now.
    public func account(_ id: String) -> AccountEntry? { state.withLock { $0[id] } }

    /// The account billed to `customerId`, as it is now.
    public func account(customerId: String) -> AccountEntry? {
        guard let id = byCustomer[customerId] else { return nil }
        return account(id)
    }

    /// Every account, sorted by id.
    public var all: [AccountEntry] { state.withLock { $0.values.sorted { $0.id < $1.id } } }

    /// The tier an account is on now (its limits apply at once after an update).
    public func tier(ofAccount id: String) -> TierConfig? {
        guard let a = account(id) else { return nil }
        return tiers[a.tier]
    }

    /// Loads the stored states (they override plugins.yaml) and writes later changes to `store`.
    public func attach(_ store: any UsageStore) throws {
        let stored = try store.accountStates()
        state.withLock { t in
            for (id, s) in stored {
                guard var a = t[id] else { continue }
                if let tier = s.tier, tiers[tier] != nil { a.tier = tier }
                if let status = s.status { a.status = status }
                t[id] = a
            }
        }
        persistence.withLock { $0 = store }
    }

    public func update(customerId: String, tier: String?, status: AccountStatus?) -> AccountUpdateResult {
        guard !customerId.isEmpty else { return .invalid("empty customer id") }
        if let tier, tiers[tier] == nil { return .invalid("unknown tier '\(tier)' (known: \(tiers.keys.sorted().joined(separator: ", ")))") }
        guard let id = byCustomer[customerId] else { return .notFound }
        // Durable first: if the store cannot take it, nothing changes and the provider retries.
        if let store = persistence.withLock({ $0 }) {
            do { try store.saveAccountState(accountId: id, tier: tier, status: status, nowMs: nowMillis()) } catch {
                return .failed("cannot store the account change: \(error)")
            }
        }
        return state.withLock { t in
            guard var a = t[id] else { return .notFound }
            if let tier { a.tier = tier }
            if let status { a.status = status }
            t[id] = a
            return .updated
        }
    }
}
