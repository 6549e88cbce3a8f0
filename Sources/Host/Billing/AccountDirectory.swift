import Foundation

/// What the host lets billing plugins change about accounts (ABI 1.1,
/// `ds_host.account_update`): an account's tier and status, found by the billing
/// provider's customer id.
///
/// Threading: implementations are called from any host or plugin thread,
/// concurrently; a change must be visible to every reader once `update` returns.
public protocol AccountDirectory: AnyObject, Sendable {
    /// Applies `tier` and/or `status` (nil = unchanged) to the account whose
    /// `stripe_customer_id` (billing customer id) is `customerId`.
    /// Returns `.notFound` when no account has that customer id, `.invalid` when the tier
    /// or status is unknown (then nothing changed).
    func update(customerId: String, tier: String?, status: AccountStatus?) -> AccountUpdateResult
}

/// The outcome of `AccountDirectory.update`.
public enum AccountUpdateResult: Sendable, Equatable {
    case updated
    case notFound
    case invalid(String)
    /// Could not be recorded (the store is unavailable); nothing changed, try again.
    case failed(String)
}
