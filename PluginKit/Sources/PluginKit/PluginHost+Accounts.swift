import PluginAPI

/// Account changes for billing plugins: `ds_host.account_update`, added in ABI 1.1.
extension PluginHost {
    /// Whether the host offers `account_update` (ABI >= 1.1): its `ds_host` table is
    /// large enough to contain the field (the DS_HAS_FIELD rule).
    public var canUpdateAccounts: Bool {
        guard let offset = MemoryLayout<ds_host>.offset(of: \ds_host.account_update) else { return false }
        return Int(table.pointee.struct_size) >= offset + MemoryLayout<UnsafeRawPointer?>.size
            && table.pointee.account_update != nil
    }

    /// An account standing, as `account_update` takes it.
    public enum AccountStatus: String, Sendable {
        case active
        case pastDue = "past_due"
        case canceled
    }

    /// Changes the tier and/or status (nil = unchanged) of the account billed to
    /// `customerId` (e.g. a Stripe `cus_...`). The host applies it at once.
    ///
    /// Returns true when the account was changed, false when the host knows no
    /// account with that customer id. Throws `PluginError` with DS_ERR_UNSUPPORTED on
    /// a host older than ABI 1.1 or one that keeps no accounts, DS_ERR_INVALID for an
    /// unknown tier. Any thread, concurrently.
    @discardableResult
    public func updateAccount(customerId: String, tier: String?, status: AccountStatus?) throws -> Bool {
        guard canUpdateAccounts, let update = table.pointee.account_update else {
            throw PluginError(status: DS_ERR_UNSUPPORTED, "the host (ABI \(abiVersion.major).\(abiVersion.minor)) offers no account_update; it needs ABI 1.1")
        }
        let arena = CArena()
        defer { withExtendedLifetime(arena) {} }
        let status = update(handle, arena.str(customerId), arena.str(tier ?? ""), arena.str(status?.rawValue ?? ""))
        switch status {
        case DS_OK: return true
        case DS_ERR_NOT_FOUND: return false
        case DS_ERR_UNSUPPORTED: throw PluginError(status: status, "the host keeps no accounts")
        case DS_ERR_INVALID: throw PluginError(status: status, "the host refused the change (unknown tier '\(tier ?? "")' or status)")
        default: throw PluginError(status: status, "account_update failed [status \(status)]")
        }
    }
}
